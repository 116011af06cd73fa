"""Tables of runs vs the paper (rendered by :mod:`benchmarks.render` as Markdown, CSV and LaTeX)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from runtime import record

from .analysis import SeedGroup, efficiency_pairs, mean_std, paired_deltas, seed_groups, speedup
from .costs import COST_LABELS, COSTS, DEFAULT_RATIO_COST
from .reference import find_reference, load_reference, reference_cost, reference_for, reference_value
from .render import Cell, Table
from .runs import Run, data_share, norm_name, same_seed
from .tasks import TASKS, get_task, primary_metric, task_names

PHASE_ORDER = ('train', 'meta', 'incubate', 'assemble', 'finetune')
DELTA_LABEL = 'Δ (incubation − E2E)'


# --- grouping ------------------------------------------------------------------------------


def _groups(runs: Sequence[Run]) -> List[Tuple[Tuple[str, ...], List[Run], List[Run]]]:
    """(key, E2E runs, incubation runs) per pairing key, in the order the keys first appear.

    The key is :attr:`Run.pair_key` (a downstream run's upstream task and variant join its task,
    model and variant; the upstream's schedule does not, so the runs from every m+n upstream meet
    the one E2E-pretrained run, each in its own row) when every run of that task, model and
    variant has its upstream attached; else the task, model and variant alone, so that a run
    whose upstream is unknown (gone, unfinished) is still compared.
    """
    complete: Dict[Tuple[str, ...], bool] = {}
    for run in runs:
        complete[run.base_key] = complete.get(run.base_key, True) and run.upstream is not None
    order: List[Tuple[str, ...]] = []
    by_key: Dict[Tuple[str, ...], Tuple[List[Run], List[Run]]] = {}
    for run in runs:
        key = run.pair_key if complete[run.base_key] else run.base_key
        if key not in by_key:
            order.append(key)
            by_key[key] = ([], [])
        by_key[key][0 if run.method == 'e2e' else 1].append(run)
    return [(key, *by_key[key]) for key in order]


def _partner(run: Run, e2e_runs: Sequence[Run]) -> Run:
    """The E2E run ``run`` is compared with: one from the same upstream variant where there is
    one (a downstream run), then the one of the same seed (:func:`same_seed`)."""
    same = [r for r in e2e_runs if r.upstream_tag[:2] == run.upstream_tag[:2]]
    return same_seed(run, same or list(e2e_runs))


@dataclass
class _Row:
    """One row of a group: an E2E or incubation run (None: no run), or a Δ between two."""

    kind: str  # 'e2e', 'incubation' or 'delta'
    label: str
    run: Optional[Run] = None
    e2e: Optional[Run] = None  # for 'delta'
    inc: Optional[Run] = None  # for 'delta'
    entry: Optional[Dict[str, Any]] = None  # the paper's entry (for 'delta': the incubation side's)
    e2e_entry: Optional[Dict[str, Any]] = None  # for 'delta'


def _group_rows(e2e_runs: List[Run], inc_runs: List[Run], task: str, model: str, variant: str,
                reference: Dict[str, Any]) -> List[_Row]:
    """E2E row(s), incubation row(s) (``no run`` placeholders if absent), one Δ per incubation run.

    Several incubation runs of one variant (m+n schedules) are told apart by their schedule,
    or by their directory name when that is not enough (seeds); Δ is against the E2E run of the
    same seed, else the first E2E run.
    """
    default = find_reference(task, model, variant, reference)

    def labelled(method: str, group: List[Run]) -> List[Tuple[str, Optional[Run]]]:
        if not group:
            return [('E2E' if method == 'e2e' else 'incubation', None)]
        labels = [r.method_label for r in group]
        return [(f'{lab} [{r.name}]' if labels.count(lab) > 1 else lab, r) for lab, r in zip(labels, group)]

    rows: List[_Row] = []
    for method, group in (('e2e', e2e_runs), ('incubation', inc_runs)):
        for label, run in labelled(method, group):
            rows.append(_Row(method, label, run=run, entry=reference_for(run, reference) if run else default))
    incs = labelled('incubation', inc_runs)
    for label, inc in incs:
        e2e = (_partner(inc, e2e_runs) if inc else e2e_runs[0]) if e2e_runs else None
        e2e_entry = reference_for(e2e, reference) if e2e else default
        delta = DELTA_LABEL if len(incs) == 1 else f'Δ ({label} − E2E)'
        rows.append(_Row('delta', delta, e2e=e2e, inc=inc, entry=reference_for(inc, reference) if inc else default,
                         e2e_entry=e2e_entry))
    return rows


def _status(run: Optional[Run]) -> str:
    if run is None:
        return 'no run'
    return run.status + (f': {run.status_detail}' if run.status_detail else '')


def _delta_status(e2e: Optional[Run], inc: Optional[Run]) -> Optional[str]:
    if e2e is None or inc is None:
        return None
    return 'done' if e2e.status == inc.status == 'done' else 'partial'


def _sub(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a - b


def _display(runs: Sequence[Run], attr: str) -> str:
    return getattr(runs[0], attr) if runs else ''


# The downstream tables' measured upstream and total costs: (column, cost, kind, delta kind).
UPSTREAM_COLUMNS = [('upstream training device-h', 'train_device_hours', 'hours', 'hoursdelta'),
                    ('total training device-h (upstream + downstream)', 'train_device_hours', 'hours', 'hoursdelta'),
                    ('upstream training FLOPs', 'train_flops', 'flops', 'flops'),
                    ('total training FLOPs (upstream + downstream)', 'train_flops', 'flops', 'flops')]


def _cost_cells(run: Optional[Run]) -> List[Cell]:
    """A downstream row's upstream label, backbone sha256, and upstream and total costs."""
    if run is None:
        return [Cell(None) for _ in range(2 + len(UPSTREAM_COLUMNS))]
    sha = run.backbone_sha256
    cells = [Cell(run.upstream_label or None), Cell('random' if run.random_init else sha[:12] if sha else None)]
    up, total = run.upstream_costs(), run.total_costs()
    for label, cost, kind, _ in UPSTREAM_COLUMNS:
        cells.append(Cell((total if label.startswith('total') else up)[cost], kind))
    return cells


