"""The Fashion-MNIST studies: E2E vs Deep Incubation of width-64 ViTs by depth, data and budget, with seeds.

``python -m benchmarks reproduce --preset fashion|fashion-deep|fashion-d128|fashion-data|fashion-2x [--device cpu|cuda]
[--seeds 0 1 2] [--depths ...] [--work-dir W] [--smoke]`` trains, for every cell of the preset and
every seed, the E2E baseline (``tools/train.py``) and the incubation pipeline (``tools/incubate.py``)
from the ``vit-fashion-d<depth>_*`` configs, then writes the report (the depth table with mean ± std
over seeds, the data-share table, the trends, seed-band efficiency curves) to ``W/report[-PRESET]``.

* ``fashion``: depths 8, 16, 32 at the configs' recipe; ``fashion-deep``: depth 64 (its report adds
  the other depths found in ``W``); ``fashion-d128``: depth 128; ``fashion-data``: depth 32 on
  class-balanced 25% and 50% subsets of the same 5,000 training images, with the same validation
  set and epochs, and the 100% cell; ``fashion-data-steps``: the 50% and 25% shares with the full
  share's optimiser steps (E2E and every phase but the shared meta model train 100 / share times
  their epochs), its report beside the equal-epoch cells;
  ``fashion-2x``: depth 32 with twice each side's budget (its report adds the 1x cell).
* The meta model depends only on width, heads, K, data and seed: it is trained once per seed and
  data set (``W/meta_seed<S>_data<F>``, ``tools/train.py``) and handed to every pipeline of that
  data set (``--meta``); the report charges its full cost to each of them.
* Every run has its own work dir ``W/d<depth>_<method>_seed<S>[_data<F>][_<B>x]``; the presets
  share ``W`` (default ``work_dirs/fashion``), so a cell two presets have in common is trained
  once. Running a command again skips the finished runs and resumes the others.
* ``--device cpu`` (default): the ``*_fashion.py`` configs (5,000 training / 2,000 test images at
  16x16); two processes at a time, one thread each (``--jobs``, ``--threads``); on the CPU a run's
  training cost is its own CPU time, so runs sharing the cores are not charged for each other.
* ``--device cuda``: the ``*_fashion-full.py`` configs (all 60,000 / 10,000 images at 28x28), one
  run at a time (a GPU's device-hours are wall clock, which concurrent runs would inflate).

Each side keeps the schedule its configs give it (E2E and incubation are matched on training
FLOPs there; see docs/benchmarks.md). ``fashion-smoke``, and ``--smoke`` with any preset, check
the whole path in a few minutes (1 epoch a phase, 200 training images, batches of 16; smoke work
dirs default to ``work_dirs/fashion-smoke``); they are not results.
"""
from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import re
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from runtime import graph, slurm
from runtime.graph import Node
from runtime.launch import LocalBackend, failure_cause
from runtime.progress import PROGRESS_FILE, Progress
from runtime.record import TRAIN_LOG, artifact_name

from .records import record_runs
from .results import Context, Generated, ResultsError, figure_block, generator, joined_runs, measured_on, one_record
from .runs import run_finished

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'classification', 'configs')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')

