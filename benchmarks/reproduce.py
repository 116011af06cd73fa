"""Reproductions end to end: ``make demo`` (digits) and the Fashion-MNIST depth study.

The small-scale reproduction behind ``make demo``: E2E vs Deep Incubation on real digits.

scikit-learn's handwritten digits (real scans, shipped in its wheel) are written in the
ImageNet folder layout, then the E2E baseline (``tools/train.py``) and the incubation pipeline
(``tools/incubate.py``) train the same deep narrow ViT (16 blocks, width 64, K = 4) through the
same configs mechanism as ImageNet. Both sides run at the same time on the machine's cores
(the pipeline two incubations at a time), each process with one thread; on the CPU the cost of
a run is its process CPU time (core-hours, see ``runtime.DeviceHoursHook``), so sharing the
cores does not distort the comparison.

Presets (the whole schedule of each side; ``--seeds`` repeats the pair):
  cpu   E2E 45 epochs | meta 25, incubation 4 x 20, fine-tune 10, seeds 0 1 (two seeds, one pair after
        the other, to fit `make demo`'s 10 minutes on 2 cores: one seed is no verdict)
  long  E2E 100 epochs | meta 100, incubation 4 x 50, fine-tune 25, seeds 0 1 2 (about an hour
        on 2 cores, estimated from the cpu preset)

The Fashion-MNIST studies (see :mod:`benchmarks.fashion_study`): ``--preset fashion``, E2E and
incubation of width-64 ViTs at depths 8, 16 and 32, seeds 0 1 2, each side's schedule from its
``vit-fashion-d<depth>_*_fashion.py`` configs (``--device cuda``: the full-data ``*_fashion-full.py``);
``fashion-deep`` (depth 64), ``fashion-data`` (25% and 50% of the training images at depth 32) and
``fashion-2x`` (twice the budget at depth 32), all in one shared work dir with one meta model per
seed and data set.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from runtime import graph
from runtime.graph import Node
from runtime.launch import LocalBackend
from runtime.progress import PROGRESS_FILE, Progress
from runtime.record import TRAIN_LOG

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'classification', 'configs')
E2E_CONFIG = osp.join(CONFIGS, 'vit-digits-d16_e2e_60e_digits.py')
PIPELINE_CONFIG = osp.join(CONFIGS, 'vit-digits-d16_incubation_30e+15e_digits.py')

PRESETS: Dict[str, Dict] = {
    'cpu': dict(e2e=45, meta=25, incubate=20, finetune=10, seeds=(0, 1), parallel=2),
    'long': dict(e2e=100, meta=100, incubate=50, finetune=25, seeds=(0, 1, 2), parallel=2),
    # a few epochs of each, for checking the command itself
    'smoke': dict(e2e=3, meta=3, incubate=3, finetune=3, seeds=(0,), parallel=2),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.fashion_study import FASHION_PRESETS, add_fashion_arguments

    parser.add_argument('--preset', choices=sorted(PRESETS) + sorted(FASHION_PRESETS), default='cpu')
    parser.add_argument('--work-dir', help='default: work_dirs/demo (digits), work_dirs/fashion (every fashion '
                                           'preset; work_dirs/fashion-smoke at smoke size)')
    parser.add_argument('--data-root', help='digits: where they are written (default: WORK_DIR/data/digits); '
                                            'fashion: the idx files (default: the configs\' Debian path)')
    parser.add_argument('--seeds', type=int, nargs='+', help='override the preset\'s seeds')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads for each of the two sides')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='extra overrides for every run (key=value)')
    add_fashion_arguments(parser)
    parser.add_argument('--compile', action='store_true', help='torch.compile the network in every run')


def _commands(preset: Dict, seed: int, work: str, data: str, threads: int, extra: List[str]):
    common = [f'randomness.seed={seed}', *extra]
    roots = [f'{loader}.dataset.data_root={data}' for loader in ('train_dataloader', 'val_dataloader',
                                                                  'test_dataloader')]
    e2e_dir = osp.join(work, f'e2e_seed{seed}')
    e2e = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), E2E_CONFIG, '--work-dir', e2e_dir, '--resume',
           '--cfg-options', f'train_cfg.max_epochs={preset["e2e"]}', *roots, *common]
    inc_dir = osp.join(work, f'incubation_seed{seed}')
    incubation = [sys.executable, osp.join(ROOT, 'tools', 'incubate.py'), PIPELINE_CONFIG, '--work-dir', inc_dir,
                  '--data-root', data, '--threads-per-worker', str(threads), '--parallel', str(preset['parallel']),
                  '--meta-epochs', str(preset['meta']),
                  '--incubate-epochs', str(preset['incubate']), '--finetune-epochs', str(preset['finetune']),
                  '--cfg-options', *common]
    return (e2e, e2e_dir), (incubation, inc_dir)


def progress_weights(preset: Dict, seeds) -> Dict[str, float]:
    """Each side's rough share of the work, for the ETA: epochs x blocks run (16 blocks, K = 4)."""
    incubation = preset['meta'] * 4 + 4 * preset['incubate'] * (3 + 4) + preset['finetune'] * 16
    weights = {}
    for seed in seeds:
        weights[f'e2e_seed{seed}'] = float(preset['e2e'] * 16)
        weights[f'incubation_seed{seed}'] = float(incubation)
    return weights