def _cost_delta_cells(e2e: Optional[Run], inc: Optional[Run]) -> List[Cell]:
    cells = [Cell(None, 'na'), Cell(None, 'na')]
    for label, cost, _, kind in UPSTREAM_COLUMNS:
        part = (lambda r: r.total_costs()) if label.startswith('total') else (lambda r: r.upstream_costs())
        cells.append(Cell(_sub(part(inc)[cost] if inc else None, part(e2e)[cost] if e2e else None), kind))
    return cells


def _upstream_notes(runs: Sequence[Run]) -> List[str]:
    notes = ['upstream: the run whose final model the backbone checkpoint is (the downstream run\'s '
             'backbone.json); its training cost (E2E training, or the whole incubation pipeline: meta, '
             'incubations, fine-tune) is the upstream cost, added to the downstream run\'s own in the totals; '
             'backbone sha256: the first 12 hex digits of that checkpoint. A run from random weights has no '
             'upstream cost (0).']
    missing = [f'{r.name} ({r.upstream_note})' for r in runs if r.upstream is None and r.upstream_note]
    unrecorded = [r.name for r in runs if r.kind == 'train' and r.backbone is None and not r.upstream_note]
    if missing:
        notes.append('Upstream cost unknown (–): ' + '; '.join(missing) + '.')
    if unrecorded:
        notes.append('No backbone.json (upstream unknown, –): ' + ', '.join(unrecorded) + '.')
    return notes


