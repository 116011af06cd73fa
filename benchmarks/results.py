"""``python -m benchmarks results --write | --check``: the docs' result tables, generated from records.

Every table or figure that quotes a result, in ``README.md`` (or another Markdown file at the
root) or in any Markdown file under ``docs/`` (the study pages under ``docs/studies/`` included),
sits between two markers and is produced by code from the committed result records
(:mod:`benchmarks.records`) it names::

    <!-- generated: results-table from docs/results/demo.json -->
    ... (written by --write; do not edit by hand)
    <!-- end generated -->

``NAME`` is one of :data:`GENERATORS`; ``from`` takes one or more record paths (relative to the
repository root, separated by spaces); markers inside fenced code blocks are examples, left
alone. ``--write`` regenerates every block (and the figures the blocks show, under
``docs/figures/``); ``--check`` exits 1 naming each block whose committed text
differs from what its records generate, and each figure that is missing or was drawn from other
records (a figure's PNG carries the sha256 of its records in its ``Description`` text chunk;
``--check`` reads it and draws nothing). Both name the figures under ``docs/figures/`` that no
block shows (``--write`` deletes them) and every file under ``docs/results/`` that is not a
record: a copy of a report that nothing checks (commit the record, quote it through a block).
A test runs ``--check`` on the repository.

Generators (each gets the records and the document's folder, returns Markdown):

* ``results-table``: E2E vs incubation per model from a study's runs: last-epoch top-1 and the
  best epoch's (labelled), the three costs and the final checkpoints' sha256 prefixes; with
  several seeds mean ± std and the paired difference; a note names the machine, commit and
  command, and says whether the seeds are enough for a verdict;
* ``depth-table``: a depth study's table (:func:`benchmarks.tables.depth_table`);
* ``depth-figure``, ``efficiency-figure``: its accuracy-vs-depth and seed-band accuracy-vs-cost
  plots (:mod:`benchmarks.plots`);
* ``repeatability``: what repeated bit for bit (:mod:`benchmarks.repeatability`'s record);
* ``speed-table``, ``loop-table``: a ``benchmarks speed`` record;
* ``provenance``: one line per record: machine, commit, date, command.
* ``data-table``, ``data-figure``: a data-efficiency study's table and plot (top-1 against the
  share of the training data); ``phase-table``: what each pipeline phase reached;
* ``suite-table``, ``suite-runs``, ``suite-figure``: a downstream suite's summary (with a verdict
  per metric and whether the random-init control is beaten), its every-run table, and its
  score-vs-total-cost plot, from one suite record or from several of one preset that ran
  different seeds (each record's provenance is printed); ``suite-curves``: its score along the
  downstream schedule per backbone (seed bands); ``suite-gate``: its probe gate
  (``suite-gate-line``: its verdict in one sentence);
* ``probe-table``: ``benchmarks probe`` records (one per scene style) side by side: do the
  upstream features carry the item classes into the scenes, against random init;
* ``headline``: E2E against incubation across studies, one row per cell (training records: top-1
  per model and share of the data; a suite's records: its first downstream metric), with the
  paired Δ and a verdict: the README's table;
* ``phase-runs``: ``phase-table`` with one row per pipeline run (seed).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import os.path as osp
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from runtime.record import RecordError

from .analysis import MeanStd, beyond_two_se, mean_std, paired_deltas, seed_groups, standard_error
from .costs import COST_LABELS, COSTS
from .records import ROOT, read_record, record_runs
from .render import Cell, Table
from .runs import norm_name
from .tasks import get_task, primary_metric

BLOCK = re.compile(r'<!-- generated: (?P<name>[\w.-]+) from (?P<sources>[^>]*?) -->\n(?P<body>.*?)<!-- end generated -->',
                   re.DOTALL)
OPEN = re.compile(r'<!-- generated:')
FIGURES = 'docs/figures'
RESULTS = 'docs/results'
DIGEST_KEY = 'Description'


class ResultsError(RecordError):
    """A marker or a record the generator cannot use (the message names the file and the block)."""


@dataclass
class Generated:
    """A block's Markdown, and the figures it shows (repository-relative path -> drawer into a folder)."""

    text: str
    figures: Dict[str, Callable[[Path], Path]] = field(default_factory=dict)


@dataclass
class Context:
    """What a generator gets: the records (in the marker's order), their paths, the document."""

    records: List[Dict[str, Any]]
    sources: List[str]
    doc: Path
    root: Path

    @property
    def digest(self) -> str:
        """sha256 (16 hex) of the records' bytes: what a figure drawn from them carries."""
        h = hashlib.sha256()
        for source in self.sources:
            h.update((self.root / source).read_bytes())
        return h.hexdigest()[:16]

    def link(self, repo_path: str) -> str:
        """``repo_path`` relative to the document's folder (README: ``docs/figures/x.png``)."""
        return osp.relpath(self.root / repo_path, self.doc.parent).replace(os.sep, '/')

    def figure_path(self, kind: str) -> str:
        """``docs/figures/<records>_<kind>.png``: the records' names, each folder's once
        (``suite-fashion-canvas-seed0+seed1+seed2``), so that two studies' figures never collide."""
        folders: Dict[str, List[str]] = {}
        for source in self.sources:
            path = Path(source)
            folder = '' if path.parent.name in ('', 'results') else path.parent.name
            folders.setdefault(folder, [])
            if path.stem not in folders[folder]:
                folders[folder].append(path.stem)
        stem = '+'.join((f'{folder}-' if folder else '') + '+'.join(stems) for folder, stems in folders.items())
        return f'{FIGURES}/{stem}_{kind}.png'


