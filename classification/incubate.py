"""The command line of ``tools/incubate.py``: the pipeline (:mod:`classification.pipeline`) run
here, or its phases submitted to Slurm (:mod:`classification.cluster`, ``--launcher slurm``).

Apart from both, so that neither imports the other in a circle: the cluster plans with the
pipeline, and this module picks one of them. A :class:`~classification.pipeline.PipelineError`
is one line with exit status 1; any other :class:`~runtime.errors.UserError`, or a file the
standard library cannot use, is one line with exit status 2; ``--debug`` keeps the traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional, Sequence

from mmengine.config import DictAction

from classification import cluster
from classification.pipeline import IncubationPipeline, Launcher, PipelineError, summary
from runtime.cli import EXIT_USER_ERROR, UserError, one_line
from runtime.launch import LocalBackend


def make_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/incubate.py``."""
    parser = argparse.ArgumentParser(description='Deep Incubation: meta -> K incubations -> assembly -> fine-tune')
    parser.add_argument('config', help='pipeline config (has `pipeline = dict(meta=, incubate=, finetune=)`)')
    parser.add_argument('--work-dir', required=True, help='where every phase and the manifest go')
    parser.add_argument('--meta', help='start from this meta checkpoint (ours or converted official) instead of training one')
    parser.add_argument('--data-root', help='ImageNet-layout data root for every phase')
    parser.add_argument('--parallel', type=int, default=1, help='incubation runs at the same time')
    parser.add_argument('--nproc-per-worker', type=int, default=1, help='processes (GPUs) per run, through torchrun')
    parser.add_argument('--threads-per-worker', type=int, help='OMP threads per local process (CPU runs)')
    parser.add_argument('--modules', type=int, nargs='+', help='incubate only these modules here (others elsewhere)')
    parser.add_argument('--launcher', choices=['none', 'slurm'], default='none',
                        help='slurm: submit every phase as a dependent sbatch job and return; run the same '
                             'command again to see their state and resubmit what failed (docs/slurm.md)')
    parser.add_argument('--meta-epochs', type=int, help='override the meta phase\'s epochs')
    parser.add_argument('--incubate-epochs', type=int, help='override each incubation run\'s epochs (the paper\'s m)')
    parser.add_argument('--finetune-epochs', type=int, help='override the fine-tune epochs (the paper\'s n)')
    parser.add_argument('--no-assembled-eval', action='store_true', help='skip evaluating the assembled network')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='overrides for every phase')
    cluster.add_arguments(parser)
    parser.add_argument('--force-phase', action='append', default=[], metavar='NAME',
                        help='run phase NAME again, with every phase depending on it (old outputs moved aside)')
    parser.add_argument('--debug', action='store_true', help='show the traceback of expected errors too')
    parser.add_argument('--compile', action='store_true', help='torch.compile the network in every phase')
    parser.add_argument('--vis', nargs='+', choices=['local', 'tensorboard'], metavar='BACKEND',
                        help='every phase also logs to these mmengine visualisation back-ends (tensorboard: '
                             '`tensorboard --logdir WORK_DIR`)')
    parser.add_argument('--fresh-processes', action='store_true',
                        help='start every phase in a new interpreter; by default, on machines without CUDA devices, '
                             'phases are forked from one process that imported torch, timm and mmengine once')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = make_parser().parse_args(argv)
    try:
        return _main(args, argv)
    except PipelineError as exc:  # a UserError too, reported with the pipeline's own prefix and status
        if args.debug:
            raise
        print(f'[incubate] ERROR: {exc}', file=sys.stderr, flush=True)
        return 1
    except (UserError, json.JSONDecodeError, OSError) as exc:  # and the standard library's, for a file
        if args.debug:
            raise
        print(f'error: {user_message(exc)} (--debug shows the traceback)', file=sys.stderr, flush=True)
        return EXIT_USER_ERROR


def user_message(exc: BaseException) -> str:
    """One line that names the file: an OSError's own text often leaves it out."""
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in str(exc):
        return f'{exc.filename}: {exc.strerror or one_line(exc)}'
    if isinstance(exc, json.JSONDecodeError):
        return f'not valid JSON: {exc}'
    return one_line(exc)


def _main(args: argparse.Namespace, argv: List[str]) -> int:
    pipeline = IncubationPipeline(args.config, args.work_dir, meta=args.meta, data_root=args.data_root,
                                  cfg_options=dict(args.cfg_options or {}, **({'compile_network': True} if args.compile else {}),
                                                   **({'vis': list(args.vis)} if args.vis else {})),
                                  modules=args.modules,
                                  epochs=dict(meta=args.meta_epochs, incubate=args.incubate_epochs,
                                              finetune=args.finetune_epochs))
    if args.launcher == 'slurm' or args.status:
        return cluster.main(pipeline, args, argv)
    launcher = Launcher(nproc_per_worker=args.nproc_per_worker, threads_per_worker=args.threads_per_worker,
                        backend=LocalBackend() if args.fresh_processes else None)
    manifest = pipeline.run(launcher, parallel=max(1, args.parallel), evaluate_assembled=not args.no_assembled_eval,
                            force=args.force_phase)
    print(summary(manifest), flush=True)
    return 0
