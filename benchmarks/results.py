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
import functools
import hashlib
import importlib
import os
import os.path as osp
import pkgutil
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


# --- the generators -------------------------------------------------------------------------

# name -> generator. This module registers the generic ones (results-table, headline, provenance);
# a study registers the blocks of its own page with :func:`generator` in its own module, which
# :func:`generators` imports: this module names no study.
GENERATORS: Dict[str, Callable[[Context], Generated]] = {}


def generator(name: str) -> Callable[[Callable[[Context], Generated]], Callable[[Context], Generated]]:
    """Register ``fn(ctx) -> Generated`` as the generator of ``<!-- generated: NAME from ... -->``."""
    def register(fn: Callable[[Context], Generated]) -> Callable[[Context], Generated]:
        if GENERATORS.get(name, fn) is not fn:
            raise ValueError(f'generator {name!r} is registered twice ({GENERATORS[name].__module__}, {fn.__module__})')
        GENERATORS[name] = fn
        return fn
    return register


def generators() -> Dict[str, Callable[[Context], Generated]]:
    """Every registered generator: the modules of this package are imported once (each study's
    module registers its page's generators when imported)."""
    _import_package()
    return GENERATORS


@functools.lru_cache(maxsize=None)
def _import_package() -> None:
    package = __name__.rpartition('.')[0]
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if not info.name.startswith('_'):
            importlib.import_module(f'{package}.{info.name}')


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


def joined_runs(ctx: Context, name: str) -> List[Any]:
    """The runs of every record of the marker; a run (same name) in two records is refused."""
    runs, seen = [], {}
    for source, rec in zip(ctx.sources, ctx.records):
        for run in record_runs(rec):
            if run.name in seen:
                raise ResultsError(f'{name}: run {run.name} is in {seen[run.name]} and in {source}')
            seen[run.name] = source
            runs.append(run)
    return runs


def one_record(ctx: Context, name: str) -> Dict[str, Any]:
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


@generator('results-table')
def results_table(ctx: Context) -> Generated:
    """E2E vs incubation from one study record: per model and method a row (mean ± std over seeds),
    and the paired Δ; last-epoch values, the best epoch's labelled as best."""
    record = one_record(ctx, 'results-table')
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


def figure_block(ctx: Context, kind: str, draw: Callable[[List[Any], Path], List[Path]], caption: str) -> Generated:
    path = ctx.figure_path(kind)
    runs = joined_runs(ctx, f'{kind}-figure')

    def drawer(folder: Path) -> Path:
        paths = [p for p in draw(runs, folder) if p.suffix == '.png']
        if len(paths) != 1:
            raise ResultsError(f'{kind}: expected one figure from the records, got {len(paths)}')
        return paths[0]

    text = f'![{caption}]({ctx.link(path)})\n'
    return Generated(text, {path: drawer})


def measured_on_each(ctx: Context) -> str:
    """Where and how each record was measured, a list item per record."""
    return '\nMeasured on\n' + ''.join(f'- {source}: {provenance(rec)}: `{command_text(rec)}`.\n'
                                        for source, rec in zip(ctx.sources, ctx.records))


def measured_on(ctx: Context) -> str:
    """Where and how the records were measured: one line for one record, else a list."""
    if len(ctx.records) == 1:
        return f'\nMeasured on {provenance(ctx.records[0])}: `{command_text(ctx.records[0])}`.\n'
    return measured_on_each(ctx)


def short_verdict(delta: Optional[MeanStd]) -> str:
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


@dataclass
class HeadlineRows:
    """What a study adds to the headline: its rows (cells in :data:`HEADLINE_COLUMNS` order) and the
    incubation / E2E training-FLOPs ratio of each."""

    rows: List[List[Cell]] = field(default_factory=list)
    flops_ratios: List[float] = field(default_factory=list)


HEADLINE_COLUMNS = ['task', 'model', 'data (%)', 'metric', 'seeds', 'E2E', 'incubation', 'Δ (paired)', 'verdict',
                    'random init (control)']
# a record's ``study`` -> the function that turns all the marker's records of that study into headline rows
HEADLINE_SECTIONS: Dict[str, Callable[[Context], HeadlineRows]] = {}


