"""Benchmarks: incubation-vs-E2E tables and curves from work dirs, and training-step speed.

Command line: ``python -m benchmarks report RUN... --out DIR``, ``python -m benchmarks speed``
(and ``python -m benchmarks reproduce`` when :mod:`benchmarks.reproduce` exists).

Python API (imported lazily, so ``import benchmarks`` pulls in neither torch nor matplotlib):

Reading runs (:mod:`benchmarks.runs`; work dirs: :mod:`benchmarks.workdir`; the pipeline's
manifest and the other records through :mod:`runtime.record`)
    ``collect_runs(paths, ms_tests=()) -> list[Run]``: every run under ``paths`` (E2E / any
        training work dir, pipeline dir with ``manifest.json``, test-only dir, or a folder of
        those); test dirs are folded into the run they evaluate (TTA tests as ``<metric>-ms``).
    ``read_run(path) -> Run``; ``read_work_dir(path) -> WorkDir`` (sessions merged in order).
    ``Run``: ``.task .model .method .variant .schedule .phase .key .method_label
        .status ('done' | 'partial' | 'test only')
        .status_detail .metrics (percent) .cost {'by_phase', 'total', 'wall_parallel', 'images',
        'device_type'} .curve(metric=None) -> [(cumulative device-hours, value)]
        .own_curve(metric=None) (fine-tune cost only) .phases .to_dict()``; a downstream run's
        ``.upstream`` (the finished run ``backbone.json`` names, or None; ``.upstream_note`` says
        why) ``.upstream_label .backbone_sha256 .upstream_costs() .total_costs() .pair_key``.

Report (:mod:`benchmarks.report`, :mod:`benchmarks.tables`, :mod:`benchmarks.plots`; the table
renderer :mod:`benchmarks.render`; speed-up analysis :mod:`benchmarks.analysis`)
    ``write_report(runs, out_dir, reference=None, plots=True) -> dict``: writes
        ``<table>.md/.csv/.tex``, ``report.md``, ``runs.json`` and the PNG/SVG plots; returns
        ``{'tables': {name: Table}, 'files': [...], 'plots': [...], 'report': Path,
        'markdown_text': str}``.
    ``render_markdown(runs, tables=None, reference=None) -> str``: every table as Markdown.
    ``build_tables(runs, reference=None) -> list[Table]``; ``Table.to_markdown() / to_csv() /
        to_latex()``; ``Table.cell(row, column) -> Cell`` (``.value``, ``.text()``).
    ``speedup(e2e_curve, inc_curve) -> SpeedUp`` (``.target .e2e_cost .reached_at .factor
        .text()``); ``reach_cost(curve, target) -> float | None``.
    ``write_plots(runs, out_dir) -> list[Path]``.

Reference numbers (:mod:`benchmarks.reference`, data in ``benchmarks/reference.json``)
    ``load_reference()``, ``find_reference(task, model, variant, schedule=None) -> dict | None``,
    ``reference_for(run) -> dict | None``,
    ``reference_value(entry, method, metric)``, ``reference_cost(entry, method)``.

Result records (:mod:`benchmarks.records`; one versioned JSON file per study, under
``docs/results/`` for the runs the docs quote)
    ``write_record(path, study, command, runs, seeds=(), extra=None) -> dict``: command line, git
        commit and dirty flag, date, machine, library versions, seeds, and per run its last and
        best (labelled) metrics, three costs and final checkpoints' sha256; ``read_record(path)
        -> dict``; ``record_runs(record) -> list[Run]`` (the report's tables from a record alone).

Speed (:mod:`benchmarks.speed`)
    ``measure(arch='vit_base_patch16_224', batch=32, device=None, steps=10, warmup=1, amp=None)
        -> dict`` and ``format_table(result) -> str`` (Markdown).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    'collect_runs': 'runs', 'read_run': 'runs', 'read_work_dir': 'workdir', 'Run': 'runs', 'RunError': 'workdir',
    'write_report': 'report', 'render_markdown': 'report',
    'build_tables': 'tables', 'Table': 'render', 'Cell': 'render',
    'speedup': 'analysis', 'reach_cost': 'analysis', 'SpeedUp': 'analysis',
    'write_plots': 'plots',
    'load_reference': 'reference', 'find_reference': 'reference', 'reference_for': 'reference',
    'measure': 'speed', 'format_table': 'speed',
    'write_record': 'records', 'read_record': 'records', 'record_runs': 'records',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f'.{_EXPORTS[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
