"""The Fashion-MNIST depth study: E2E vs Deep Incubation of width-64 ViTs at several depths and seeds.

``python -m benchmarks reproduce --preset fashion [--device cpu|cuda] [--seeds 0 1 2] [--depths 8 16 32]
[--work-dir W]`` trains, for every depth and seed, the E2E baseline (``tools/train.py``) and the
incubation pipeline (``tools/incubate.py``) from the ``vit-fashion-d<depth>_*`` configs, then
writes the report (depth table with mean ± std over seeds, depth trend, seed-band efficiency
curves) to ``W/report``.

* ``--device cpu`` (default): the ``*_fashion.py`` configs (5,000 training / 2,000 test images at
  16x16); two processes at a time, one thread each (``--jobs``, ``--threads``); on the CPU a run's
  training cost is its own CPU time, so runs sharing the cores are not charged for each other.
* ``--device cuda``: the ``*_fashion-full.py`` configs (all 60,000 / 10,000 images at 28x28), one
  run at a time (a GPU's device-hours are wall clock, which concurrent runs would inflate).

Each side keeps the schedule its configs give it (E2E and incubation are matched on training
FLOPs there; see docs/benchmarks.md). Every run has its own work dir ``W/d<depth>_<method>_seed<S>``;
running the command again skips the finished runs and resumes the others. ``fashion-smoke``
checks the whole path in a few minutes (1 epoch a phase, 200 training images, depths 8 and 16,
seeds 0 and 1); it is not a result.
"""
from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from runtime.launch import Command, LocalBackend, supervise
from runtime.progress import PROGRESS_FILE, Progress
from runtime.record import TRAIN_LOG

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'classification', 'configs')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')

# epochs=None: each side's own configs; subset: images per class (train, evaluation).
FASHION_PRESETS: Dict[str, Dict] = {
    'fashion': dict(depths=(8, 16, 32), seeds=(0, 1, 2), epochs=None, subset=None),
    'fashion-smoke': dict(depths=(8, 16), seeds=(0, 1), subset=(20, 10),
                          epochs=dict(e2e=1, meta=1, incubate=1, finetune=1)),
}
SUFFIX = {'cpu': 'fashion', 'cuda': 'fashion-full'}
PREFIX = '[fashion]'


@dataclass
class StudyRun:
    """One run of the study: a depth, a seed, a method; its command and work dir."""

    depth: int
    seed: int
    method: str  # 'e2e' or 'incubation'
    work_dir: str
    argv: List[str]

    @property
    def name(self) -> str:
        return osp.basename(self.work_dir)

    @property
    def log(self) -> str:
        return osp.join(self.work_dir, TRAIN_LOG if self.method == 'e2e' else 'incubate.out')

    @property
    def progress_source(self) -> str:
        """Where its ETA is read: the E2E run's mmengine log, the pipeline's status file."""
        return osp.join(self.work_dir, TRAIN_LOG if self.method == 'e2e' else PROGRESS_FILE)


def add_fashion_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('fashion presets')
    group.add_argument('--device', choices=sorted(SUFFIX), default='cpu',
                       help='cpu: the 16x16 5,000-image configs; cuda: the full-data 28x28 configs')
    group.add_argument('--depths', type=int, nargs='+', help='override the preset\'s depths (configs exist for 8 16 32)')
    group.add_argument('--jobs', type=int, help='runs at the same time (default: 2 on the CPU, 1 on a GPU)')


def config_for(depth: int, kind: str, device: str) -> str:
    """``vit-fashion-d<depth>_<kind>_<epochs>_<suffix>.py``; ``kind``: 'e2e' or 'incubation'."""
    pattern = osp.join(CONFIGS, f'vit-fashion-d{depth}_{kind}_*_{SUFFIX[device]}.py')
    found = sorted(glob.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f'{PREFIX} expected one config matching {pattern}, found {len(found)}')
    return found[0]


def _overrides(preset: Dict, data_root: Optional[str], seed: int, extra: Sequence[str]) -> List[str]:
    options = [f'randomness.seed={seed}']
    if data_root:
        options += [f'{loader}.dataset.data_root={data_root}' for loader in LOADERS]
    if preset.get('subset'):
        train, test = preset['subset']
        options += [f'train_dataloader.dataset.subset.per_class={train}']
        options += [f'{loader}.dataset.subset.per_class={test}' for loader in LOADERS[1:]]
    return options + list(extra)