def metric_table(task: str, runs: Sequence[Run], reference: Optional[Dict[str, Any]] = None) -> Table:
    """One task's table: per (model, variant) E2E, incubation and Δ rows; each metric next to the paper's.

    A downstream task's table (:mod:`benchmarks.tasks`) adds each row's upstream
    run, backbone sha256, and the upstream and total (upstream + downstream) training device-hours
    and FLOPs; the paper's pre-training GPU-hours where ``reference.json`` has them (ADE20K).
    """
    reference = reference or load_reference()
    runs = [r for r in runs if r.task == task]
    spec = get_task(task)
    metrics = spec.metrics if task in TASKS else [(k, k) for k in sorted({k for r in runs for k in r.metrics})]
    columns = ['model', spec.variant_label, 'method', 'status']
    for _, label in metrics:
        columns += [label, f'{label} (paper)']
    downstream = spec.downstream
    if downstream:
        columns += ['upstream', 'backbone sha256'] + [label for label, *_ in UPSTREAM_COLUMNS]
    pretrain = any('pretrain_cost' in e for e in reference['entries'] if e['task'] == task)
    if pretrain:
        columns.append('pre-training GPU-h (paper)')
    table = Table(task, f'{spec.title}: incubation vs E2E', columns,
                  align=['l' if i < 4 or c in ('upstream', 'backbone sha256') else 'r' for i, c in enumerate(columns)])
    for _key, e2e_runs, inc_runs in _groups(runs):
        members = e2e_runs + inc_runs
        model, variant = _display(members, 'model'), _display(members, 'variant')
        for row in _group_rows(e2e_runs, inc_runs, task, model, variant, reference):
            if row.kind == 'delta':
                cells = [Cell(model), Cell(variant), Cell(row.label), Cell(_delta_status(row.e2e, row.inc))]
                for metric, _ in metrics:
                    ours = _sub(row.inc.metrics.get(metric) if row.inc else None,
                                row.e2e.metrics.get(metric) if row.e2e else None)
                    paper = _sub(reference_value(row.entry, 'incubation', metric),
                                 reference_value(row.e2e_entry, 'e2e', metric))
                    cells += [Cell(ours, 'delta'), Cell(paper, 'refdelta')]
                if downstream:
                    cells += _cost_delta_cells(row.e2e, row.inc)
                if pretrain:
                    cells.append(Cell(_sub(reference_cost(row.entry, 'incubation', 'pretrain_cost'),
                                           reference_cost(row.e2e_entry, 'e2e', 'pretrain_cost')), 'costdelta'))
            else:
                run = row.run
                cells = [Cell(model), Cell(variant), Cell(row.label), Cell(_status(run))]
                for metric, _ in metrics:
                    cells += [Cell(run.metrics.get(metric) if run else None, 'metric'),
                              Cell(reference_value(row.entry, row.kind, metric), 'ref')]
                if downstream:
                    cells += _cost_cells(run)
                if pretrain:
                    cells.append(Cell(reference_cost(row.entry, row.kind, 'pretrain_cost'), 'cost'))
            table.add(cells)
    table.notes += list(spec.notes)
    if downstream:
        table.notes += _upstream_notes(runs)
    if pretrain:
        table.notes.append('Pre-training GPU-h (paper): the paper\'s ImageNet pre-training cost, A100 GPU-hours read '
                           'off its efficiency figure; not measured here.')
    table.notes.append('Paper numbers: Deep Incubation (ICCV 2023); E2E = the DeiT recipe. '
                       'Missing values are shown as –.')
    return table


def _phase_columns(runs: Sequence[Run]) -> List[str]:
    names: List[str] = []
    for run in runs:
        for name in run.cost.get('by_phase', {}):
            if name not in names:
                names.append(name)

    def rank(name: str) -> Tuple[int, str]:
        for i, prefix in enumerate(PHASE_ORDER):
            if name.startswith(prefix):
                return i, name
        return len(PHASE_ORDER), name

    return sorted(names, key=rank)


