"""The command line of ``tools/incubate.py``: the pipeline (:mod:`classification.pipeline`) run
here, or submitted to Slurm as a plan of run-graph nodes (``--launcher slurm``).

Under Slurm the pipeline is the nodes :func:`slurm_nodes` plans, submitted by the project's one
Slurm executor, :func:`runtime.graph.submit_slurm`:

* one **meta** node (none with ``--meta CKPT``);
* K **incubate_i** nodes, each ``afterok`` on the meta job;
* one **final** node, ``afterok`` on all K, that runs the same ``tools/incubate.py`` command with
  the local launcher: meta and modules are done, so it checks the assembly, evaluates the
  assembled network and fine-tunes (and writes the manifest).

Each phase job runs ``tools/train.py <phase>_config.py --work-dir <phase dir> --resume``, so a
job requeued at its time limit (or resubmitted after a failure) continues from its last
checkpoint. A job is one task with ``--gpus`` (alias ``--gpus-per-job``) GPUs; with
``--nproc-per-worker G > 1`` it runs a ``torchrun --standalone`` group of G processes inside it.
The job ids go into ``DIR/slurm-jobs.json`` (:data:`SLURM_STATE`); running the same command again
reports every node, and resubmits only what failed, was cancelled, timed out or was lost, and
what waits behind a failure. The benchmark suite splices the same nodes into its own graph.

A :class:`~classification.pipeline.PipelineError` is one line with exit status 1; any other
:class:`~runtime.errors.UserError`, or a file the standard library cannot use, is one line with
exit status 2; ``--debug`` keeps the traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import os.path as osp
import sys
from typing import Callable, List, Optional, Sequence

from mmengine.config import DictAction

from classification.pipeline import ROOT, TRAIN, IncubationPipeline, Launcher, Phase, PipelineError, summary
from runtime import graph, record, slurm
from runtime.cli import EXIT_USER_ERROR, UserError, one_line
from runtime.launch import LocalBackend
from runtime.lock import exclusive

INCUBATE = osp.join(ROOT, 'tools', 'incubate.py')
SLURM_STATE = record.SLURM_STATE  # the graph's state file in the pipeline's work dir
FINAL = record.FINAL_NODE         # the node that fine-tunes and writes the manifest


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
    parser.add_argument('--stop-after', choices=[record.ASSEMBLE],
                        help='stop once the assembled network is evaluated (the assemble job of --launcher slurm)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='overrides for every phase')
    group = parser.add_argument_group('Slurm (--launcher slurm, see docs/slurm.md)')
    slurm.add_sbatch_arguments(group, gpus_default=None,
                               gpus_help='One task per job (one node). Default: --nproc-per-worker')
    group.add_argument('--status', action='store_true',
                       help='report the state of the submitted jobs and phases; submit nothing')
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


def pipeline_from(args: argparse.Namespace) -> IncubationPipeline:
    """The pipeline a ``tools/incubate.py`` command line plans."""
    return IncubationPipeline(args.config, args.work_dir, meta=args.meta, data_root=args.data_root,
                              cfg_options=dict(args.cfg_options or {}, **({'compile_network': True} if args.compile else {}),
                                               **({'vis': list(args.vis)} if args.vis else {})),
                              modules=args.modules,
                              epochs=dict(meta=args.meta_epochs, incubate=args.incubate_epochs,
                                          finetune=args.finetune_epochs))


def _main(args: argparse.Namespace, argv: List[str]) -> int:
    pipeline = pipeline_from(args)
    if args.launcher == 'slurm' or args.status:
        return slurm_main(pipeline, args, argv)
    launcher = Launcher(nproc_per_worker=args.nproc_per_worker, threads_per_worker=args.threads_per_worker,
                        backend=LocalBackend() if args.fresh_processes else None)
    manifest = pipeline.run(launcher, parallel=max(1, args.parallel), evaluate_assembled=not args.no_assembled_eval,
                            force=args.force_phase, stop_after=args.stop_after)
    print(summary(manifest), flush=True)
    return 0


# --- the pipeline as run-graph nodes (Slurm) ----------------------------------------------------


def phase_command(phase: Phase, nproc: int) -> List[str]:
    """``tools/train.py`` of one phase, resuming; a torchrun group of ``nproc`` inside the job's one task."""
    args = [phase.config_file, '--work-dir', phase.work_dir, '--resume']
    if nproc > 1:
        # --standalone: a free rendezvous port on the node, whatever else runs there
        return [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}',
                TRAIN, *args, '--launcher', 'pytorch']
    return [sys.executable, '-u', TRAIN, *args, '--launcher', 'none']