# --- provenance and verdicts ----------------------------------------------------------------


def provenance(record: Mapping[str, Any]) -> str:
    """``2-core AMD EPYC (flags 6a93d771…), 23.5 GiB, no GPU[, load average L]; torch …, timm …, mmengine …;
    commit 17c0bf1 (clean), 2026-11-24``."""
    machine = record.get('machine') or {}
    cpu = machine.get('cpu') or {}
    gpus = machine.get('gpus') or []
    versions = record.get('versions') or {}
    git = record.get('git') or {}
    commit = (git.get('commit') or 'unknown')[:7]
    state = {True: 'with uncommitted changes', False: 'clean'}.get(git.get('dirty'), 'state unknown')
    load = machine.get('load_average')
    hw = (f'{cpu.get("cores", "?")}-core {cpu.get("model") or "CPU"} (flags {cpu.get("flags_sha256") or "?"}), '
          f'{machine.get("memory_gib", "?")} GiB, {", ".join(gpus) if gpus else "no GPU"}'
          + (f', load average {load[1]:.1f} over the last 5 minutes' if load else ''))
    libs = ', '.join(f'{k} {versions[k]}' for k in ('torch', 'timm', 'mmengine') if versions.get(k))
    date = str(record.get('date') or '')[:10]
    return f'{hw}; {libs}; commit {commit} ({state}), {date}'


def command_text(record: Mapping[str, Any]) -> str:
    return shlex.join(record.get('command') or [])


def verdict(delta: Optional[MeanStd], metric_label: str, val_images: Optional[int] = None) -> str:
    """Whether the paired differences are a verdict: with one seed never (no spread); with more,
    only when the mean is more than two standard errors from 0."""
    if delta is None:
        return 'No paired runs: no verdict.'
    image = f' (one validation image is {100 / val_images:.2f} points)' if val_images else ''
    if delta.n < 2 or delta.std is None:
        return (f'One seed: incubation − E2E = {delta.mean:+.2f} {metric_label} points{image}, with no spread '
                'measured. That is no verdict; the repeatability record shows how far one seed moves.')
    se = standard_error(delta)
    if beyond_two_se(delta) == 0:
        return (f'{delta.n} seeds: incubation − E2E = {delta.mean:+.2f} ± {delta.std:.2f} (std){image}; the mean is '
                f'within two standard errors ({2 * se:.2f}) of 0: no winner at this number of seeds.')
    winner = 'incubation' if delta.mean > 0 else 'E2E'
    return (f'{delta.n} seeds: incubation − E2E = {delta.mean:+.2f} ± {delta.std:.2f} (std){image}; {winner} is '
            f'ahead by more than two standard errors ({2 * se:.2f}).')


# --- generators -----------------------------------------------------------------------------


def _joined_runs(ctx: Context, name: str) -> List[Any]:
    """The runs of every record of the marker; a run (same name) in two records is refused."""
    runs, seen = [], {}
    for source, rec in zip(ctx.sources, ctx.records):
        for run in record_runs(rec):
            if run.name in seen:
                raise ResultsError(f'{name}: run {run.name} is in {seen[run.name]} and in {source}')
            seen[run.name] = source
            runs.append(run)
    return runs


def _one(ctx: Context, name: str) -> Dict[str, Any]:
    if len(ctx.records) != 1:
        raise ResultsError(f'{name} takes one record, the marker names {len(ctx.records)}')
    return ctx.records[0]


def _hash_prefixes(runs: Sequence[Any], entries: Mapping[str, Mapping[str, Any]]) -> str:
    out = []
    for run in runs:
        files = entries.get(run.name, {}).get('checkpoints') or {}
        pth = sorted(f for f in files if f.endswith('.pth')) or sorted(files)
        out.append(files[pth[0]]['sha256'][:12] if pth else '–')
    return ' '.join(out)