def cost_table(runs: Sequence[Run], reference: Optional[Dict[str, Any]] = None) -> Table:
    """Training cost: device-hours per phase and in total, wall clock with parallel incubations, images."""
    reference = reference or load_reference()
    runs = [r for r in runs if r.kind != 'test']
    phases = _phase_columns(runs)
    columns = (['task', 'model', 'variant', 'method', 'status', 'device'] + [f'{p} (h)' for p in phases]
               + ['total (h)', 'wall, parallel (h)', 'images', 'ratio to E2E', 'total (paper, GPU-h)',
                  'ratio (paper)'])
    table = Table('cost', 'Training cost (device-hours)', columns, align=['l'] * 6 + ['r'] * (len(columns) - 6))
    for key, e2e_runs, inc_runs in _groups(runs):
        members = e2e_runs + inc_runs
        task, model, variant = key[0], _display(members, 'model'), _display(members, 'variant')
        # ADE20K's paper cost is the ImageNet pre-training's (in the ade20k table), not this run's
        paper_cost = (lambda entry, method: None) if task == 'ade20k' else reference_cost
        for row in _group_rows(e2e_runs, inc_runs, task, model, variant, reference):
            head = [Cell(task), Cell(model), Cell(variant), Cell(row.label)]
            e2e = (_partner(row.run or row.inc, e2e_runs) if (row.run or row.inc) else e2e_runs[0]) if e2e_runs else None
            e2e_total = e2e.cost.get('total') if e2e else None
            if row.kind == 'delta':
                ref_inc, ref_e2e = paper_cost(row.entry, 'incubation'), paper_cost(row.e2e_entry, 'e2e')
                cells = head + [Cell(_delta_status(row.e2e, row.inc)), Cell(None, 'na')]
                cells += [Cell(None, 'na') for _ in phases]
                cells += [Cell(_sub(row.inc.cost.get('total') if row.inc else None, e2e_total), 'hoursdelta'),
                          Cell(None, 'na'), Cell(None, 'na'), Cell(None, 'na'), Cell(_sub(ref_inc, ref_e2e), 'costdelta'),
                          Cell(None, 'na')]
                table.add(cells)
                continue
            run, incubation = row.run, row.kind == 'incubation'
            cells = head + [Cell(_status(run)), Cell(run.cost.get('device_type') if run else None)]
            by_phase = run.cost.get('by_phase', {}) if run else {}
            cells += [Cell(by_phase[p], 'hours') if p in by_phase else Cell(None, 'na') for p in phases]
            total = run.cost.get('total') if run else None
            ratio = total / e2e_total if incubation and total is not None and e2e_total else None
            ref = paper_cost(row.entry, row.kind)
            ref_e2e = paper_cost(reference_for(e2e, reference) if e2e else
                                 find_reference(task, model, variant, reference), 'e2e')
            cells += [Cell(total, 'hours'),
                      Cell(run.cost.get('wall_parallel'), 'hours') if run and run.kind == 'pipeline' else Cell(None, 'na'),
                      Cell(run.cost.get('images') if run else None, 'int'),
                      Cell(ratio, 'ratio') if incubation else Cell(None, 'na'),
                      Cell(ref, 'cost'),
                      Cell(ref / ref_e2e if ref and ref_e2e else None, 'ratio') if incubation else Cell(None, 'na')]
            table.add(cells)
    table.notes += ['Device-hours = training wall clock x GPUs; on the CPU, the training process\'s CPU time '
                    '(core-hours), so runs sharing a machine are not charged for each other (runtime.DeviceHoursHook; '
                    'evaluation excluded). '
                    'Wall, parallel = meta + slowest incubation + assembly + fine-tune (the K incubations on K '
                    'machines at once).',
                    'The paper\'s costs are A100 GPU-hours read off its efficiency figure (approximate).']
    return table


