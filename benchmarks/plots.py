"""Efficiency curves (accuracy vs cumulative training cost) and incubation convergence curves."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .analysis import MeanStd, SeedGroup, band, efficiency_pairs, speedup
from .costs import COST_LABELS, DEFAULT_RATIO_COST
from .runs import Run, is_schedule, norm_name
from .tasks import primary_metric, task_names

METRIC_LABELS = {'accuracy/top1': 'top-1 accuracy (%)', 'coco/bbox_mAP': 'box AP', 'mIoU': 'mIoU (%)'}
FORMATS = ('png', 'svg')


def _slug(*parts: str) -> str:
    return '_'.join(re.sub(r'[^A-Za-z0-9.+-]+', '-', str(p)).strip('-') or 'x' for p in parts if p is not None)


def _pyplot():
    import matplotlib

    matplotlib.use('Agg', force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir: Path, stem: str) -> List[Path]:
    import matplotlib

    paths = []
    for fmt in FORMATS:
        path = out_dir / f'{stem}.{fmt}'
        # svg.fonttype 'none': text stays text in the SVG (searchable, smaller)
        with matplotlib.rc_context({'svg.fonttype': 'none'}):
            fig.savefig(path, format=fmt, dpi=120, bbox_inches='tight')
        paths.append(path)
    return paths


def _device(runs: Sequence[Run]) -> str:
    types = sorted({r.cost.get('device_type') for r in runs if r.cost.get('device_type')})
    return f'; {", ".join(types)}' if types else ''


def efficiency_groups(runs: Sequence[Run]) -> List[Tuple[Optional[Run], List[Run]]]:
    """(E2E run, the incubation runs compared with it) for every efficiency plot."""
    groups: Dict[int, Tuple[Optional[Run], List[Run]]] = {}
    order: List[int] = []
    for e2e, inc in efficiency_pairs(runs):
        key = id(e2e) if e2e is not None else id(inc)
        if key not in groups:
            groups[key] = (e2e, [])
            order.append(key)
        if inc is not None:
            groups[key][1].append(inc)
    return [groups[k] for k in order]


def plot_efficiency(e2e: Optional[Run], incs: Sequence[Run], out_dir: Path) -> List[Path]:
    """Accuracy vs cumulative device-hours, one point per evaluation, speed-up annotated.

    An incubation curve's points are its fine-tune evaluations at meta + incubations +
    fine-tune-so-far device-hours (the assembled model before fine-tuning is in the convergence plot).
    """
    plt = _pyplot()
    some = e2e or incs[0]
    metric = primary_metric(some.task)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    e2e_curve = e2e.curve(metric) if e2e else []
    if e2e_curve:
        xs, ys = zip(*e2e_curve)
        ax.plot(xs, ys, 'o-', color='tab:gray', label=e2e.label)
        ax.axhline(e2e_curve[-1][1], color='tab:gray', ls=':', lw=0.8)
    notes = []
    for i, inc in enumerate(incs):
        curve = inc.curve(metric)
        if not curve:
            notes.append(f'{inc.label}: no evaluation yet')
            continue
        xs, ys = zip(*curve)
        color = f'C{i % 10}'
        ax.plot(xs, ys, 's-', color=color, label=inc.label)
        if e2e_curve:
            result = speedup(e2e_curve, curve)
            if result.factor is not None:
                ax.plot([result.reached_at], [result.target], '*', color=color, ms=12)
                ax.annotate(result.phrase(), (result.reached_at, result.target),
                            textcoords='offset points', xytext=(8, -14), color=color)
            notes.append(f'{inc.label}: {result.phrase()} to reach E2E\'s {result.target:.2f}'
                         if result.factor is not None else f'{inc.label}: E2E\'s {result.target:.2f} not reached')
    ax.set_xlabel(f'cumulative training cost (device-hours{_device([r for r in [e2e, *incs] if r])})')
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    variant = e2e.variant if e2e else incs[0].variant
    ax.set_title(f'{some.task} {some.model} {variant}'.strip() + ': accuracy vs training cost')
    if notes:
        ax.text(0.0, -0.16, '\n'.join(notes), transform=ax.transAxes, fontsize=8, va='top')
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right', fontsize=8)
    paths = _save(fig, out_dir, 'efficiency_' + _slug(some.task, some.model, variant))
    plt.close(fig)
    return paths


def convergence_groups(runs: Sequence[Run]) -> List[Tuple[str, List[Run]]]:
    """(name, incubation runs) whose fine-tuning is drawn together.

    Runs compared with the same E2E run (same variant, or m+n schedules next to the one E2E
    run) share a plot named after that E2E run's variant; unmatched m+n schedules of one task
    and model share one named ``m+n``; any other unmatched run (a data subset, a resolution)
    gets its own.
    """
    groups: Dict[Tuple, Tuple[str, List[Run]]] = {}
    for e2e, incs in efficiency_groups(runs):
        for inc in incs:
            if not inc.own_curve():
                continue
            if e2e is not None:
                key, name = ('e2e', id(e2e)), _slug(inc.task, inc.model, e2e.variant)
            elif is_schedule(inc.variant):
                key, name = (inc.task, norm_name(inc.model), 'm+n'), _slug(inc.task, inc.model, 'm+n')
            else:
                key = (inc.task, norm_name(inc.model), norm_name(inc.variant))
                name = _slug(inc.task, inc.model, inc.variant)
            groups.setdefault(key, (name, []))[1].append(inc)
    return list(groups.values())


def plot_convergence(name: str, incs: Sequence[Run], out_dir: Path) -> List[Path]:
    """Fine-tune convergence of incubation schedules (m+n) vs fine-tune device-hours.

    The assembled model's accuracy before fine-tuning (the manifest's ``assemble`` phase) is
    drawn at zero fine-tune cost.
    """
    plt = _pyplot()
    some = incs[0]
    metric = primary_metric(some.task)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, inc in enumerate(incs):
        curve = inc.own_curve(metric)
        xs, ys = zip(*curve)
        assembled = next((p.metrics.get(metric) for p in inc.phases if p.name == 'assemble'), None)
        if assembled is not None:
            xs, ys = (0.0, *xs), (assembled, *ys)
        label = inc.schedule or inc.variant or inc.name
        ax.plot(xs, ys, 'o-', color=f'C{i % 10}', label=label if inc.status == 'done' else f'{label} ({inc.status})')
    ax.set_xlabel(f'fine-tune cost (device-hours{_device(incs)})')
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f'{some.task} {some.model}: fine-tuning after incubation')
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right', fontsize=8, title='variant (m+n: epochs)')
    paths = _save(fig, out_dir, f'convergence_{name}')
    plt.close(fig)
    return paths


# --- depth studies (runs grouped by seed) ----------------------------------------------------


def plot_depth_trend(groups: Sequence[SeedGroup], out_dir: Path) -> List[Path]:
    """Final accuracy vs depth for E2E and incubation: mean over seeds, error bars one std."""
    plt = _pyplot()
    first = groups[0].first
    metric = primary_metric(first.task)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    depths = sorted({g.first.depth for g in groups if g.first.depth is not None})
    for method, label, style, color in (('e2e', 'E2E', 'o-', 'tab:gray'), ('incubation', 'incubation', 's-', 'C0')):
        points = []
        for group in groups:
            value = group.metric(metric) if group.first.method == method else None
            if value is not None and group.first.depth is not None:
                points.append((group.first.depth, value))
        if not points:
            continue
        points.sort(key=lambda p: p[0])
        seeds = max(v.n for _, v in points)
        ax.errorbar([d for d, _ in points], [v.mean for _, v in points],
                    yerr=[v.std or 0.0 for _, v in points], fmt=style, color=color, capsize=4,
                    label=f'{label} (mean ± std, {seeds} seed{"s" if seeds != 1 else ""})')
    if depths and min(depths) > 0:
        ax.set_xscale('log', base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.minorticks_off()
    ax.set_xlabel('depth (blocks)')
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f'{first.task} {first.family} {first.variant}: accuracy vs depth'.strip())
    ax.grid(alpha=0.3)
    ax.legend(loc='best', fontsize=8)
    paths = _save(fig, out_dir, 'depth_' + _slug(first.task, first.family, first.variant))
    plt.close(fig)
    return paths


def plot_data_trend(groups: Sequence[SeedGroup], out_dir: Path) -> List[Path]:
    """Final accuracy vs the share of the training data for E2E and incubation: mean over seeds,
    error bars one std; runs at the full share's optimiser steps (variants ``...-steps``) as
    dashed lines of their own."""
    from .runs import data_share

    plt = _pyplot()
    first = next((g.first for g in groups if not data_share(g.first.variant)[0].endswith('-steps')), groups[0].first)
    base = data_share(first.variant)[0]
    metric = primary_metric(first.task)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    shares = sorted({g.first.data_percent for g in groups})
    # one line per method, m+n schedule and kind of share (same epochs, or the full share's steps)
    lines: Dict[Tuple[str, str, bool], List[Tuple[int, MeanStd]]] = {}
    for group in groups:
        value = group.metric(metric)
        steps = data_share(group.first.variant)[0].endswith('-steps')
        if value is not None:
            lines.setdefault((group.first.method, group.first.schedule, steps), []).append(
                (group.first.data_percent, value))
    styles = {'e2e': ('E2E', 'o', ['tab:gray']), 'incubation': ('incubation', 's', ['C0', 'C1', 'C2', 'C3'])}
    for (method, schedule, steps), points in sorted(lines.items(), key=lambda kv: (kv[0][0] != 'e2e', kv[0][2])):
        label, marker, colors = styles[method]
        n = [k for k in lines if k[0] == method and not k[2]].index((method, schedule, False)) if not steps else 0
        points.sort(key=lambda p: p[0])
        seeds = max(v.n for _, v in points)
        kind = ', equal steps' if steps else ''
        ax.errorbar([d for d, _ in points], [v.mean for _, v in points],
                    yerr=[v.std or 0.0 for _, v in points], fmt=marker + ('--' if steps else '-'),
                    color=colors[n % len(colors)], capsize=4, mfc='white' if steps else None,
                    label=' '.join(p for p in (label, schedule) if p) + f'{kind} (mean ± std, {seeds} seed'
                    f'{"s" if seeds != 1 else ""})')
    ax.set_xscale('log', base=2)
    ax.set_xticks(shares, [f'{s}%' for s in shares])
    ax.minorticks_off()
    ax.set_xlabel('share of the training data (same epochs unless said)')
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f'{first.task} {first.model} {base}: accuracy vs training data'.strip())
    ax.grid(alpha=0.3)
    ax.legend(loc='best', fontsize=8)
    paths = _save(fig, out_dir, 'data_' + _slug(first.task, first.model, base))
    plt.close(fig)
    return paths


def _cost_axis(groups: Sequence[SeedGroup], cost: str) -> str:
    """``cost`` if every run has a curve on it (FLOPs need ``train_flops`` records), else training device-hours."""
    if cost == 'train_flops' and all(r.curve(cost=cost) for g in groups for r in g.runs):
        return cost
    return 'train_device_hours'


def plot_seed_efficiency(e2e: Optional[SeedGroup], inc: Optional[SeedGroup], out_dir: Path,
                         cost: str = DEFAULT_RATIO_COST) -> List[Path]:
    """Accuracy vs cumulative training cost for both methods: the mean over seeds of each
    evaluation, with a band of one std (seeds evaluate at the same epochs)."""
    plt = _pyplot()
    groups = [g for g in (e2e, inc) if g is not None]
    first = groups[0].first
    metric = primary_metric(first.task)
    axis = _cost_axis(groups, cost)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for group, label, style, color in ((e2e, 'E2E', 'o-', 'tab:gray'), (inc, 'incubation', 's-', 'C0')):
        if group is None:
            continue
        points = band([r.curve(metric, cost=axis) for r in group.runs])
        if not points:
            continue
        xs, ys, sd, ns = zip(*points)
        # error bars as well as the band: a curve of one evaluation has a band of no width
        ax.errorbar(xs, ys, yerr=sd, fmt=style, color=color, ms=4, capsize=3, lw=1.2,
                    label=f'{label} (mean ± std of {max(ns)} seed{"s" if max(ns) != 1 else ""})')
        ax.fill_between(xs, [y - d for y, d in zip(ys, sd)], [y + d for y, d in zip(ys, sd)], color=color, alpha=0.2,
                        lw=0)
    device = _device([r for g in groups for r in g.runs])[2:] if axis != 'train_flops' else ''
    ax.set_xlabel(f'cumulative {COST_LABELS[axis]}' + (f'\n({device})' if device else ''))
    ax.ticklabel_format(axis='x', style='sci', scilimits=(-3, 4))
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f'{first.task} {first.model} {first.variant}: accuracy vs training cost (band: ±1 std over seeds)',
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right', fontsize=8)
    paths = _save(fig, out_dir, 'efficiency_seeds_' + _slug(first.task, first.model, first.variant))
    plt.close(fig)
    return paths


# --- downstream tasks ------------------------------------------------------------------------


def downstream_points(runs: Sequence[Run], task: str, cost: str) -> List[Tuple[Run, float, float]]:
    """(run, total cost, score) of ``task``'s runs that have both: the total is the upstream run's
    training cost + the downstream run's (:meth:`Run.total_costs`), so only runs whose upstream
    is attached (or that start from random weights) have one."""
    metric = primary_metric(task)
    points = []
    for run in runs:
        if run.task == task and run.kind != 'test' and metric in run.metrics:
            total = run.total_costs()[cost]
            if total is not None:
                points.append((run, total, run.metrics[metric]))
    return points


def plot_downstream(task: str, runs: Sequence[Run], out_dir: Path, cost: str = DEFAULT_RATIO_COST) -> List[Path]:
    """A downstream task's final score (box AP, mIoU) against the total training cost (upstream +
    downstream), one point per run; ``cost`` when every point has it, else training device-hours."""
    axis = cost if cost in ('train_device_hours', 'train_flops') else 'train_device_hours'
    points = downstream_points(runs, task, axis)
    if axis != 'train_device_hours' and len(points) < len(downstream_points(runs, task, 'train_device_hours')):
        axis, points = 'train_device_hours', downstream_points(runs, task, 'train_device_hours')
    plt = _pyplot()
    metric = primary_metric(task)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    styles = {'e2e': ('o', 'tab:gray'), 'incubation': ('s', 'C0')}
    for run, x, y in points:
        marker, color = ('x', 'k') if run.random_init else styles[run.method]
        ax.plot([x], [y], marker, color=color, ms=7)
        name = f'{run.method_label} [{run.name}]' if run.status == 'done' else f'{run.method_label} ({run.status})'
        ax.annotate(f'{run.model} {run.variant}: {name}', (x, y), textcoords='offset points', xytext=(6, 4), fontsize=7)
    device = _device([r for r, _, _ in points]) if axis == 'train_device_hours' else ''
    ax.set_xlabel(f'total {COST_LABELS[axis]} (upstream + downstream{device})')
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f'{task}: score vs total training cost')
    ax.grid(alpha=0.3)
    paths = _save(fig, out_dir, 'score_vs_total_cost_' + _slug(task))
    plt.close(fig)
    return paths


def write_plots(runs: Sequence[Run], out_dir: Path, cost: str = DEFAULT_RATIO_COST) -> List[Path]:
    """Every plot: for a depth study (several depths or seeds, see :func:`benchmarks.tables.depth_studies`)
    its depth trend and one seed-band efficiency plot per depth; for a data study (several shares
    of the training data, see :func:`benchmarks.tables.data_studies`) its trend; for the other runs, every
    efficiency plot (an E2E run and the incubation runs compared with it) and convergence plot;
    for each downstream task (COCO, ADE20K, the scenes) with a run whose total cost (upstream +
    downstream) is known, its score against that total (:func:`plot_downstream`)."""
    from .tables import by_model, data_studies, depth_studies

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: List[Path] = []
    studied = set()
    for _key, groups in depth_studies(runs):
        studied |= {id(r) for g in groups for r in g.runs}
        if any(g.first.depth is not None for g in groups):
            paths += plot_depth_trend(groups, out_dir)
        for e2e_groups, inc_groups in by_model(groups):
            e2e, inc = (e2e_groups or [None])[0], (inc_groups or [None])[0]
            if any(r.curve() for g in (e2e, inc) if g is not None for r in g.runs):
                paths += plot_seed_efficiency(e2e, inc, out_dir, cost)
    for _key, groups in data_studies(runs):
        paths += plot_data_trend(groups, out_dir)
    every, runs = runs, [r for r in runs if id(r) not in studied]
    for e2e, incs in efficiency_groups(runs):
        if any(r.curve() for r in [e2e, *incs] if r is not None):
            paths += plot_efficiency(e2e, incs, out_dir)
    for name, incs in convergence_groups(runs):
        paths += plot_convergence(name, incs, out_dir)
    for task in task_names('downstream'):
        if downstream_points(every, task, 'train_device_hours'):
            paths += plot_downstream(task, every, out_dir, cost)
    return paths