# depths x data (percent of the study's training images) x budgets (x each side's epochs) are
# the cells; epochs=None: each side's own configs; subset: images per class (train, evaluation).
FASHION_PRESETS: Dict[str, Dict] = {
    'fashion': dict(depths=(8, 16, 32), seeds=(0, 1, 2), epochs=None, subset=None),
    'fashion-deep': dict(depths=(64,), seeds=(0, 1, 2), epochs=None, subset=None, report_depths=(8, 16, 32)),
    # the paper's deepest small-scale row (DeiT-T with 128 blocks on CIFAR-100): its own record
    'fashion-d128': dict(depths=(128,), seeds=(0, 1, 2), epochs=None, subset=None),
    'fashion-data': dict(depths=(32,), data=(100, 50, 25), seeds=(0, 1, 2), epochs=None, subset=None),
    # the same shares at equal optimiser steps: every phase but the shared meta model trains 100 / share
    # times its epochs, E2E too (its own rows); the report adds the equal-epoch cells
    'fashion-data-steps': dict(depths=(32,), data=(50, 25), steps=True, seeds=(0, 1, 2), epochs=None, subset=None,
                               report_data=(100, 50, 25)),
    'fashion-2x': dict(depths=(32,), budgets=(2,), seeds=(0, 1, 2), epochs=None, subset=None, report_budgets=(1,)),
    # the downstream suite's upstream recipe (items anywhere on 32x32 canvases, benchmarks.suite 'fashion-canvas')
    'fashion-canvas': dict(depths=(8,), seeds=(0, 1, 2), epochs=None, subset=None, recipe='canvas'),
    # batches of 16, so that a quarter of the 200 images is still 3 batches
    'fashion-smoke': dict(depths=(8, 16), seeds=(0, 1), subset=(20, 10),
                          epochs=dict(e2e=1, meta=1, incubate=1, finetune=1),
                          cfg_options=('train_dataloader.batch_size=16', 'effective_batch_size=16')),
}
# --smoke: any preset's path at the smoke preset's size (a check, not a result)
SMOKE = {key: FASHION_PRESETS['fashion-smoke'][key] for key in ('subset', 'epochs', 'cfg_options')}
SUFFIX = {'cpu': 'fashion', 'cuda': 'fashion-full'}
VARIANT = {'cpu': '16px-5k', 'cuda': '28px'}  # the configs' benchmark.variant
TRAIN_PER_CLASS = 500  # the CPU configs' training subset (5,000 images)
# Twice the budget, by the budget rule with the shared 20-epoch meta model: E2E 2E, fine-tune 2E/4,
# incubation what the E2E FLOPs leave: (40 x 168.9 - 20 x 21.3 - 10 x 168.9) / 201.3 = 23.1 -> 23.
BUDGET_EPOCHS = {(32, 2): dict(e2e=40, incubate=23, finetune=10)}
META_CONFIG_DEPTH = 32  # the meta model (4 one-block modules) is one network at every depth
# Upstream recipes: config name prefix, suffix (None: by device) and the depth whose meta config
# is used. '16px': the depth study's; 'canvas': items of 12-32 px anywhere on 32x32 (the suite's).
RECIPES: Dict[str, Tuple[str, Optional[str], int]] = {
    '16px': ('vit-fashion', None, META_CONFIG_DEPTH),
    'canvas': ('vit-fashion-canvas', 'fashion-canvas', 8),
}
PREFIX = '[fashion]'


@dataclass(frozen=True)
class Cell:
    """One cell of the studies: a depth, a share of the training images (percent), a budget."""

    depth: int
    data: int = 100
    budget: int = 1
    steps: bool = False  # the optimiser steps of the full share (epochs x 100 / data), not its epochs

    @property
    def tag(self) -> str:
        """Work-dir suffix: '' for the depth study's cells, so that every preset shares them."""
        return (('' if self.data == 100 else f'_data{self.data}') + ('' if self.budget == 1 else f'_{self.budget}x')
                + ('_steps' if self.steps else ''))

    def variant(self, device: str) -> str:
        return (VARIANT[device] + ('' if self.data == 100 else f'-subset{self.data}')
                + ('' if self.budget == 1 else f'-{self.budget}x') + ('-steps' if self.steps else ''))


@dataclass
class StudyRun:
    """One run of the study: a cell, a seed, a method (e2e, incubation or meta); its command and work dir."""

    depth: int
    seed: int
    method: str  # 'e2e', 'incubation' or 'meta' (the shared meta model of a seed and data set)
    work_dir: str
    argv: List[str]
    needs: Tuple[str, ...] = ()  # work dirs that must have finished first

    @property
    def name(self) -> str:
        return osp.basename(self.work_dir)

    @property
    def log(self) -> str:
        return osp.join(self.work_dir, 'incubate.out' if self.method == 'incubation' else TRAIN_LOG)

    @property
    def progress_source(self) -> str:
        """Where its ETA is read: a training run's mmengine log (E2E, meta), the pipeline's status file."""
        return osp.join(self.work_dir, PROGRESS_FILE if self.method == 'incubation' else TRAIN_LOG)