def efficiency_table(runs: Sequence[Run], reference: Optional[Dict[str, Any]] = None) -> Table:
    reference = reference or load_reference()
    columns = ['task', 'model', 'E2E variant', 'incubation variant', 'schedule', 'status', 'E2E final', 'E2E cost (h)',
               'incubation reaches it at (h)', 'speed-up', 'speed-up (paper)', 'incubation final',
               'incubation cost (h)', 'wall, parallel (h)']
    table = Table('efficiency', 'Training efficiency: cost for incubation to reach E2E\'s final accuracy', columns,
                  align=['l'] * 6 + ['r'] * (len(columns) - 6))
    for e2e, inc in efficiency_pairs(runs):
        some = e2e or inc
        metric = primary_metric(some.task)
        e2e_curve = e2e.curve(metric) if e2e else []
        inc_curve = inc.curve(metric) if inc else []
        result = speedup(e2e_curve, inc_curve)
        entry = reference_for(e2e, reference) if e2e else None
        paper = entry.get('speedup') if entry else None
        inc_final = inc_curve[-1] if inc_curve else None
        table.add([Cell(some.task), Cell(some.model), Cell(e2e.variant if e2e else None),
                   Cell(inc.variant if inc else None), Cell(inc.schedule if inc else ''),
                   Cell(_delta_status(e2e, inc)),
                   Cell(result.target, 'metric'), Cell(result.e2e_cost, 'hours'),
                   Cell(result.reached_at, 'hours'),
                   Cell(result.text() if inc is not None and e2e is not None else None),
                   Cell(paper, 'ratio'),  # the paper's own speed-up to the same accuracy
                   Cell(inc_final[1] if inc_final else None, 'metric'),
                   Cell(inc_final[0] if inc_final else None, 'hours'),
                   Cell(inc.cost.get('wall_parallel') if inc else None, 'hours')])
    table.notes.append('Accuracy = the task\'s primary metric (top-1 for classification). Incubation cost counts '
                       'meta + all incubations + fine-tune so far; the crossing is linearly interpolated. '
                       'Speed-up (paper): E2E cost / incubation cost to the same accuracy in the paper\'s figure.')
    return table


# --- seeds and depth -----------------------------------------------------------------------


def depth_studies(runs: Sequence[Run]) -> List[Tuple[Tuple[str, str, str], List[SeedGroup]]]:
    """((task, model family, variant), seed groups) for every set of runs that needs seed-grouped
    rows: several depths of one model family, or several seeds of one cell."""
    studies: Dict[Tuple[str, str, str], List[SeedGroup]] = {}
    for group in seed_groups(runs):
        run = group.first
        studies.setdefault((run.task, norm_name(run.family), norm_name(run.variant)), []).append(group)
    out = []
    for key, groups in studies.items():
        depths = {g.first.depth for g in groups if g.first.depth is not None}
        if len(depths) > 1 or any(len({r.seed for r in g.runs}) > 1 for g in groups):
            groups.sort(key=lambda g: (g.first.depth or 0, norm_name(g.first.model), g.first.method != 'e2e'))
            out.append((key, groups))
    return out


def by_model(groups: Sequence[SeedGroup]) -> List[Tuple[List[SeedGroup], List[SeedGroup]]]:
    """(E2E groups, incubation groups) per model (depth) of a study, in the study's order."""
    models: Dict[str, Tuple[List[SeedGroup], List[SeedGroup]]] = {}
    for group in groups:
        pair = models.setdefault(norm_name(group.first.model), ([], []))
        pair[0 if group.first.method == 'e2e' else 1].append(group)
    return list(models.values())


def _ratio(inc: SeedGroup, e2e: Optional[SeedGroup], cost: str) -> Optional[float]:
    a, b = inc.cost(cost), e2e.cost(cost) if e2e else None
    return a.mean / b.mean if a is not None and b is not None and b.mean else None


COST_KINDS = {'train_device_hours': 'hours', 'e2e_device_hours': 'hours', 'train_flops': 'flops'}


def _schedule(run: Run) -> str:
    """What tells a seed group's runs from another's of the same cell: its m+n schedule, or a
    downstream run's upstream schedule."""
    return run.schedule or run.upstream_schedule