def results_table(ctx: Context) -> Generated:
    """E2E vs incubation from one study record: per model and method a row (mean ± std over seeds),
    and the paired Δ; last-epoch values, the best epoch's labelled as best."""
    record = _one(ctx, 'results-table')
    runs = record_runs(record)
    if not runs:
        raise ResultsError('results-table: the record holds no runs of E2E or incubation')
    entries = {e['name']: e for e in record['runs'] if isinstance(e, Mapping) and 'name' in e}
    metric = primary_metric(runs[0].task)
    label = 'top-1' if metric == 'accuracy/top1' else metric
    kinds = {'train_device_hours': 'hours', 'e2e_device_hours': 'hours', 'train_flops': 'flops'}
    columns = ['model', 'method', 'seeds', f'{label}, last epoch', f'best {label} (epoch)'] + [
        COST_LABELS[c] for c in COSTS] + ['final checkpoint sha256']
    table = Table('results', record.get('study', ''), columns, align=['l', 'l', 'l'] + ['r'] * (len(columns) - 4) + ['l'])
    from .tables import by_model

    verdicts = []
    for e2e_groups, inc_groups in by_model(seed_groups(runs)):
        for group in e2e_groups + inc_groups:
            bests = [entries.get(r.name, {}).get('best') or {} for r in group.runs]
            best = mean_std([b.get('value') for b in bests])
            epochs = ', '.join(str(b['step']) for b in bests if b.get('step') is not None)
            best_text = Cell(best, 'meanstd:metric').text() + (f' ({epochs})' if epochs else '')
            table.add([Cell(group.first.model), Cell(group.first.method_label),
                       Cell(', '.join(str(s) for s in group.seeds)), Cell(group.metric(metric), 'meanstd:metric'),
                       Cell(best_text)] + [Cell(group.cost(c), f'meanstd:{kinds[c]}') for c in COSTS]
                      + [Cell(_hash_prefixes(group.runs, entries))])
        if e2e_groups and inc_groups:
            for inc in inc_groups:
                delta = paired_deltas(e2e_groups[0], inc, metric)
                seeds = sorted({r.seed for r in inc.runs} & {r.seed for r in e2e_groups[0].runs} - {None})
                table.add([Cell(inc.first.model), Cell('Δ (incubation − E2E)'), Cell(', '.join(map(str, seeds))),
                           Cell(delta, 'meanstd:delta')] + [Cell(None, 'na')] * (len(columns) - 4))
                verdicts.append(verdict(delta, label, (record.get('extra') or {}).get('val_images')))
    table.notes += [f'Verdict: {v}' for v in verdicts]
    table.notes += [
        f'Last-epoch values (mean ± sample std over seeds); "best" is the best evaluation\'s value, labelled with its '
        f'epoch ({"fine-tune epoch for the pipeline" if any(r.kind == "pipeline" for r in runs) else "epoch"}). '
        'Costs: training device-hours (CPU: core-hours of the training process), end-to-end device-hours (the '
        'whole processes), training FLOPs (deterministic).',
        f'Measured on {provenance(record)}: `{command_text(record)}`'
        + (f', {record["extra"]["wall_minutes"]:.1f} minutes of wall clock.' if (record.get('extra') or {}).get(
            'wall_minutes') is not None else '.')]
    return Generated(table.to_markdown(title=False))


def depth_table(ctx: Context) -> Generated:
    """A depth study's table (every seed group of the record's runs)."""
    from .tables import depth_studies
    from .tables import depth_table as build

    # several records join (depths run by different presets, e.g. fashion and fashion-d128); a run in two is refused
    studies = depth_studies(_joined_runs(ctx, 'depth-table'))
    if not studies:
        raise ResultsError('depth-table: the records hold no depth study (several depths or seeds of one model)')
    text = '\n'.join(build(groups).to_markdown(title=False) for _key, groups in studies)
    return Generated(text + _measured_on(ctx))


def _figure(ctx: Context, kind: str, draw: Callable[[List[Any], Path], List[Path]], caption: str) -> Generated:
    path = ctx.figure_path(kind)
    runs = _joined_runs(ctx, f'{kind}-figure')

    def drawer(folder: Path) -> Path:
        paths = [p for p in draw(runs, folder) if p.suffix == '.png']
        if len(paths) != 1:
            raise ResultsError(f'{kind}: expected one figure from the records, got {len(paths)}')
        return paths[0]

    text = f'![{caption}]({ctx.link(path)})\n'
    return Generated(text, {path: drawer})


def depth_figure(ctx: Context) -> Generated:
    from .plots import plot_depth_trend
    from .tables import depth_studies

    def draw(runs, folder):
        return [p for _k, groups in depth_studies(runs) for p in plot_depth_trend(groups, folder)]

    return _figure(ctx, 'depth', draw, 'top-1 against depth, both methods: mean and one std over seeds')


def efficiency_figure(ctx: Context) -> Generated:
    """The seed-band accuracy-vs-cost plot of the record's deepest model."""
    from .plots import plot_seed_efficiency
    from .tables import by_model, depth_studies

    def draw(runs, folder):
        studies = depth_studies(runs) or []
        if not studies:
            return []
        pairs = by_model(studies[0][1])
        e2e_groups, inc_groups = pairs[-1]
        return plot_seed_efficiency((e2e_groups or [None])[0], (inc_groups or [None])[0], folder)

    return _figure(ctx, 'efficiency', draw, 'top-1 against cumulative training FLOPs: mean and one std over seeds')


def _data_groups(ctx: Context, name: str):
    from .tables import data_studies

    # several records join (the equal-epoch and the equal-step shares, from two presets); a run in two is refused
    studies = [groups for _key, groups in data_studies(_joined_runs(ctx, name))]
    if not studies:
        raise ResultsError(f'{name}: the records hold no data study (one model on several shares of its data)')
    return studies


def data_table(ctx: Context) -> Generated:
    """A data-efficiency study's table: per share of the data E2E, incubation and the paired Δ."""
    from .tables import data_table as build

    text = '\n'.join(build(groups).to_markdown(title=False) for groups in _data_groups(ctx, 'data-table'))
    return Generated(text + _measured_on(ctx))