def final_command(argv: Sequence[str], num_modules: int, stop_after: Optional[str] = None) -> List[str]:
    """The user's own ``tools/incubate.py`` words with the local launcher: every option
    (``--meta``, epochs, ``--cfg-options``, ``--no-assembled-eval`` ...) reaches the assemble and
    final jobs as typed. All modules are due by then, hence ``--modules`` with all of them; the
    assemble job stops after the assembled network's evaluation (``--stop-after assemble``)."""
    return [sys.executable, '-u', INCUBATE, *argv, '--launcher', 'none',
            '--modules', *[str(i) for i in range(num_modules)], *(['--stop-after', stop_after] if stop_after else [])]


def slurm_nodes(pipeline: IncubationPipeline, argv: Sequence[str], nproc: int = 1, prefix: str = '',
                needs: Sequence[str] = ()) -> List[graph.Node]:
    """The pipeline as run-graph nodes: meta, incubate_0 .. incubate_K-1, assemble (checks the
    module files, assembles and evaluates; left out with ``--no-assembled-eval``), final (fine-tunes
    and writes the manifest; last).

    Args:
        pipeline: the plan.
        argv: the ``tools/incubate.py`` words (without the script) the final node runs again locally.
        nproc: processes of each phase job (a torchrun group when > 1).
        prefix: prepended to every node's name (``upstream/<run>/`` in the suite).
        needs: nodes outside the pipeline that its first nodes wait for (a shared meta model).
    """
    meta_needs = tuple(needs)
    nodes: List[graph.Node] = []
    if not pipeline.meta_given:
        meta = pipeline.meta_phase()
        nodes.append(graph.Node(prefix + meta.name, phase_command(meta, nproc), meta.work_dir, needs=meta_needs,
                                done=meta.finished, labels=dict(phase=meta.name)))
        meta_needs = (nodes[0].name,)
    incubations = pipeline.incubate_phases()
    for phase in incubations:
        held = '' if phase.module_idx in pipeline.modules else 'not in --modules'
        nodes.append(graph.Node(prefix + phase.name, phase_command(phase, nproc), phase.work_dir, needs=meta_needs,
                                done=phase.finished, held=held, labels=dict(phase=phase.name)))
    final_needs = tuple(prefix + p.name for p in incubations)
    if '--no-assembled-eval' not in argv:
        nodes.append(graph.Node(prefix + record.ASSEMBLE, final_command(argv, len(incubations), record.ASSEMBLE),
                                pipeline.assemble_dir, needs=final_needs,
                                done=lambda: osp.isfile(pipeline.assembled_metrics), labels=dict(phase=record.ASSEMBLE)))
        final_needs = (prefix + record.ASSEMBLE,)
    finetune = pipeline.finetune_phase()
    nodes.append(graph.Node(prefix + FINAL, final_command(argv, len(incubations)), finetune.work_dir,
                            needs=final_needs, done=finetune.finished, labels=dict(phase=FINAL)))
    return nodes


def write_phase_configs(pipeline: IncubationPipeline) -> None:
    """Every unfinished phase's merged config: what its job trains from."""
    for phase in pipeline.trained_phases():
        if not phase.finished():
            phase.write_config()


def job_options(args: argparse.Namespace, job_name: str, log_dir: str, nproc: int,
                threads: Optional[int] = None, chdir: Optional[str] = None) -> slurm.SbatchOptions:
    """The sbatch options of one job: the command line's Slurm options, one task (torchrun, or the
    final job's pipeline, starts the processes inside it), the log in ``log_dir``, run from here."""
    gpus = nproc if getattr(args, 'gpus', None) is None else args.gpus
    options = slurm.sbatch_options_from(args, gpus_per_node=gpus)
    env = {**options.env, 'PYTHONPATH': os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)}
    threads = threads or options.cpus_per_task
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
    return dataclasses.replace(options, job_name=job_name, output=osp.join(log_dir, 'slurm-%j.out'), nodes=1,
                               ntasks_per_node=1, chdir=chdir or os.getcwd(), env=env, srun=False)


def is_pipeline_node(node: graph.Node) -> bool:
    """Whether a run-graph node runs this pipeline (``python tools/incubate.py ...``)."""
    return len(node.argv) > 1 and node.argv[1] == INCUBATE