def _cell_rows(table: Table, head: List[Cell], e2e_groups: List[SeedGroup], inc_groups: List[SeedGroup],
               metric: str, ratio_cost: str) -> None:
    """One cell of a seed-grouped table: its E2E row(s), incubation row(s) and Δ row(s)."""
    e2e = e2e_groups[0] if e2e_groups else None
    rows: List[Tuple[str, Optional[SeedGroup]]] = []
    for label, method_groups in (('E2E', e2e_groups), ('incubation', inc_groups)):
        several = len(method_groups) > 1  # e.g. two m+n schedules: told apart by it
        rows += [(f'{label} {_schedule(g.first)}'.strip() if several else label, g) for g in method_groups]
        rows += [] if method_groups else [(label, None)]
    for label, group in rows:
        if group is None:
            table.add(head + [Cell(label), Cell(None), Cell('no run'), Cell(None)] + [Cell(None) for _ in COSTS]
                      + [Cell(None, 'na')])
            continue
        incubation = group.first.method == 'incubation'
        cells = head + [Cell(label), Cell(', '.join('–' if s is None else str(s) for s in group.seeds)),
                        Cell(group.status), Cell(group.metric(metric), 'meanstd:metric')]
        cells += [Cell(group.cost(c), f'meanstd:{COST_KINDS[c]}') for c in COSTS]
        cells.append(Cell(_ratio(group, e2e, ratio_cost), 'ratio') if incubation else Cell(None, 'na'))
        table.add(cells)
    for inc in inc_groups if e2e is not None else []:
        delta = paired_deltas(e2e, inc, metric)
        seeds = sorted({r.seed for r in inc.runs if r.seed is not None} & {r.seed for r in e2e.runs})
        label = DELTA_LABEL if len(inc_groups) == 1 else f'Δ (incubation {_schedule(inc.first)} − E2E)'
        table.add(head + [Cell(label), Cell(', '.join(map(str, seeds)) or None),
                          Cell('done' if e2e.status == inc.status == 'done' else 'partial'),
                          Cell(delta, 'meanstd:delta')] + [Cell(None, 'na') for _ in COSTS] + [Cell(None, 'na')])


def _seed_notes(groups: Sequence[SeedGroup], ratio_cost: str) -> List[str]:
    notes = [
        'Mean ± sample standard deviation over the seeds; Δ: the mean ± std of the per-seed differences '
        '(incubation − E2E of the same seed). A cost a run does not record is shown as –, never as 0. '
        'In a partial cell only its finished runs are counted (n=k of m).',
        f'Cost ratio = incubation / E2E, both mean over seeds, in {COST_LABELS[ratio_cost]}'
        + (' (deterministic: the same for every seed and machine).' if ratio_cost == 'train_flops' else '.'),
        'Training device-h: training steps only (runtime.DeviceHoursHook: GPU wall clock x GPUs, or the '
        'process\'s CPU time); end-to-end device-h: process start to exit (start-up, data, evaluation, '
        'checkpoints); incubation sums meta, the four incubations and the fine-tune.']
    shared = sorted({Path(p.charged_from).name for g in groups for r in g.runs for p in r.phases if p.charged})
    if shared:
        notes.append('The meta model is trained once per seed and data set and shared by every depth and budget '
                     '(tools/incubate.py --meta); its full cost (all three costs) is charged to every incubation row '
                     f'that uses it ({", ".join(shared)}).')
    return notes