def headline_section(study: str) -> Callable[[Callable[[Context], HeadlineRows]], Callable[[Context], HeadlineRows]]:
    """Register how a study's records (``record['study'] == study``) become headline rows; the
    other records' (E2E and incubation training runs) rows are :func:`training_rows`."""
    def register(fn: Callable[[Context], HeadlineRows]) -> Callable[[Context], HeadlineRows]:
        HEADLINE_SECTIONS[study] = fn
        return fn
    return register


def training_rows(ctx: Context, seen: set) -> HeadlineRows:
    """One headline row per (task, model, share of the data) cell of training records with E2E and
    incubation runs; a cell in ``seen`` (shown by an earlier record) is left out."""
    out = HeadlineRows()
    for source, record in zip(ctx.sources, ctx.records):
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
                out.flops_ratios.append(flops[1].mean / flops[0].mean)
            out.rows.append([Cell(get_task(e2e.first.task).title), Cell(e2e.first.model),
                             Cell(e2e.first.data_percent, 'int'), Cell('top-1' if metric == 'accuracy/top1' else metric),
                             Cell(', '.join(map(str, seeds))), Cell(e2e.metric(metric), 'meanstd:metric'),
                             Cell(inc.metric(metric), 'meanstd:metric'), Cell(delta, 'meanstd:delta'),
                             Cell(short_verdict(delta)), Cell('')])
    return out


@generator('headline')
def headline(ctx: Context) -> Generated:
    """E2E against incubation across studies, one row per cell: each training record's (model, share
    of the data) cells, top-1 (:func:`training_rows`); the records of a study that registered a
    :func:`headline_section` (a suite's: a row per preset, protocol and task) as that section says.
    Last-epoch values, mean ± std over seeds, the paired Δ and a verdict (more than two standard
    errors from 0); a cell already shown by an earlier record is left out."""
    table = Table('headline', '', HEADLINE_COLUMNS, align=['l', 'l', 'r', 'l', 'l', 'r', 'r', 'r', 'l', 'l'])
    generators()  # a study registers its headline section when its module is imported
    sections = HEADLINE_SECTIONS
    by_study: Dict[str, List[int]] = {}
    for i, record in enumerate(ctx.records):
        study = record.get('study') if record.get('study') in sections else ''
        by_study.setdefault(study, []).append(i)
    seen: set = set()
    ratios: List[float] = []
    whole = False
    for study, indices in by_study.items():
        sub = Context([ctx.records[i] for i in indices], [ctx.sources[i] for i in indices], ctx.doc, ctx.root)
        part = sections[study](sub) if study else training_rows(sub, seen)
        whole = whole or bool(study)
        for row in part.rows:
            table.add(row)
        ratios += part.flops_ratios
    whole_text = ", a suite's upstream + downstream" if whole else ''
    cost = (f' E2E and incubation at about equal training FLOPs (incubation / E2E {min(ratios):.2f}x to '
            f'{max(ratios):.2f}x, the meta model included{whole_text}).' if ratios else '')
    table.notes.append('Last-epoch values, mean ± std over seeds; Δ = incubation − E2E, paired by seed; a verdict '
                       f'needs the mean Δ more than two standard errors from 0.{cost}')
    table.notes.append('Records (date, commit): ' + ', '.join(
        f'[{_record_label(s)}]({ctx.link(s)}) '
        f'({str(r.get("date") or "")[:10]}, {((r.get("git") or {}).get("commit") or "unknown")[:7]})'
        for s, r in zip(ctx.sources, ctx.records)) + '.')
    return Generated(table.to_markdown(title=False))


@generator('provenance')
def provenance_lines(ctx: Context) -> Generated:
    lines = [f'- `{src}` ({rec.get("study")}): {provenance(rec)}; `{command_text(rec)}`'
             for src, rec in zip(ctx.sources, ctx.records)]
    return Generated('\n'.join(lines) + '\n')




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
    known = generators()
    if block.name not in known:
        raise ResultsError(f'{block.where}: unknown generator; one of {", ".join(sorted(known))}')
    if not block.sources:
        raise ResultsError(f'{block.where}: the marker names no record')
    records = []
    for source in block.sources:
        path = root / source
        if not path.is_file():
            raise ResultsError(f'{block.where}: record {source} not found')
        records.append(read_record(path))
    try:
        return known[block.name](Context(records, block.sources, block.doc, root))
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
