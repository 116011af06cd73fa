"""``python -m benchmarks report RUN... --out DIR``: tables (Markdown, CSV, LaTeX) and curves (PNG, SVG).

From Python::

    from benchmarks.report import collect_runs, write_report, render_markdown
    runs = collect_runs(['work_dirs/e2e', 'work_dirs/incubation'], ms_tests=['work_dirs/ade_ms'])
    print(render_markdown(runs))           # every table as Markdown
    files = write_report(runs, 'report/')  # {'tables', 'files', 'plots', 'report', 'markdown_text'}
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from runtime.record import RecordError

from .costs import COSTS, DEFAULT_RATIO_COST
from .plots import write_plots
from .reference import load_reference
from .render import Cell, Table
from .runs import Run, collect_runs
from .tables import build_tables

__all__ = ['collect_runs', 'write_report', 'render_markdown', 'runs_summary', 'add_arguments', 'run', 'main']


def runs_summary(runs: Sequence[Run]) -> Table:
    """Which runs were read, how they were paired, and their status."""
    table = Table('runs', 'Runs read', ['run', 'kind', 'task', 'model', 'variant', 'method', 'status', 'path'])
    for run in runs:
        table.add([Cell(run.name), Cell(run.kind), Cell(run.task), Cell(run.model), Cell(run.variant),
                   Cell(run.method_label), Cell(run.status + (f': {run.status_detail}' if run.status_detail else '')),
                   Cell(run.path)])
    return table


def render_markdown(runs: Sequence[Run], tables: Optional[List[Table]] = None,
                    reference: Optional[Dict[str, Any]] = None, ratio_cost: str = DEFAULT_RATIO_COST) -> str:
    """Every table of the report as one Markdown string (what ``report`` prints)."""
    tables = tables if tables is not None else build_tables(runs, reference, ratio_cost)
    return '\n'.join(t.to_markdown() for t in tables)


def write_report(runs: Sequence[Run], out_dir: os.PathLike, reference: Optional[Dict[str, Any]] = None,
                 plots: bool = True, ratio_cost: str = DEFAULT_RATIO_COST) -> Dict[str, Any]:
    """Write ``<table>.md/.csv/.tex`` for every table, the plots, ``report.md`` and ``runs.json``.

    ``ratio_cost``: the cost (one of :data:`benchmarks.costs.COSTS`) that the depth tables'
    E2E-vs-incubation ratio and the seed-band efficiency curves use (training FLOPs by default).

    Returns ``{'tables': {name: Table}, 'files': [Path, ...], 'plots': [Path, ...], 'report': Path,
    'markdown_text': str}`` (``markdown_text``: every table as Markdown, what ``report`` prints).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reference = reference or load_reference()
    tables = build_tables(runs, reference, ratio_cost)
    files: List[Path] = []
    for table in tables:
        for ext, text in (('md', table.to_markdown()), ('csv', table.to_csv()), ('tex', table.to_latex())):
            path = out / f'{table.name}.{ext}'
            path.write_text(text)
            files.append(path)
    plot_paths = write_plots(runs, out, ratio_cost) if plots else []
    summary = runs_summary(runs)
    parts = ['# Deep Incubation: reproduction report', '', summary.to_markdown(), render_markdown(runs, tables)]
    for path in plot_paths:
        if path.suffix == '.png':
            parts.append(f'![{path.stem}]({path.name})\n')
    report = out / 'report.md'
    report.write_text('\n'.join(parts))
    runs_json = out / 'runs.json'
    runs_json.write_text(json.dumps([r.to_dict() for r in runs], indent=1, default=str))
    files += [report, runs_json]
    return dict(tables={t.name: t for t in tables}, files=files + plot_paths, plots=plot_paths, report=report,
                markdown_text=render_markdown(runs, tables))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('runs', nargs='+', metavar='RUN',
                        help='work dirs: an E2E run, a pipeline run (manifest.json), a test-only dir, '
                             'or a folder of runs')
    parser.add_argument('--out', required=True, help='output folder for tables and plots')
    parser.add_argument('--ms-test', action='append', default=[], metavar='DIR',
                        help='a multi-scale (+flip) test dir whose metrics fill <metric>-ms (e.g. mIoU-ms); '
                             'repeatable. Test dirs made with tools/test.py --tta are recognised without it')
    parser.add_argument('--no-plots', action='store_true', help='tables only')
    parser.add_argument('--ratio-cost', choices=COSTS, default=DEFAULT_RATIO_COST,
                        help='the cost behind the depth tables\' E2E-vs-incubation ratio and the seed-band curves')
    parser.add_argument('--quiet', action='store_true', help='do not print the tables')


def run(args: argparse.Namespace) -> int:
    try:
        runs = collect_runs(args.runs, ms_tests=args.ms_test)
    except RecordError as e:  # a run dir that cannot be read, or a damaged or unknown record in it
        raise SystemExit(f'benchmarks report: {e}') from None
    result = write_report(runs, args.out, plots=not args.no_plots, ratio_cost=args.ratio_cost)
    if not args.quiet:
        print(result['markdown_text'])
    print(f'wrote {len(result["files"])} files to {args.out} (report: {result["report"]})')
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks report', description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