def depth_table(groups: Sequence[SeedGroup], ratio_cost: str = DEFAULT_RATIO_COST, name: Optional[str] = None) -> Table:
    """One depth study: per depth an E2E row, an incubation row and a Δ row; every cell is the
    mean ± std over seeds (runs that differ only by seed); the three costs of each."""
    first = groups[0].first
    metric = primary_metric(first.task)
    metric_label = get_task(first.task).label(metric)
    ratio_label = f'cost ratio to E2E ({COST_LABELS[ratio_cost]})'
    columns = (['model', 'depth', 'variant', 'method', 'seeds', 'status', metric_label]
               + [COST_LABELS[c] for c in COSTS] + [ratio_label])
    name = name or f'depth_{first.task}_{first.family}_{first.variant}'.replace(' ', '-')
    table = Table(name, f'{get_task(first.task).title} {first.family} {first.variant}: '
                        f'{metric_label} and cost by depth (mean ± std over seeds)',
                  columns, align=['l'] * 6 + ['r'] * (len(columns) - 6))
    for e2e_groups, inc_groups in by_model(groups):
        some = (e2e_groups + inc_groups)[0].first
        _cell_rows(table, [Cell(some.model), Cell(some.depth, 'int'), Cell(some.variant)], e2e_groups, inc_groups,
                   metric, ratio_cost)
    table.notes += _seed_notes(groups, ratio_cost)
    return table


def data_studies(runs: Sequence[Run]) -> List[Tuple[Tuple[str, str, str], List[SeedGroup]]]:
    """((task, model, variant without its subset), seed groups) for every model trained on
    several shares of its data (variants ``<base>`` = 100% and ``<base>-subset<N>``), each group
    sorted by the share."""
    studies: Dict[Tuple[str, str, str], List[SeedGroup]] = {}
    for group in seed_groups(runs):
        run = group.first
        if run.phase:
            continue
        studies.setdefault((run.task, norm_name(run.model), norm_name(data_share(run.variant)[0])), []).append(group)
    out = []
    for key, groups in studies.items():
        if len({g.first.data_percent for g in groups}) > 1:
            groups.sort(key=lambda g: (g.first.data_percent, g.first.method != 'e2e', norm_name(g.first.schedule)))
            out.append((key, groups))
    return out


def data_table(groups: Sequence[SeedGroup], ratio_cost: str = DEFAULT_RATIO_COST) -> Table:
    """One data-efficiency study: per share of the training data an E2E, an incubation and a Δ row,
    mean ± std over seeds, with the three costs (the same epochs at every share)."""
    first = groups[0].first
    base = data_share(first.variant)[0]
    metric = primary_metric(first.task)
    metric_label = get_task(first.task).label(metric)
    columns = (['model', 'depth', 'data (%)', 'variant', 'method', 'seeds', 'status', metric_label]
               + [COST_LABELS[c] for c in COSTS] + [f'cost ratio to E2E ({COST_LABELS[ratio_cost]})'])
    table = Table(f'data_{first.task}_{first.model}_{base}'.replace(' ', '-'),
                  f'{get_task(first.task).title} {first.model} {base}: {metric_label} and cost by the '
                  'share of the training data (mean ± std over seeds)', columns,
                  align=['l', 'r', 'r', 'l', 'l', 'l', 'l'] + ['r'] * (len(columns) - 7))
    shares: Dict[int, Tuple[List[SeedGroup], List[SeedGroup]]] = {}
    for group in groups:
        pair = shares.setdefault(group.first.data_percent, ([], []))
        pair[0 if group.first.method == 'e2e' else 1].append(group)
    for share, (e2e_groups, inc_groups) in sorted(shares.items()):
        some = (e2e_groups + inc_groups)[0].first
        _cell_rows(table, [Cell(some.model), Cell(some.depth, 'int'), Cell(share, 'int'), Cell(some.variant)],
                   e2e_groups, inc_groups, metric, ratio_cost)
    schedule = ('the full share\'s optimiser steps (every phase but the shared meta model, E2E too, trains 100 / share '
                'times the epochs; variants ending in -steps)' if base.endswith('-steps') else 'the same epochs')
    table.notes.append('Each share is a class-balanced subset of the full share\'s training images (seeded, the same '
                       f'for every seed of the runs), with the same validation set and {schedule}.')
    table.notes += _seed_notes(groups, ratio_cost)
    return table