def run_pair(preset: Dict, seed: int, work: str, data: str, threads: int, extra: List[str],
             progress: Optional[Progress] = None) -> Dict[str, str]:
    """E2E and incubation for one seed, side by side; returns their work dirs. ``progress``
    (over every seed's runs, named ``e2e_seed<S>`` / ``incubation_seed<S>``) is told when each
    starts and ends, and prints the overall line."""
    from benchmarks.runs import run_finished

    (e2e_cmd, e2e_dir), (inc_cmd, inc_dir) = _commands(preset, seed, work, data, threads, extra)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    e2e_log = osp.join(e2e_dir, TRAIN_LOG)
    # two nodes of the run graph, side by side; the pipeline reports its own progress: its output
    # is shown (and kept in its work dir)
    nodes = [Node(f'e2e_seed{seed}', e2e_cmd, e2e_dir, log=e2e_log, done=lambda: run_finished(e2e_dir),
                  labels=dict(side='e2e')),
             Node(f'incubation_seed{seed}', inc_cmd, inc_dir, log=osp.join(inc_dir, 'incubate.out'),
                  done=lambda: run_finished(inc_dir), echo='[demo] incubation | ', labels=dict(side='incubation'))]
    sources = {nodes[0].name: e2e_log, nodes[1].name: osp.join(inc_dir, PROGRESS_FILE)}  # where each side's ETA is read
    progress = progress or Progress([n.name for n in nodes], prefix='[demo]')
    for node in nodes:
        print(f'[demo] seed {seed}: {node.labels["side"]:<10} -> {node.log}\n[demo]   {node}', flush=True)
        if node.done():
            progress.skip(node.name)
    graph.run_local(nodes, LocalBackend(), 2, on_start=lambda n: progress.start(n.name, log=sources[n.name]),
                    on_exit=lambda n, code: progress.finish(n.name, ok=code == 0),
                    on_progress=lambda n: progress.poll(), env=env, cwd=ROOT)
    if not nodes[0].done():
        raise SystemExit(f'[demo] the E2E run failed; see {e2e_log} (re-running resumes it)')
    if not nodes[1].done():
        raise SystemExit('[demo] the incubation pipeline failed; see above (re-running resumes it)')
    return dict(e2e=e2e_dir, incubation=inc_dir)


def run(args: argparse.Namespace) -> int:
    if args.preset not in PRESETS:
        from benchmarks.fashion_study import run_study
        return run_study(args)
    if getattr(args, 'launcher', 'local') != 'local':
        raise SystemExit(f'[demo] --launcher {args.launcher}: the {args.preset} preset runs here; the fashion '
                         'presets run on Slurm too')
    from classification.digits import write_digits

    args.work_dir = args.work_dir or 'work_dirs/demo'
    preset = dict(PRESETS[args.preset])
    seeds = tuple(args.seeds) if args.seeds else preset['seeds']
    work = osp.abspath(args.work_dir)
    data = osp.abspath(args.data_root or osp.join(work, 'data', 'digits'))
    start = time.monotonic()
    print(f'[demo] preset {args.preset}: E2E {preset["e2e"]} epochs vs meta {preset["meta"]} + '
          f'4 x {preset["incubate"]} incubation + {preset["finetune"]} fine-tune epochs; seeds {seeds}', flush=True)
    print(f'[demo] writing scikit-learn digits to {write_digits(data)} (1,437 train / 360 val, 16x16)', flush=True)
    names = [f'{side}_seed{seed}' for seed in seeds for side in ('e2e', 'incubation')]
    progress = Progress(names, prefix='[demo]', weights=progress_weights(preset, seeds), interval=30.0)
    runs: List[str] = []
    for seed in seeds:
        extra = list(args.cfg_options) + (['compile_network=True'] if args.compile else [])
        pair = run_pair(preset, seed, work, data, args.threads, extra, progress)
        runs += [pair['e2e'], pair['incubation']]
    minutes = (time.monotonic() - start) / 60
    print(progress.close(), flush=True)
    print(f'[demo] training finished in {minutes:.1f} minutes', flush=True)
    extra = dict(preset=args.preset, schedule={k: preset[k] for k in ('e2e', 'meta', 'incubate', 'finetune')},
                 threads=args.threads, cfg_options=list(args.cfg_options), compile=bool(args.compile),
                 wall_minutes=round(minutes, 2), val_images=360,
                 data='scikit-learn digits: 1,437 train / 360 val, 8x8 scans upsampled to 16x16')
    return report(runs, osp.join(work, 'report'), study='demo' if args.preset == 'cpu' else f'digits-{args.preset}',
                  extra=extra)


def report(runs: List[str], out: str, study: Optional[str] = None, extra: Optional[Dict] = None) -> int:
    """Tables and plots of the runs into ``out``; with ``study``, also the result record
    ``<out>/../results.json`` (:func:`benchmarks.records.write_study_record`)."""
    from benchmarks.records import write_study_record
    from benchmarks.report import collect_runs, write_report
    results = collect_runs(runs)
    written = write_report(results, out)
    print(written.get('markdown_text', ''), flush=True)
    print(f'[demo] tables and plots in {out}', flush=True)
    if study:
        write_study_record(osp.dirname(out), study, results, extra=extra)
    return 0