def add_fashion_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('fashion presets')
    group.add_argument('--device', choices=sorted(SUFFIX), default='cpu',
                       help='cpu: the 16x16 5,000-image configs; cuda: the full-data 28x28 configs')
    group.add_argument('--depths', type=int, nargs='+',
                       help='override the preset\'s depths (configs exist for 8 16 32 64 on the CPU)')
    group.add_argument('--data', type=int, nargs='+', metavar='PERCENT',
                       help='override the preset\'s shares of the training data (fashion-data: 100 50 25)')
    group.add_argument('--jobs', type=int, help='runs at the same time (default: 2 on the CPU, 1 on a GPU)')
    group.add_argument('--report-only', action='store_true',
                       help='train nothing: write the result record and the report of what the work dir holds')
    group.add_argument('--smoke', action='store_true',
                       help='run the preset\'s path at toy size (1 epoch a phase, 200 training images; not a result)')
    cluster = parser.add_argument_group('fashion presets on Slurm (--launcher slurm, docs/slurm.md)')
    cluster.add_argument('--launcher', choices=['local', 'slurm'], default='local',
                         help='slurm: submit every run as a batch job, each incubation pipeline as its phases '
                              '(afterok) and return; the same command again reports, resubmits what failed and, '
                              'once every job is done, writes the report')
    cluster.add_argument('--status', action='store_true', help='--launcher slurm: report the jobs, submit nothing')
    slurm.add_sbatch_arguments(cluster)


def config_for(depth: int, kind: str, device: str, recipe: str = '16px') -> str:
    """``<prefix>-d<depth>_<kind>_<epochs>_<suffix>.py`` of a recipe (:data:`RECIPES`); ``kind``:
    'e2e', 'incubation' or 'meta' (the meta config of the recipe's meta depth)."""
    prefix, suffix, meta_depth = RECIPES[recipe]
    depth = meta_depth if kind == 'meta' else depth
    pattern = osp.join(CONFIGS, f'{prefix}-d{depth}_{kind}_*_{suffix or SUFFIX[device]}.py')
    found = sorted(glob.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f'{PREFIX} expected one config matching {pattern}, found {len(found)}')
    return found[0]


def cells(preset: Dict, depths: Optional[Sequence[int]] = None, report: bool = False) -> List[Cell]:
    """The preset's cells in the order they run (``report``: with the cells its report shows too)."""
    depths = tuple(depths or preset['depths'])
    steps = bool(preset.get('steps'))
    out = [Cell(d, f, b, steps=steps and f != 100) for d in depths for f in preset.get('data', (100,))
           for b in preset.get('budgets', (1,))]
    if report:
        out += [Cell(d) for d in preset.get('report_depths', ())]
        out += [Cell(d, f) for d in depths for f in preset.get('report_data', ())]
        out += [Cell(d, 100, b) for d in depths for b in preset.get('report_budgets', ())]
    return out


def _data_options(preset: Dict, data_root: Optional[str], seed: int, cell: Cell, device: str) -> List[str]:
    options = [f'randomness.seed={seed}']
    if data_root:
        options += [f'{loader}.dataset.data_root={data_root}' for loader in LOADERS]
    train_per_class = TRAIN_PER_CLASS
    if preset.get('subset'):
        train_per_class, test = preset['subset']
        options += [f'train_dataloader.dataset.subset.per_class={train_per_class}']
        options += [f'{loader}.dataset.subset.per_class={test}' for loader in LOADERS[1:]]
    if cell.data != 100:
        if device != 'cpu':
            raise SystemExit(f'{PREFIX} data subsets ({cell.data}%) are defined for the CPU configs only')
        # a class-balanced share of the same training images, the validation set unchanged
        options += [f'train_dataloader.dataset.subset.per_class={max(1, train_per_class * cell.data // 100)}',
                    f'train_dataloader.dataset.subset.within={train_per_class}']
    if cell.data != 100 or cell.budget != 1:
        options.append(f'benchmark.variant={cell.variant(device)}')
    return options + list(preset.get('cfg_options', ()))


def configured_epochs(depth: int, device: str, recipe: str = '16px') -> Dict[str, int]:
    """Each phase's epochs as the depth's configs name them: ``..._e2e_<E>e_...`` and
    ``..._incubation_<I>e+<F>e_...``."""
    e2e = re.search(r'_e2e_(\d+)e_', osp.basename(config_for(depth, 'e2e', device, recipe)))
    inc = re.search(r'_incubation_(\d+)e\+(\d+)e_', osp.basename(config_for(depth, 'incubation', device, recipe)))
    if not (e2e and inc):
        raise SystemExit(f'{PREFIX} depth {depth}: cannot read the epochs from its config names')
    return dict(e2e=int(e2e.group(1)), incubate=int(inc.group(1)), finetune=int(inc.group(2)))