def data_figure(ctx: Context) -> Generated:
    from .plots import plot_data_trend
    from .tables import data_studies

    _data_groups(ctx, 'data-figure')

    def draw(runs, folder):  # the equal-epoch and equal-step studies in one figure
        return plot_data_trend([g for _k, groups in data_studies(runs) for g in groups], folder)

    return _figure(ctx, 'data', draw, 'top-1 against the share of the training data, both methods: mean and one std '
                                      'over seeds')


def phase_table(ctx: Context) -> Generated:
    """What each phase of a study's incubation pipelines reached (meta, hybrids, assembled, fine-tuned)."""
    from .tables import phase_table as build

    table = build(record_runs(_one(ctx, 'phase-table')))
    if table is None:
        raise ResultsError('phase-table: the record holds no pipeline of a depth or data study')
    return Generated(table.to_markdown(title=False))


def _suite_rows(ctx: Context, name: str):
    """The rows of one suite record, or of several of one preset that ran different seeds (seeds
    run on different machines or days): a seed's runs must all come from one record, so that
    its paired differences compare runs of one commit and one machine."""
    from .suite import SuiteError, row_order, rows_from_record

    if not ctx.records:
        raise ResultsError(f'{name} takes at least one suite record, the marker names none')
    first = (ctx.records[0].get('extra') or {}).get('preset')
    rows, owner = [], {}
    for source, record in zip(ctx.sources, ctx.records):
        if record.get('study') != 'suite':
            raise ResultsError(f'{name}: {source} is a {record.get("study")!r} record, not a suite one '
                               f'(python -m benchmarks suite)')
        preset = (record.get('extra') or {}).get('preset')
        if preset != first:
            raise ResultsError(f'{name}: {source} is of preset {preset!r}, {ctx.sources[0]} of {first!r}; '
                               f'one table takes one preset')
        try:
            these = rows_from_record(record)
        except SuiteError as err:
            raise ResultsError(f'{name}: {source}: {err}') from err
        for seed in sorted({r.seed for r in these}):
            if seed in owner:
                raise ResultsError(f'{name}: seed {seed} is in {owner[seed]} and in {source}; '
                                   f'name each seed\'s record once')
            owner[seed] = source
        rows += these
    rows.sort(key=row_order)
    return ctx.records[0], rows


def _measured_on_each(ctx: Context) -> str:
    """Where and how each record was measured, a list item per record."""
    return '\nMeasured on\n' + ''.join(f'- {source}: {provenance(rec)}: `{command_text(rec)}`.\n'
                                        for source, rec in zip(ctx.sources, ctx.records))


def _measured_on(ctx: Context) -> str:
    """Where and how the records were measured: one line for one record, else a list."""
    if len(ctx.records) == 1:
        return f'\nMeasured on {provenance(ctx.records[0])}: `{command_text(ctx.records[0])}`.\n'
    return _measured_on_each(ctx)


def _paired(rows, init_a: str, init_b: str, key: str) -> Optional[MeanStd]:
    a = {r.seed: r.metric(key) for r in rows if r.init == init_a}
    b = {r.seed: r.metric(key) for r in rows if r.init == init_b}
    return mean_std([a[s] - b[s] for s in sorted(a) if s in b and a[s] is not None and b[s] is not None])


def _separation(rows, key: str, label: str) -> str:
    """Whether the pretrained backbones beat the random-init control on ``key``, paired by seed."""
    from .suite import CONTROL, INIT_LABEL

    parts, clear = [], True
    for init in ('e2e', 'incubation'):
        d = _paired(rows, init, CONTROL, key)
        if d is None:
            return f'{label}: no paired control run.'
        clear = clear and beyond_two_se(d) == 1
        parts.append(f'{INIT_LABEL[init]} − control {d.mean:+.2f}' + (f' ± {d.std:.2f}' if d.std is not None else ''))
    ok = ('both pretrained backbones are ahead of the control by more than two standard errors' if clear else
          'not both pretrained backbones are ahead of the control by more than two standard errors')
    return f'{label}: {", ".join(parts)} (paired by seed): {ok}.'


def _control_cell(rows, key: str) -> str:
    """The control's score and whether both pretrained backbones beat it (paired, the 2-SE rule)."""
    from .suite import CONTROL

    control = mean_std([r.metric(key) for r in rows if r.init == CONTROL])
    if control is None:
        return 'not run'
    deltas = [_paired(rows, init, CONTROL, key) for init in ('e2e', 'incubation')]
    beaten = all(d is not None and beyond_two_se(d) == 1 for d in deltas)
    spread = f' ± {control.std:.2f}' if control.std is not None else ''
    return f'{control.mean:.2f}{spread}: {"beaten by both" if beaten else "not beaten by both"}'


def _suite_title(record: Mapping[str, Any]) -> str:
    return str((record.get('extra') or {}).get('title') or 'suite')