def splice_pipelines(nodes: Sequence[graph.Node], write_configs: bool = False) -> List[graph.Node]:
    """A graph as Slurm runs it: each ``tools/incubate.py`` node replaced by the pipeline's own
    nodes (:func:`slurm_nodes`, named ``<node>/meta``, ``<node>/incubate_i``, ...; what needed the
    node needs its final node). ``write_configs``: write the phase configs their jobs train from."""
    parser = make_parser()
    out = list(nodes)
    for node in nodes:
        if not is_pipeline_node(node):
            continue
        words = node.argv[2:]
        parsed = parser.parse_args(words)
        pipeline, nproc = pipeline_from(parsed), parsed.nproc_per_worker
        sub = slurm_nodes(pipeline, words, nproc, prefix=f'{node.name}/')
        for part in sub:
            part.labels = dict(node.labels, **part.labels, nproc=nproc)
        if write_configs:
            write_phase_configs(pipeline)
        out = graph.splice(out, node.name, sub)
    return out


def node_job_options(args: argparse.Namespace, prefix: str, threads: int,
                     chdir: Optional[str] = None) -> Callable[[graph.Node], slurm.SbatchOptions]:
    """The sbatch options of each node of a graph a command submits: a spliced pipeline phase as
    :func:`job_options` (one task, torchrun inside it), any other node one job with the command
    line's Slurm options, its log ``slurm-<id>.out`` in its work dir; job names ``<prefix>-<node>``."""
    def options(node: graph.Node) -> slurm.SbatchOptions:
        name = f'{prefix}-{node.name.replace("/", "-")}'
        if 'phase' in node.labels:
            return job_options(args, name, node.work_dir, int(node.labels.get('nproc', 1)), threads, chdir=chdir)
        return slurm.sbatch_options_from(
            args, job_name=name, output=osp.join(node.work_dir, 'slurm-%j.out'), chdir=chdir or os.getcwd(),
            env={'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': str(threads)})
    return options


def migrate_manifest_jobs(work_dir: str, state_path: str) -> None:
    """Work dirs submitted by versions that kept the jobs in the manifest (each phase's ``job``):
    their jobs move to the state file, so a job still queued or running is not submitted twice."""
    if osp.isfile(state_path):
        return
    try:
        jobs = record.manifest_jobs(work_dir)
    except record.RecordError as e:
        raise PipelineError(f'{e}; move it away to start the bookkeeping afresh') from None
    if jobs:
        graph.write_jobs(state_path, jobs)
        manifest = record.read_manifest(work_dir)
        for phase in manifest.phases:
            phase.job = None
        record.write_manifest(work_dir, manifest, keep_jobs=False)


def slurm_main(pipeline: IncubationPipeline, args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``tools/incubate.py ... --launcher slurm`` (or ``--status``): report, then (re)submit."""
    if args.nproc_per_worker < 1:
        raise PipelineError(f'--nproc-per-worker must be >= 1 (got {args.nproc_per_worker})')
    work_dir = pipeline.work_dir
    os.makedirs(work_dir, exist_ok=True)
    state_path = osp.join(work_dir, SLURM_STATE)
    prefix = osp.basename(work_dir.rstrip('/')) or 'incubation'
    nodes = slurm_nodes(pipeline, argv, args.nproc_per_worker)

    def options(node: graph.Node) -> slurm.SbatchOptions:
        return job_options(args, f'{prefix}-{node.name}', node.work_dir, args.nproc_per_worker, args.threads_per_worker)

    with exclusive(osp.join(work_dir, '.slurm.lock'), 'is being submitted by another tools/incubate.py', PipelineError):
        migrate_manifest_jobs(work_dir, state_path)
        if not args.status:
            pipeline.check_inputs()
            write_phase_configs(pipeline)
        states = graph.submit_slurm(nodes, state_path, options, status_only=args.status)
    print(graph.slurm_report(states, f'[incubate] slurm jobs of {work_dir}:'), flush=True)
    if all(s.verdict == 'done' for s in states):
        print(f'[incubate] all phases done: {pipeline.finetune_phase().artifact}', flush=True)
    elif args.status and any(s.verdict in graph.FAILURES + ('not submitted',) for s in states):
        print('[incubate] run the same command without --status to (re)submit what is not done, queued or running',
              flush=True)
    elif not args.status:
        print('[incubate] watch with the same command (or --status); it resubmits only what failed', flush=True)
    return 0