def _schedule(cell: Cell, device: str, recipe: str, epochs: Dict[str, int]) -> Dict[str, int]:
    """The epochs a cell overrides: its budget's, the preset's; an equal-step cell scales them all
    (but the meta model's) by 100 / share, so that a share trains as many steps as the full one."""
    if not cell.steps:
        return dict(_budget(cell, device), **epochs)
    if device != 'cpu' or 100 % cell.data or cell.budget != 1:
        raise SystemExit(f'{PREFIX} equal-step cells are defined for shares that divide 100, at 1x, on the CPU; '
                         f'not {cell.data}% {cell.budget}x on {device}')
    base = dict(configured_epochs(cell.depth, device, recipe), **{k: v for k, v in epochs.items() if k != 'meta'})
    return dict(epochs, **{k: v * (100 // cell.data) for k, v in base.items()})


def _budget(cell: Cell, device: str) -> Dict[str, int]:
    if cell.budget == 1:
        return {}
    if (cell.depth, cell.budget) not in BUDGET_EPOCHS or device != 'cpu':
        raise SystemExit(f'{PREFIX} no {cell.budget}x schedule for depth {cell.depth} on {device}; '
                         f'defined: {", ".join(f"depth {d} x{b} (cpu)" for d, b in BUDGET_EPOCHS)}')
    return BUDGET_EPOCHS[(cell.depth, cell.budget)]


def plan(preset: Dict, depths: Sequence[int], seeds: Sequence[int], work: str, device: str,
         data_root: Optional[str] = None, threads: int = 1, extra: Sequence[str] = (),
         cells_: Optional[Sequence[Cell]] = None) -> List[StudyRun]:
    """Every run, the shared meta models first, then the cells deepest first (the longest runs
    start first, so that the two slots end together).

    Work dirs: ``WORK/d<depth>_<method>_seed<S>[_data<F>][_<B>x]`` and one meta model per seed and
    data set, ``WORK/meta_seed<S>_data<F>``, which every depth and budget of that data set uses
    (``tools/incubate.py --meta``): presets sharing ``WORK`` share those runs.
    """
    todo = sorted(cells_ or cells(preset, depths), key=lambda c: (-c.data, -c.depth, c.budget))
    epochs = preset.get('epochs') or {}
    recipe = preset.get('recipe', '16px')
    runs: List[StudyRun] = []
    metas: Dict[Tuple[int, int], StudyRun] = {}
    for cell in todo:
        for seed in seeds:
            options = _data_options(preset, data_root, seed, cell, device) + list(extra)
            schedule = _schedule(cell, device, recipe, epochs)
            meta = metas.get((seed, cell.data))
            if meta is None:
                meta_dir = osp.join(work, f'meta_seed{seed}_data{cell.data}')
                meta_options = [o for o in options if not o.startswith('benchmark.variant=')]
                if cell.data != 100:
                    meta_options.append(f'benchmark.variant={Cell(cell.depth, cell.data).variant(device)}')
                argv = [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                        config_for(cell.depth, 'meta', device, recipe), '--work-dir', meta_dir, '--resume',
                        '--cfg-options', *meta_options]
                if 'meta' in epochs:
                    argv.append(f'train_cfg.max_epochs={epochs["meta"]}')
                meta = metas[(seed, cell.data)] = StudyRun(cell.depth, seed, 'meta', meta_dir, argv)
                runs.append(meta)
            e2e_dir = osp.join(work, f'd{cell.depth}_e2e_seed{seed}{cell.tag}')
            e2e = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config_for(cell.depth, 'e2e', device, recipe),
                   '--work-dir', e2e_dir, '--resume', '--cfg-options', *options]
            if 'e2e' in schedule:
                e2e.append(f'train_cfg.max_epochs={schedule["e2e"]}')
            inc_dir = osp.join(work, f'd{cell.depth}_incubation_seed{seed}{cell.tag}')
            inc = [sys.executable, osp.join(ROOT, 'tools', 'incubate.py'),
                   config_for(cell.depth, 'incubation', device, recipe), '--work-dir', inc_dir,
                   '--meta', osp.join(meta.work_dir, artifact_name('meta')),
                   '--parallel', '1', '--threads-per-worker', str(threads)]
            for phase in ('incubate', 'finetune'):
                if phase in schedule:
                    inc += [f'--{phase}-epochs', str(schedule[phase])]
            inc += ['--cfg-options', *options]
            runs += [StudyRun(cell.depth, seed, 'e2e', e2e_dir, e2e),
                     StudyRun(cell.depth, seed, 'incubation', inc_dir, inc, needs=(meta.work_dir,))]
    # the metas first: every incubation waits for its own
    return [r for r in runs if r.method == 'meta'] + [r for r in runs if r.method != 'meta']


def graph_nodes(runs: Sequence[StudyRun]) -> List[Node]:
    """The study's runs as run-graph nodes: each incubation needs its seed's meta model."""
    names = {r.work_dir: r.name for r in runs}
    return [Node(r.name, list(r.argv), r.work_dir, needs=tuple(names[n] for n in r.needs if n in names),
                 done=lambda r=r: run_finished(r.work_dir), log=r.log, labels=dict(method=r.method, seed=r.seed, depth=r.depth))
            for r in runs]


def execute(runs: Sequence[StudyRun], jobs: int, threads: int) -> Tuple[List[StudyRun], List[StudyRun]]:
    """Run the unfinished ones on the run graph (:func:`runtime.graph.run_local`), ``jobs`` at a
    time; returns (ran, skipped). Exits naming a failed run's log."""
    by_name = {r.name: r for r in runs}
    nodes = graph_nodes(runs)
    skipped = [by_name[n.name] for n in nodes if n.done()]
    # weights: E2E and incubation are matched on training FLOPs, which grow with depth
    progress = Progress([r.name for r in runs], prefix=PREFIX, weights={r.name: float(r.depth) for r in runs},
                        interval=60.0)
    for run in skipped:
        progress.skip(run.name)
        print(f'{PREFIX} {run.name}: finished before, skipped', flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))

    def on_start(node: Node) -> None:
        print(f'{PREFIX} start {node.name} -> {node.log}', flush=True)
        progress.start(node.name, log=by_name[node.name].progress_source)

    def on_exit(node: Node, code: int) -> None:
        if code == 0:
            print(f'{PREFIX} {node.name}: finished', flush=True)
        else:
            cause = failure_cause(node.log) or 'no cause in its log'
            print(f'{PREFIX} {node.name}: FAILED (exit {code}): {cause}; log {node.log}', flush=True)
        progress.finish(node.name, ok=code == 0)

    ran, failed = graph.run_local(nodes, LocalBackend(), max(1, jobs), on_start, on_exit,
                                  on_progress=lambda node: progress.poll(), env=env, cwd=ROOT, progress_seconds=60.0)
    print(progress.close(), flush=True)
    if failed:
        cause = failure_cause(failed[0].log) or 'no cause in its log'
        raise SystemExit(f'{PREFIX} {len(failed)} run(s) failed: {", ".join(n.name for n in failed)} '
                         f'({failed[0].name}: {cause}); fix that and run the command again to resume them')
    return [by_name[n.name] for n in ran], skipped


SLURM_STATE = 'fashion-slurm.json'


def submit_slurm(runs: Sequence[StudyRun], work: str, args: argparse.Namespace) -> bool:
    """Submit the study's runs to Slurm as one run graph (each pipeline spliced in as its phase
    jobs), or with ``--status`` only report them; True when every run is done."""
    from classification.incubate import node_job_options, splice_pipelines
    from runtime.lock import LOCK_FILE, exclusive

    if args.status and not osp.isdir(work):
        raise SystemExit(f'{PREFIX} {work}: nothing submitted there yet')
    os.makedirs(work, exist_ok=True)
    with exclusive(osp.join(work, LOCK_FILE), 'is in use by another `benchmarks reproduce` or `benchmarks suite`; '
                   'wait for it to end, or use another --work-dir'):
        nodes = splice_pipelines(graph_nodes(runs), write_configs=not args.status)
        states = graph.submit_slurm(nodes, osp.join(work, SLURM_STATE), node_job_options(args, 'fashion', args.threads,
                                                                                            chdir=ROOT),
                                    status_only=args.status)
    print(graph.slurm_report(states, f'{PREFIX} slurm jobs of {work}:'), flush=True)
    if all(s.verdict == 'done' for s in states):
        return True
    print(f'{PREFIX} run the same command (or with --status) to watch; it resubmits only what failed; the report '
          'is written once every job is done', flush=True)
    return False


def default_work_dir(name: str, device: str, smoke: bool) -> str:
    """One store for every fashion preset (``work_dirs/fashion``), so that they share their cells;
    the smoke size has its own."""
    base = 'fashion-smoke' if smoke or name == 'fashion-smoke' else 'fashion'
    return osp.join('work_dirs', base + ('' if device == 'cpu' else '-cuda'))


def report_dir(work: str, name: str) -> str:
    return osp.join(work, 'report' if name in ('fashion', 'fashion-smoke') else f'report-{name}')


def run_study(args: argparse.Namespace) -> int:
    preset = dict(FASHION_PRESETS[args.preset], **(SMOKE if getattr(args, 'smoke', False) else {}))
    seeds = tuple(args.seeds) if args.seeds else preset['seeds']
    depths = tuple(args.depths) if args.depths else preset['depths']
    if getattr(args, 'data', None):
        if any(not 0 < share <= 100 for share in args.data):
            raise SystemExit(f'{PREFIX} --data {" ".join(map(str, args.data))}: shares are percents in 1..100')
        preset['data'] = tuple(args.data)
    work = osp.abspath(args.work_dir or default_work_dir(args.preset, args.device, getattr(args, 'smoke', False)))
    jobs = args.jobs or (2 if args.device == 'cpu' else 1)
    data_root = osp.abspath(args.data_root) if args.data_root else None
    runs = plan(preset, depths, seeds, work, args.device, data_root, args.threads, args.cfg_options)
    print(f'{PREFIX} preset {args.preset} on {args.device}: cells '
          f'{", ".join(f"d{c.depth}/{c.data}%/{c.budget}x" for c in cells(preset, depths))}, seeds {seeds}, '
          f'{len(runs)} runs, {jobs} at a time -> {work}', flush=True)
    start = time.monotonic()
    if getattr(args, 'launcher', 'local') == 'slurm' and not getattr(args, 'report_only', False):
        if not submit_slurm(runs, work, args):
            return 0
        ran, skipped = [], list(runs)
    elif getattr(args, 'report_only', False):
        ran, skipped = [], [r for r in runs if run_finished(r.work_dir)]
        print(f'{PREFIX} --report-only: {len(skipped)} of {len(runs)} runs finished, nothing trained', flush=True)
    else:
        from runtime.lock import LOCK_FILE, exclusive

        # the suite's lock too: a suite reusing this folder as its --upstream-dir waits its turn
        with exclusive(osp.join(work, LOCK_FILE), 'is in use by another `benchmarks reproduce` or `benchmarks suite`; '
                       'wait for it to end, or use another --work-dir'):
            ran, skipped = execute(runs, jobs, args.threads)
    minutes = (time.monotonic() - start) / 60
    print(f'{PREFIX} training: {len(ran)} run(s) in {minutes:.1f} minutes, {len(skipped)} finished before',
          flush=True)
    shown = plan(preset, depths, seeds, work, args.device, data_root, args.threads, args.cfg_options,
                 cells_=cells(preset, depths, report=True))
    # the cells the report adds (other depths, the 1x budget) where they have run; metas are charged
    # to the pipelines that use them, not shown as runs
    dirs = [r.work_dir for r in shown if r.method != 'meta' and osp.isdir(r.work_dir)]
    extra = dict(preset=args.preset, smoke=bool(getattr(args, 'smoke', False)), device=args.device,
                 cells=[vars(c) for c in cells(preset, depths, report=True)], jobs=jobs, threads=args.threads,
                 trained_runs=[r.name for r in ran], minutes_this_command=round(minutes, 2),
                 shared_meta_runs=sorted(r.name for r in runs if r.method == 'meta'))
    return report(dirs, report_dir(work, args.preset), record=result_record_path(work, args.preset),
                  study=args.preset, seeds=seeds, extra=extra)


def result_record_path(work: str, name: str) -> str:
    """``WORK/results.json`` for the depth study, ``WORK/results-<preset>.json`` for the others
    (they share ``WORK``)."""
    from benchmarks.records import study_record_path

    path = study_record_path(work)
    return path if name in ('fashion', 'fashion-smoke') else osp.splitext(path)[0] + f'-{name}.json'


def report(run_dirs: Sequence[str], out: str, record: Optional[str] = None, study: str = 'fashion',
           seeds: Sequence[int] = (), extra: Optional[Dict] = None) -> int:
    """The result record of the runs (``record``), then the report generated from that record alone."""
    from benchmarks.records import command_line, record_runs, write_record
    from benchmarks.report import collect_runs, write_report

    runs = collect_runs(run_dirs)
    if record:
        runs = record_runs(write_record(record, study, command_line(), runs, seeds, extra))
        print(f'{PREFIX} result record: {record}', flush=True)
    written = write_report(runs, out)
    depth = [t for name, t in written['tables'].items() if name.startswith(('depth_', 'data_'))]
    print('\n'.join(t.to_markdown() for t in depth) or written['markdown_text'], flush=True)
    print(f'{PREFIX} every table and plot in {out} (report: {written["report"]})', flush=True)
    return 0


# --- the generated blocks of its page (python -m benchmarks results) ---------------------------


@generator('depth-table')
def depth_table(ctx: Context) -> Generated:
    """A depth study's table (every seed group of the record's runs)."""
    from .tables import depth_studies
    from .tables import depth_table as build

    # several records join (depths run by different presets, e.g. fashion and fashion-d128); a run in two is refused
    studies = depth_studies(joined_runs(ctx, 'depth-table'))
    if not studies:
        raise ResultsError('depth-table: the records hold no depth study (several depths or seeds of one model)')
    text = '\n'.join(build(groups).to_markdown(title=False) for _key, groups in studies)
    return Generated(text + measured_on(ctx))


@generator('depth-figure')
def depth_figure(ctx: Context) -> Generated:
    from .plots import plot_depth_trend
    from .tables import depth_studies

    def draw(runs, folder):
        return [p for _k, groups in depth_studies(runs) for p in plot_depth_trend(groups, folder)]

    return figure_block(ctx, 'depth', draw, 'top-1 against depth, both methods: mean and one std over seeds')


@generator('efficiency-figure')
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

    return figure_block(ctx, 'efficiency', draw, 'top-1 against cumulative training FLOPs: mean and one std over seeds')


def _data_groups(ctx: Context, name: str):
    from .tables import data_studies

    # several records join (the equal-epoch and the equal-step shares, from two presets); a run in two is refused
    studies = [groups for _key, groups in data_studies(joined_runs(ctx, name))]
    if not studies:
        raise ResultsError(f'{name}: the records hold no data study (one model on several shares of its data)')
    return studies


@generator('data-table')
def data_table(ctx: Context) -> Generated:
    """A data-efficiency study's table: per share of the data E2E, incubation and the paired Δ."""
    from .tables import data_table as build

    text = '\n'.join(build(groups).to_markdown(title=False) for groups in _data_groups(ctx, 'data-table'))
    return Generated(text + measured_on(ctx))


@generator('data-figure')
def data_figure(ctx: Context) -> Generated:
    from .plots import plot_data_trend
    from .tables import data_studies

    _data_groups(ctx, 'data-figure')

    def draw(runs, folder):  # the equal-epoch and equal-step studies in one figure
        return plot_data_trend([g for _k, groups in data_studies(runs) for g in groups], folder)

    return figure_block(ctx, 'data', draw, 'top-1 against the share of the training data, both methods: mean and one std '
                                      'over seeds')


@generator('phase-table')
def phase_table(ctx: Context) -> Generated:
    """What each phase of a study's incubation pipelines reached (meta, hybrids, assembled, fine-tuned)."""
    from .tables import phase_table as build

    table = build(record_runs(one_record(ctx, 'phase-table')))
    if table is None:
        raise ResultsError('phase-table: the record holds no pipeline of a depth or data study')
    return Generated(table.to_markdown(title=False))


@generator('phase-runs')
def phase_runs(ctx: Context) -> Generated:
    """:func:`phase_table` per seed: what each phase of every incubation pipeline of the record reached."""
    from .tables import phase_table as build

    runs = record_runs(one_record(ctx, 'phase-runs'))
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