def suite_table(ctx: Context) -> Generated:
    """A suite's summary table (mean ± std per backbone, paired Δ, the control) with a verdict per
    metric, whether the control separates the backbones, and what the runs cost."""
    from .suite import FLOOR_METRICS, METRICS, UPSTREAM_METRIC, suite_tables, tasks_run

    record, rows = _suite_rows(ctx, 'suite-table')
    summary = suite_tables(rows, _suite_title(record))[0]
    lines = [summary.to_markdown(title=False).rstrip('\n'), '']
    ran = tasks_run(rows)
    compared = [(k, lab) for t, k, lab in METRICS if k not in FLOOR_METRICS and t in ran]
    for key, label in [(UPSTREAM_METRIC, 'upstream top-1')] + compared:
        lines.append(f'- {label}: {verdict(_paired(rows, "incubation", "e2e", key), label)}')
    for key, label in compared:
        lines.append(f'- Control, {_separation(rows, key, label)}')
    hours = {}
    for row in rows:
        for part, run in [('upstream', row.upstream)] + [('downstream', r) for r in row.downstream.values()]:
            if run is not None:
                hours.setdefault(part, {})[run.path] = run.costs().get('e2e_device_hours')
    spent = {k: sum(v for v in d.values() if v is not None) for k, d in hours.items()}
    counts = {k: len(d) for k, d in hours.items()}
    if spent:
        lines.append('- Cost of the runs in the record (end-to-end device-hours; on the CPU core-hours of the '
                     'processes, one thread each): '
                     + '; '.join(f'{counts[k]} {k} runs {spent[k]:.2f} h' for k in ('upstream', 'downstream') if k in spent)
                     + (f', i.e. {spent["downstream"] / 2 * 60:.0f} minutes of 2 cores for the downstream runs alone'
                        if 'downstream' in spent else '') + '.')
    lines.append(_measured_on(ctx))
    return Generated('\n'.join(lines))


def suite_runs_table(ctx: Context) -> Generated:
    """A suite's every-run table (one row per backbone and seed)."""
    from .suite import suite_tables

    record, rows = _suite_rows(ctx, 'suite-runs')
    return Generated(suite_tables(rows, _suite_title(record))[1].to_markdown(title=False))


def _suite_plot(ctx: Context, name: str, kind: str, plotter: Callable, alt: str) -> Generated:
    """A suite plot (``plotter(rows, folder, title)`` writes it) as a figure block."""
    record, rows = _suite_rows(ctx, name)
    title = _suite_title(record).replace('`', '')
    path = ctx.figure_path(kind)

    def drawer(folder: Path) -> Path:
        return Path(next(p for p in plotter(rows, str(folder), title) if p.endswith('.png')))

    return Generated(f'![{alt}]({ctx.link(path)})\n', {path: drawer})


def suite_figure(ctx: Context) -> Generated:
    from .suite import plot_rows

    return _suite_plot(ctx, 'suite-figure', 'score_vs_cost', plot_rows,
                       'downstream score against total training FLOPs (upstream + downstream), one point per run')


def suite_curves(ctx: Context) -> Generated:
    """A suite's score-vs-downstream-schedule plot (mean over seeds, seed band) per backbone kind."""
    from .suite import plot_curves

    return _suite_plot(ctx, 'suite-curves', 'score_vs_iterations', plot_curves,
                       'downstream score along the downstream schedule per backbone, mean over seeds with a band '
                       'from the lowest to the highest seed')


def _gate_runs(ctx: Context, name: str) -> List[Dict[str, Any]]:
    gate: List[Dict[str, Any]] = []
    for rec in ctx.records:
        if rec.get('study') != 'suite':
            raise ResultsError(f'{name}: a {rec.get("study")!r} record is not a suite record')
        gate += list((rec.get('extra') or {}).get('gate') or [])
    if not gate:
        raise ResultsError(f'{name}: the suite record holds no gate (a preset without gate=True)')
    return gate


def suite_gate(ctx: Context) -> Generated:
    """The suite's gate: the dense and instance probes of its backbones against random init, by seed."""
    from .transfer_probe import summary_table

    gate = _gate_runs(ctx, 'suite-gate')
    scenes = (ctx.records[0].get('extra') or {}).get('scenes')
    return Generated(summary_table([dict(runs=gate, extra=dict(scenes=scenes))]) + _measured_on(ctx))


def suite_gate_line(ctx: Context) -> Generated:
    """The gate's verdict in one sentence (for the README)."""
    from .probe_table import gate_line

    scenes = (ctx.records[0].get('extra') or {}).get('scenes') or {}
    return Generated(gate_line(_gate_runs(ctx, 'suite-gate-line'), scenes.get('style', '?')) + '\n')


def repeatability_table(ctx: Context) -> Generated:
    from .repeatability import repeatability_table as build

    record = _one(ctx, 'repeatability')
    return Generated(build(record).to_markdown(title=False) + _measured_on(ctx))


def speed_table(ctx: Context) -> Generated:
    from .speed import format_table

    record = _one(ctx, 'speed-table')
    rows = [r for r in record['runs'] if isinstance(r, Mapping) and 'rows' in r]
    if not rows:
        raise ResultsError('speed-table: the record holds no step measurement (benchmarks speed without --loop)')
    return Generated('\n'.join(format_table(r) for r in rows) + _measured_on(ctx))


def loop_table(ctx: Context) -> Generated:
    from .speed import format_loop_table

    record = _one(ctx, 'loop-table')
    loops = [x for r in record['runs'] if isinstance(r, Mapping) for x in r.get('loop') or []]
    if not loops:
        raise ResultsError('loop-table: the record holds no --loop measurement')
    return Generated(format_loop_table(loops) + _measured_on(ctx))