def plan(preset: Dict, depths: Sequence[int], seeds: Sequence[int], work: str, device: str,
         data_root: Optional[str] = None, threads: int = 1, extra: Sequence[str] = ()) -> List[StudyRun]:
    """Every run, deepest first (the longest runs start first, so that the two slots end together)."""
    epochs = preset.get('epochs') or {}
    runs: List[StudyRun] = []
    for depth in sorted(depths, reverse=True):
        for seed in seeds:
            options = _overrides(preset, data_root, seed, extra)
            e2e_dir = osp.join(work, f'd{depth}_e2e_seed{seed}')
            e2e = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config_for(depth, 'e2e', device),
                   '--work-dir', e2e_dir, '--resume', '--cfg-options', *options]
            if 'e2e' in epochs:
                e2e.append(f'train_cfg.max_epochs={epochs["e2e"]}')
            inc_dir = osp.join(work, f'd{depth}_incubation_seed{seed}')
            inc = [sys.executable, osp.join(ROOT, 'tools', 'incubate.py'), config_for(depth, 'incubation', device),
                   '--work-dir', inc_dir, '--parallel', '1', '--threads-per-worker', str(threads)]
            for phase in ('meta', 'incubate', 'finetune'):
                if phase in epochs:
                    inc += [f'--{phase}-epochs', str(epochs[phase])]
            inc += ['--cfg-options', *options]
            runs += [StudyRun(depth, seed, 'e2e', e2e_dir, e2e), StudyRun(depth, seed, 'incubation', inc_dir, inc)]
    return runs


def is_finished(run: StudyRun) -> bool:
    """A run whose records say it finished (every phase, for a pipeline)."""
    from benchmarks.runs import read_run
    from runtime.record import RecordError

    if not osp.isdir(run.work_dir):
        return False
    try:
        return read_run(run.work_dir).status == 'done'
    except RecordError:
        return False


def execute(runs: Sequence[StudyRun], jobs: int, threads: int) -> Tuple[List[StudyRun], List[StudyRun]]:
    """Run the unfinished ones, ``jobs`` at a time; returns (ran, skipped). Exits naming a failed run's log."""
    todo = [r for r in runs if not is_finished(r)]
    skipped = [r for r in runs if r not in todo]
    # weights: E2E and incubation are matched on training FLOPs, which grow with depth
    progress = Progress([r.name for r in runs], prefix=PREFIX, weights={r.name: float(r.depth) for r in runs},
                        interval=60.0)
    for run in skipped:
        progress.skip(run.name)
        print(f'{PREFIX} {run.name}: finished before, skipped', flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    backend = LocalBackend()
    failed: List[StudyRun] = []

    def start(run: StudyRun, slot: int):
        os.makedirs(run.work_dir, exist_ok=True)
        print(f'{PREFIX} start {run.name} -> {run.log}', flush=True)
        job = backend.start(Command(run.argv, run.log, env=env, cwd=ROOT))
        progress.start(run.name, log=run.progress_source)
        return job

    def on_exit(run: StudyRun, job, code: int) -> None:
        print(f'{PREFIX} {run.name}: {"finished" if code == 0 else f"FAILED (exit {code}), see {run.log}"}',
              flush=True)
        progress.finish(run.name, ok=code == 0)
        if code != 0:
            failed.append(run)

    supervise(todo, start, max(1, jobs), on_exit=on_exit, on_progress=lambda run, job: progress.poll())
    print(progress.close(), flush=True)
    if failed:
        raise SystemExit(f'{PREFIX} {len(failed)} run(s) failed: {", ".join(r.name for r in failed)} '
                         '(re-running resumes them)')
    return todo, skipped


def run_study(args: argparse.Namespace) -> int:
    preset = dict(FASHION_PRESETS[args.preset])
    seeds = tuple(args.seeds) if args.seeds else preset['seeds']
    depths = tuple(args.depths) if args.depths else preset['depths']
    work = osp.abspath(args.work_dir or osp.join('work_dirs', args.preset + ('' if args.device == 'cpu' else '-cuda')))
    jobs = args.jobs or (2 if args.device == 'cpu' else 1)
    data_root = osp.abspath(args.data_root) if args.data_root else None
    runs = plan(preset, depths, seeds, work, args.device, data_root, args.threads, args.cfg_options)
    print(f'{PREFIX} preset {args.preset} on {args.device}: depths {depths}, seeds {seeds}, '
          f'{len(runs)} runs, {jobs} at a time -> {work}', flush=True)
    start = time.monotonic()
    ran, skipped = execute(runs, jobs, args.threads)
    print(f'{PREFIX} training: {len(ran)} run(s) in {(time.monotonic() - start) / 60:.1f} minutes, '
          f'{len(skipped)} finished before', flush=True)
    return report([r.work_dir for r in runs], osp.join(work, 'report'))


def report(run_dirs: Sequence[str], out: str) -> int:
    from benchmarks.records import write_study_record
    from benchmarks.report import collect_runs, write_report

    results = collect_runs(run_dirs)
    written = write_report(results, out)
    write_study_record(osp.dirname(out), osp.basename(osp.dirname(out)), results)
    depth = [t for name, t in written['tables'].items() if name.startswith('depth_')]
    print('\n'.join(t.to_markdown() for t in depth) or written['markdown_text'], flush=True)
    print(f'{PREFIX} every table and plot in {out} (report: {written["report"]})', flush=True)
    return 0