def phase_table(runs: Sequence[Run]) -> Optional[Table]:
    """What each phase of the seed-grouped pipelines reached (mean ± std over seeds): the meta
    model, each module's hybrid, the assembled network before fine-tuning, the final network,
    with the epochs per module; None when no depth or data study has a pipeline."""
    studied = {id(r) for _key, groups in depth_studies(runs) + data_studies(runs) for g in groups for r in g.runs}
    groups = [g for g in seed_groups([r for r in runs if id(r) in studied and r.kind == 'pipeline'])]
    if not groups:
        return None
    groups.sort(key=lambda g: (norm_name(g.first.family), data_share(g.first.variant)[0], g.first.data_percent,
                               g.first.depth or 0, norm_name(g.first.variant), norm_name(g.first.schedule)))
    first = groups[0].first
    metric = primary_metric(first.task)
    incubations = sorted({p.name for g in groups for r in g.runs for p in r.phases if record.is_incubation(p.name)},
                         key=lambda n: int(n[len(record.INCUBATE_PREFIX):]))
    columns = (['model', 'depth', 'variant', 'schedule', 'seeds', 'meta'] + [f'{n} (hybrid)' for n in incubations]
               + ['assembled, before fine-tune', 'fine-tuned'])
    table = Table(f'phases_{first.task}', f'{get_task(first.task).title}: top-1 after each phase of '
                                          'the incubation pipelines (mean ± std over seeds)',
                  columns, align=['l'] * 5 + ['r'] * (len(columns) - 5))

    def phase_metric(group: SeedGroup, name: str):
        return mean_std([next((p.metrics.get(metric) for p in r.phases if p.name == name), None) for r in group.runs])

    for group in groups:
        run = group.first
        cells = [Cell(run.model), Cell(run.depth, 'int'), Cell(run.variant), Cell(run.schedule),
                 Cell(', '.join('–' if s is None else str(s) for s in group.seeds))]
        cells += [Cell(phase_metric(group, name), 'meanstd:metric')
                  for name in [record.META, *incubations, record.ASSEMBLE]]
        cells.append(Cell(group.metric(metric), 'meanstd:metric'))
        table.add(cells)
    table.notes += ['A hybrid is the meta model with one module replaced by the target\'s, the others frozen: its '
                    'top-1 is that of the whole hybrid after the module\'s incubation. Schedule: incubation epochs '
                    'per module + fine-tune epochs. A shared meta model is the same for every row of its seed and '
                    'data set.']
    return table


def depth_tables(runs: Sequence[Run], ratio_cost: str = DEFAULT_RATIO_COST) -> List[Table]:
    return [depth_table(groups, ratio_cost) for _key, groups in depth_studies(runs)]


def data_tables(runs: Sequence[Run], ratio_cost: str = DEFAULT_RATIO_COST) -> List[Table]:
    return [data_table(groups, ratio_cost) for _key, groups in data_studies(runs)]


def build_tables(runs: Sequence[Run], reference: Optional[Dict[str, Any]] = None,
                 ratio_cost: str = DEFAULT_RATIO_COST) -> List[Table]:
    """Every table the report writes: the seed-grouped depth and data-share tables, one per task
    present, then cost, then efficiency."""
    reference = reference or load_reference()
    tasks: List[str] = []
    for run in runs:
        if run.task not in tasks:
            tasks.append(run.task)
    order = list(TASKS)  # registration order, then unregistered tasks by name
    tasks.sort(key=lambda t: (order.index(t) if t in order else len(order), t))
    tables = depth_tables(runs, ratio_cost) + data_tables(runs, ratio_cost)
    phases = phase_table(runs)
    tables += [phases] if phases is not None else []
    tables += [metric_table(task, runs, reference) for task in tasks]
    tables.append(cost_table(runs, reference))
    if any(r.task in task_names('cls') for r in runs):
        tables.append(efficiency_table(runs, reference))
    return tables


def model_key(run: Run) -> Tuple[str, str]:
    return run.task, norm_name(run.model)