def probe_table(ctx: Context) -> Generated:
    from .transfer_probe import STUDY, summary_table

    for source, rec in zip(ctx.sources, ctx.records):
        if rec.get('study') != STUDY:
            raise ResultsError(f'probe-table: {source} is a {rec.get("study")!r} record, not a {STUDY!r} one')
    return Generated(summary_table(ctx.records) + _measured_on_each(ctx))


def _short_verdict(delta: Optional[MeanStd]) -> str:
    """:func:`verdict` in a few words, for one table cell."""
    if delta is None:
        return 'no paired runs'
    if delta.n < 2 or delta.std is None:
        return 'none (one seed)'
    if abs(delta.mean) <= 2 * delta.std / delta.n ** 0.5:
        return 'none (within 2 SE)'
    return f'{"incubation" if delta.mean > 0 else "E2E"} ahead'


def _record_label(source: str) -> str:
    """``docs/results/fashion/results.json`` -> ``fashion``; ``docs/results/demo.json`` -> ``demo``."""
    path = Path(source).with_suffix('')
    if path.name == 'results':
        path = path.parent
    parts = path.parts[2:] if path.parts[:2] == tuple(RESULTS.split('/')) else path.parts
    return '/'.join(parts)


def headline(ctx: Context) -> Generated:
    """E2E against incubation across studies, one row per cell: each training record's (model, share
    of the data) cells, top-1; a suite's records (one preset) as one row of its first downstream
    metric. Last-epoch values, mean ± std over seeds, the paired Δ and a verdict (more than two
    standard errors from 0); a cell already shown by an earlier record is left out."""
    from .suite import FLOOR_METRICS, METRICS, PROTOCOL_HEADS, tasks_run

    columns = ['task', 'model', 'data (%)', 'metric', 'seeds', 'E2E', 'incubation', 'Δ (paired)', 'verdict',
               'random init (control)']
    table = Table('headline', '', columns, align=['l', 'l', 'r', 'l', 'l', 'r', 'r', 'r', 'l', 'l'])
    seen, ratios, suites = set(), [], []
    for source, record in zip(ctx.sources, ctx.records):
        if record.get('study') == 'suite':
            suites.append((source, record))
            continue
        groups = [g for g in seed_groups(record_runs(record))
                  if g.first.method in ('e2e', 'incubation') and not g.first.phase]
        cells: Dict[Tuple[str, ...], Dict[str, Any]] = {}
        for group in groups:
            run = group.first
            cells.setdefault((run.task, norm_name(run.model), norm_name(run.variant)), {})[run.method] = group
        if not any(len(pair) == 2 for pair in cells.values()):
            raise ResultsError(f'headline: {source} holds no E2E and incubation runs of one cell')
        for key, pair in sorted(cells.items(), key=lambda kv: (kv[0][0], next(iter(kv[1].values())).first.depth or 0,
                                                               -next(iter(kv[1].values())).first.data_percent)):
            if len(pair) != 2 or key in seen:
                continue
            seen.add(key)
            e2e, inc = pair['e2e'], pair['incubation']
            metric = primary_metric(e2e.first.task)
            delta = paired_deltas(e2e, inc, metric)
            seeds = sorted({r.seed for r in inc.runs} & {r.seed for r in e2e.runs} - {None})
            flops = e2e.cost('train_flops'), inc.cost('train_flops')
            if flops[0] is not None and flops[1] is not None and flops[0].mean:
                ratios.append(flops[1].mean / flops[0].mean)
            table.add([Cell(get_task(e2e.first.task).title), Cell(e2e.first.model),
                       Cell(e2e.first.data_percent, 'int'), Cell('top-1' if metric == 'accuracy/top1' else metric),
                       Cell(', '.join(map(str, seeds))), Cell(e2e.metric(metric), 'meanstd:metric'),
                       Cell(inc.metric(metric), 'meanstd:metric'), Cell(delta, 'meanstd:delta'),
                       Cell(_short_verdict(delta)), Cell('')])
    presets: Dict[Tuple[str, str], List[Tuple[str, Dict[str, Any]]]] = {}
    for source, record in suites:  # one row per preset and protocol (a preset's seeds may be several records)
        extra = record.get('extra') or {}
        presets.setdefault((extra.get('preset', ''), extra.get('protocol', 'finetune')), []).append((source, record))
    for (_preset, protocol), group in presets.items():
        sub = Context([r for _s, r in group], [s for s, _r in group], ctx.doc, ctx.root)
        _record, rows = _suite_rows(sub, 'headline')
        model = next((row.upstream.model for row in rows if row.upstream is not None), '')
        for task_key in tasks_run(rows):  # a row per task: its first metric (box AP, mIoU)
            key, label = next((k, lab) for t, k, lab in METRICS if k not in FLOOR_METRICS and t == task_key)
            task = next((run.task for row in rows for kind, run in row.downstream.items()
                         if run is not None and kind == task_key), '')
            delta = _paired(rows, 'incubation', 'e2e', key)
            totals = [mean_std([r.total(task_key, 'train_flops') for r in rows if r.init == init])
                      for init in ('e2e', 'incubation')]
            if totals[0] is not None and totals[1] is not None and totals[0].mean:
                ratios.append(totals[1].mean / totals[0].mean)  # upstream + downstream
            title = f'{get_task(task).title.split(" (")[0]} ({PROTOCOL_HEADS[protocol][task_key]})'
            table.add([Cell(title), Cell(model), Cell(100, 'int'), Cell(label),
                       Cell(', '.join(str(s) for s in sorted({r.seed for r in rows}))),
                       Cell(mean_std([r.metric(key) for r in rows if r.init == 'e2e']), 'meanstd:metric'),
                       Cell(mean_std([r.metric(key) for r in rows if r.init == 'incubation']), 'meanstd:metric'),
                       Cell(delta, 'meanstd:delta'), Cell(_short_verdict(delta)), Cell(_control_cell(rows, key))])
    whole = ", a suite's upstream + downstream" if suites else ''
    cost = (f' E2E and incubation at about equal training FLOPs (incubation / E2E {min(ratios):.2f}x to '
            f'{max(ratios):.2f}x, the meta model included{whole}).' if ratios else '')
    table.notes.append('Last-epoch values, mean ± std over seeds; Δ = incubation − E2E, paired by seed; a verdict '
                       f'needs the mean Δ more than two standard errors from 0.{cost}')
    table.notes.append('Records (date, commit): ' + ', '.join(
        f'[{_record_label(s)}]({ctx.link(s)}) '
        f'({str(r.get("date") or "")[:10]}, {((r.get("git") or {}).get("commit") or "unknown")[:7]})'
        for s, r in zip(ctx.sources, ctx.records)) + '.')
    return Generated(table.to_markdown(title=False))


def phase_runs(ctx: Context) -> Generated:
    """:func:`phase_table` per seed: what each phase of every incubation pipeline of the record reached."""
    from .tables import phase_table as build

    runs = record_runs(_one(ctx, 'phase-runs'))
    tables = [t for seed in sorted({r.seed for r in runs if r.seed is not None})
              for t in [build([r for r in runs if r.seed == seed])] if t is not None]
    if not tables:
        raise ResultsError('phase-runs: the record holds no pipeline of a depth or data study')
    table, order = tables[0], {}
    rows = [row for t in tables for row in t.rows]  # seed by seed, each in the phase table's order
    for row in rows:
        order.setdefault(tuple(row[i].text() for i in (0, 2, 3)), len(order))  # model, variant, schedule
    table.rows = sorted(rows, key=lambda row: order[tuple(row[i].text() for i in (0, 2, 3))])
    if any(t.columns != table.columns for t in tables):
        raise ResultsError('phase-runs: the seeds\' pipelines have different phases')
    table.notes = ['One row per pipeline run (seed); the columns as in the phase table.']
    return Generated(table.to_markdown(title=False))


def provenance_lines(ctx: Context) -> Generated:
    lines = [f'- `{src}` ({rec.get("study")}): {provenance(rec)}; `{command_text(rec)}`'
             for src, rec in zip(ctx.sources, ctx.records)]
    return Generated('\n'.join(lines) + '\n')


GENERATORS: Dict[str, Callable[[Context], Generated]] = {
    'results-table': results_table, 'depth-table': depth_table, 'depth-figure': depth_figure,
    'efficiency-figure': efficiency_figure, 'repeatability': repeatability_table, 'speed-table': speed_table,
    'loop-table': loop_table, 'provenance': provenance_lines, 'data-table': data_table, 'data-figure': data_figure,
    'phase-table': phase_table, 'suite-table': suite_table, 'suite-runs': suite_runs_table, 'suite-figure': suite_figure,
    'suite-curves': suite_curves, 'suite-gate': suite_gate, 'suite-gate-line': suite_gate_line,
    'probe-table': probe_table, 'headline': headline, 'phase-runs': phase_runs,
}


# --- documents ------------------------------------------------------------------------------


@dataclass
class Block:
    doc: Path
    name: str
    sources: List[str]
    body: str
    span: Tuple[int, int]  # of the body in the document's text
    rel: str = ''  # the document's path from the repository root

    @property
    def where(self) -> str:
        return f'{self.rel or self.doc.name}: generated block {self.name!r} (from {" ".join(self.sources)})'


def documents(root: Path) -> List[Path]:
    """Every page that may quote a result: ``README.md`` (and any other Markdown file at the root)
    and every Markdown file under ``docs/``, at any depth (the study pages included)."""
    docs = [root / 'README.md'] + sorted(p for p in root.glob('*.md') if p.name != 'README.md')
    docs += sorted((root / 'docs').rglob('*.md'))
    return [d for d in docs if d.is_file()]


def unchecked_copies(root: Path) -> List[str]:
    """Files under ``docs/results/`` other than records: copies of a report (Markdown, CSV, LaTeX,
    plots) that no block regenerates and ``--check`` cannot check. A result is quoted through a
    generated block from its record; the record alone is committed."""
    folder = root / RESULTS
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in folder.rglob('*') if p.is_file() and p.suffix != '.json')


def fenced_spans(text: str) -> List[Tuple[int, int]]:
    """The character spans of the document's fenced code blocks (a marker shown there is an example)."""
    spans, start, offset = [], None, 0
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith('```'):
            if start is None:
                start = offset
            else:
                spans.append((start, offset + len(line)))
                start = None
        offset += len(line)
    return spans


def find_blocks(doc: Path, root: Optional[Path] = None) -> List[Block]:
    """The generated blocks of one document (outside code fences); an opening marker without its
    end is an error. ``root``: the repository, which the blocks' messages name the document from."""
    text = doc.read_text()
    fences = fenced_spans(text)
    outside = lambda pos: not any(a <= pos < b for a, b in fences)  # noqa: E731
    rel = doc.relative_to(root).as_posix() if root is not None and doc.is_relative_to(root) else doc.name
    blocks = [Block(doc, m['name'], m['sources'].split(), m['body'], m.span('body'), rel)
              for m in BLOCK.finditer(text) if outside(m.start())]
    if sum(outside(m.start()) for m in OPEN.finditer(text)) != len(blocks):
        raise ResultsError(f'{doc}: a `<!-- generated: NAME from RECORD -->` marker without its '
                           '`<!-- end generated -->` (or with a malformed first line)')
    return blocks


def generate(block: Block, root: Path) -> Generated:
    if block.name not in GENERATORS:
        raise ResultsError(f'{block.where}: unknown generator; one of {", ".join(sorted(GENERATORS))}')
    if not block.sources:
        raise ResultsError(f'{block.where}: the marker names no record')
    records = []
    for source in block.sources:
        path = root / source
        if not path.is_file():
            raise ResultsError(f'{block.where}: record {source} not found')
        records.append(read_record(path))
    try:
        return GENERATORS[block.name](Context(records, block.sources, block.doc, root))
    except ResultsError as e:
        raise ResultsError(f'{block.where}: {e}') from None


def figure_digest(path: Path) -> Optional[str]:
    """The records' digest a figure was drawn from (its PNG ``Description`` text chunk), or None."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.text.get(DIGEST_KEY)
    except (OSError, AttributeError):
        return None


def _write_figure(draw: Callable[[Path], Path], target: Path, digest: str) -> None:
    from PIL import Image, PngImagePlugin

    with tempfile.TemporaryDirectory() as tmp:
        drawn = draw(Path(tmp))
        info = PngImagePlugin.PngInfo()
        info.add_text(DIGEST_KEY, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(drawn) as img:
            img.save(target, pnginfo=info)
        svg = drawn.with_suffix('.svg')
        if svg.is_file():
            shutil.copyfile(svg, target.with_suffix('.svg'))


def process(root: Path, write: bool) -> List[str]:
    """Check (or with ``write`` regenerate) every block of every document; the problems found:
    stale blocks and figures (``write`` fixes them), figures under ``docs/figures/`` that no block
    shows (``write`` deletes them) and :func:`unchecked_copies` (left to the user)."""
    problems: List[str] = []
    shown = set()
    for doc in documents(root):
        blocks = find_blocks(doc, root)
        text = doc.read_text()
        out, last = [], 0
        for block in blocks:
            generated = generate(block, root)
            ctx = Context([], block.sources, doc, root)
            if generated.text != block.body:
                problems.append(f'{block.where} differs from what its records generate')
            out += [text[last:block.span[0]], generated.text]
            last = block.span[1]
            for path, draw in generated.figures.items():
                shown |= {path, str(Path(path).with_suffix('.svg'))}
                target = root / path
                if write and figure_digest(target) != ctx.digest:
                    _write_figure(draw, target, ctx.digest)
                elif not write and figure_digest(target) != ctx.digest:
                    problems.append(f'{block.where}: figure {path} is missing or was drawn from other records')
        out.append(text[last:])
        if write and ''.join(out) != text:
            doc.write_text(''.join(out))
    figures = root / FIGURES
    for path in sorted(figures.rglob('*') if figures.is_dir() else []):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in shown:
            if write:
                path.unlink()
            else:
                problems.append(f'{rel}: a figure that no generated block shows (--write deletes it)')
    problems += [f'{copy}: a copy of a result that no generated block checks; quote it through a generated '
                 'block from its record and delete the copy' for copy in unchecked_copies(root)]
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument('--write', action='store_true', help='regenerate every generated block and its figures')
    mode.add_argument('--check', action='store_true',
                      help='exit 1, naming each block that differs from what its records generate')
    parser.add_argument('--root', default=ROOT, help='the repository (default: this checkout)')


def run(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    try:
        problems = process(root, write=args.write)
    except RecordError as e:
        raise SystemExit(f'benchmarks results: {e}') from None
    docs = documents(root)
    if args.write:
        print(f'benchmarks results: regenerated the blocks of {len(docs)} documents from their records')
        for problem in problems:
            if problem.startswith(RESULTS + '/'):
                print(f'benchmarks results: {problem}')
        return 1 if unchecked_copies(root) else 0
    for problem in problems:
        print(f'benchmarks results: {problem}')
    if any(not p.startswith(RESULTS + '/') for p in problems):
        print('benchmarks results: run `python -m benchmarks results --write` and commit the result '
              '(never edit a generated block by hand)')
    if problems:
        return 1
    counts = [len(find_blocks(d)) for d in docs]
    print(f'benchmarks results: {sum(counts)} generated blocks in {sum(1 for c in counts if c)} of {len(docs)} '
          'documents match their records')
    return 0
