"""Deep Incubation on a Slurm cluster: the whole method submitted at once as dependent batch jobs.

``tools/incubate.py CONFIG --work-dir DIR --launcher slurm ...`` plans the phases as the local
pipeline does (:class:`~classification.pipeline.IncubationPipeline`), writes every phase's
merged config, submits and returns:

* one **meta** job (none with ``--meta CKPT``);
* K **incubation** jobs, each ``afterok`` on the meta job;
* one **final** job, ``afterok`` on all K, that runs the same ``tools/incubate.py`` command with
  the local launcher: meta and modules are done, so it checks the assembly, evaluates the
  assembled network and fine-tunes.

Each phase job runs ``tools/train.py <phase>_config.py --work-dir <phase dir> --resume``, so a
job requeued at its time limit (or resubmitted after a failure) continues from its last
checkpoint. A job is one task with ``--gpus`` (alias ``--gpus-per-job``) GPUs; with ``--nproc-per-worker G > 1`` it
runs a ``torchrun --standalone`` group of G processes inside that task (the final job's local
pipeline does the same for the fine-tune).

The job ids go into ``DIR/manifest.json`` (each phase's ``job``). Running the same command again
reads them, asks Slurm (``squeue``/``scontrol``, then the job-completion log) and the disk (the
phases' artifacts), reports every phase as done, running, pending or failed (with its log), and
resubmits only what failed, was cancelled, timed out or was lost, with ``afterok`` on the jobs
still queued or running (a finished dependency's artifact exists; Slurm forgets finished jobs
and refuses dependencies on them). A job still queued or running is never submitted twice;
one queued behind a job that is being replaced is cancelled and resubmitted behind the new one.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set

from classification.pipeline import ROOT, TRAIN, IncubationPipeline, Phase, PipelineError, exclusive
from runtime import record, slurm
from runtime.launch import tail
from runtime.record import JobRecord, Manifest

INCUBATE = osp.join(ROOT, 'tools', 'incubate.py')
FINAL = 'final'                                 # the job that assembles, evaluates and fine-tunes
FINAL_PHASES = (record.ASSEMBLE, record.FINETUNE)
FAILURES = ('failed', 'cancelled', 'timeout', 'lost')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The Slurm options of ``tools/incubate.py`` (used with ``--launcher slurm``): those of
    :func:`runtime.slurm.add_sbatch_arguments`, and ``--status``."""
    group = parser.add_argument_group('Slurm (--launcher slurm, see docs/slurm.md)')
    slurm.add_sbatch_arguments(group, gpus_default=None,
                               gpus_help='One task per job (one node). Default: --nproc-per-worker')
    group.add_argument('--status', action='store_true',
                       help='report the state of the submitted jobs and phases; submit nothing')


@dataclass
class SlurmSettings:
    """Resources of every job of one pipeline: the Slurm options, and the processes of each job."""

    sbatch: slurm.SbatchOptions = field(default_factory=slurm.SbatchOptions)
    nproc_per_worker: int = 1
    threads_per_worker: Optional[int] = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> 'SlurmSettings':
        if args.nproc_per_worker < 1:
            raise PipelineError(f'--nproc-per-worker must be >= 1 (got {args.nproc_per_worker})')
        gpus = args.nproc_per_worker if args.gpus is None else args.gpus
        return cls(slurm.sbatch_options_from(args, gpus_per_node=gpus), args.nproc_per_worker,
                   args.threads_per_worker)

    def options(self, job_name: str, log_dir: str, chdir: str) -> slurm.SbatchOptions:
        env = {**self.sbatch.env,
               'PYTHONPATH': os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)}
        threads = self.threads_per_worker or self.sbatch.cpus_per_task
        if threads:
            env['OMP_NUM_THREADS'] = str(threads)
        # one task: torchrun (or the final job's pipeline) starts the G processes inside it
        return dataclasses.replace(self.sbatch, job_name=job_name, output=osp.join(log_dir, 'slurm-%j.out'),
                                   nodes=1, ntasks_per_node=1, chdir=chdir, env=env, srun=False)


@dataclass
class Unit:
    """One job's worth of the pipeline: a phase (meta, incubate_i) or the final job."""

    name: str
    phases: List[str]               # the manifest phases it produces
    command: List[str]
    log_dir: str                    # its Slurm log and batch script go here
    chdir: str
    done: bool
    upstream: List[str]             # units whose artifacts it needs
    in_scope: bool = True           # this command may submit it (--modules)


@dataclass
class UnitState:
    """What became of a unit in this pass: its job, Slurm's word on it, and what was done about it."""

    unit: Unit
    job: Optional[JobRecord] = None
    info: Optional[slurm.JobInfo] = None
    verdict: str = 'not submitted'  # done | running | pending | failed | cancelled | timeout | lost | not submitted
    action: str = ''
    failed_job: Optional[JobRecord] = None  # the job that failed, when this pass replaced it
    failed_verdict: str = ''

    @property
    def active(self) -> bool:
        return self.verdict in ('running', 'pending')


def phase_command(phase: Phase, nproc: int) -> List[str]:
    """``tools/train.py`` of one phase, resuming; a torchrun group of ``nproc`` inside the job's one task."""
    args = [phase.config_file, '--work-dir', phase.work_dir, '--resume']
    if nproc > 1:
        # --standalone: a free rendezvous port on the node, whatever else runs there
        return [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}',
                TRAIN, *args, '--launcher', 'pytorch']
    return [sys.executable, '-u', TRAIN, *args, '--launcher', 'none']


def final_command(argv: Sequence[str], num_modules: int) -> List[str]:
    """The user's own ``tools/incubate.py`` words with the local launcher: every option
    (``--meta``, epochs, ``--cfg-options``, ``--no-assembled-eval`` ...) reaches the final job as
    typed. All modules are due by then, hence ``--modules`` with all of them."""
    return [sys.executable, '-u', INCUBATE, *argv, '--launcher', 'none',
            '--modules', *[str(i) for i in range(num_modules)]]


def _verdict(info: slurm.JobInfo) -> str:
    if info.state == slurm.RUNNING:
        return 'running'
    if info.state == slurm.PENDING:
        return 'cancelled' if info.never_runs else 'pending'
    return {slurm.COMPLETED: 'failed', slurm.FAILED: 'failed', slurm.CANCELLED: 'cancelled',
            slurm.TIMEOUT: 'timeout'}.get(info.state, 'lost')   # COMPLETED without its artifact: failed


class SlurmPipeline:
    """Submits, watches and resubmits one pipeline's jobs."""

    def __init__(self, pipeline: IncubationPipeline, settings: SlurmSettings, argv: Sequence[str]) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.argv = list(argv)
        self.prefix = osp.basename(pipeline.work_dir.rstrip('/')) or 'incubation'

    # plan ------------------------------------------------------------------------------------

    def units(self) -> List[Unit]:
        p = self.pipeline
        nproc = self.settings.nproc_per_worker
        units: List[Unit] = []
        upstream: List[str] = []
        if not p.meta_given:
            meta = p.meta_phase()
            units.append(Unit(meta.name, [meta.name], phase_command(meta, nproc), meta.work_dir, ROOT,
                              meta.finished(), []))
            upstream = [meta.name]
        incubations = p.incubate_phases()
        for phase in incubations:
            units.append(Unit(phase.name, [phase.name], phase_command(phase, nproc), phase.work_dir, ROOT,
                              phase.finished(), list(upstream), in_scope=phase.module_idx in p.modules))
        finetune = p.finetune_phase()
        units.append(Unit(FINAL, list(FINAL_PHASES), final_command(self.argv, len(incubations)), finetune.work_dir,
                          os.getcwd(), finetune.finished(), [u.name for u in units if u.name != record.META]))
        return units

    def phases(self) -> List[Phase]:
        p = self.pipeline
        return ([] if p.meta_given else [p.meta_phase()]) + p.incubate_phases() + [p.finetune_phase()]

    def recorded_jobs(self) -> Dict[str, JobRecord]:
        """The job of each unit as the manifest on disk records it."""
        if not osp.isfile(record.manifest_path(self.pipeline.work_dir)):
            return {}
        try:
            manifest = record.read_manifest(self.pipeline.work_dir)
        except record.RecordError as e:
            raise PipelineError(f'{e}; move it away to start the bookkeeping afresh') from None
        jobs = {p.name: p.job for p in manifest.phases if p.job is not None}
        if record.FINETUNE in jobs:
            jobs[FINAL] = jobs.pop(record.FINETUNE)
        return jobs

    def inspect(self) -> List[UnitState]:
        """Every unit's state from the manifest's jobs, Slurm, and the artifacts on disk."""
        units = self.units()
        jobs = self.recorded_jobs()
        known = [jobs[u.name].id for u in units if u.name in jobs]
        infos = slurm.job_info(known) if known else {}
        states = []
        for unit in units:
            job = jobs.get(unit.name)
            state = UnitState(unit, job, infos.get(job.id) if job else None)
            if state.info is not None:
                job.state = state.info.state
            if unit.done:
                state.verdict = 'done'
            elif state.info is not None:
                state.verdict = _verdict(state.info)
            states.append(state)
        return states

    # submit ----------------------------------------------------------------------------------

    def submit(self, states: List[UnitState]) -> None:
        """(Re)submit every unit that is not done and not queued or running, in order, behind the
        jobs it needs that are still queued or running; record each job at once."""
        by_name = {s.unit.name: s for s in states}
        replaced: Set[str] = set()
        for state in states:
            unit = state.unit
            if state.verdict == 'done':
                continue
            stale = [u for u in unit.upstream if u in replaced]
            if state.active and not stale:
                state.action = 'kept'
                continue
            missing = [u for u in unit.upstream if by_name[u].verdict != 'done' and not by_name[u].active]
            if not unit.in_scope or missing:
                why = ('not in --modules' if not unit.in_scope
                       else f'waits for {", ".join(missing)} (not done, not submitted here)')
                if state.active:        # queued behind a job that is being replaced: it would never run
                    slurm.cancel(state.job.id)
                    state.action = f'cancelled job {state.job.id}; '
                state.action += f'not submitted: {why}'
                continue
            if state.active:
                slurm.cancel(state.job.id)  # queued behind a replaced job: replace it too
                state.action = f'cancelled job {state.job.id} (its dependency was replaced); '
            elif state.job is not None:
                state.failed_job, state.failed_verdict = state.job, state.verdict
            after = [by_name[u].job.id for u in unit.upstream if by_name[u].active]
            os.makedirs(unit.log_dir, exist_ok=True)  # Slurm opens the log there before the job starts
            job_id = slurm.submit(unit.command, self.settings.options(f'{self.prefix}-{unit.name}', unit.log_dir,
                                                                      unit.chdir),
                                  after_ok=after, script_path=osp.join(unit.log_dir, f'{unit.name}.sbatch'))
            state.job = JobRecord(job_id, slurm.PENDING, osp.join(unit.log_dir, f'slurm-{job_id}.out'))
            state.info = None
            state.verdict = 'pending'
            state.action += f'submitted job {job_id}' + (f' (afterok {":".join(after)})' if after else '')
            replaced.add(unit.name)

    # manifest --------------------------------------------------------------------------------

    def manifest(self, states: Sequence[UnitState]) -> Manifest:
        manifest = self.pipeline.manifest()
        for state in states:
            for name in state.unit.phases:
                phase = manifest.phase(name)
                if phase is None:
                    continue
                phase.job = state.job
                if state.verdict in FAILURES and not phase.done:
                    phase.status = 'failed'
        return manifest

    def write_manifest(self, states: Sequence[UnitState]) -> None:
        record.write_manifest(self.pipeline.work_dir, self.manifest(states), keep_jobs=False)

    # the command -----------------------------------------------------------------------------

    def run(self, status_only: bool = False) -> List[UnitState]:
        os.makedirs(self.pipeline.work_dir, exist_ok=True)
        with exclusive(osp.join(self.pipeline.work_dir, '.slurm.lock'), 'is being submitted by another tools/incubate.py'):
            states = self.inspect()
            if status_only:
                return states
            self.pipeline.check_inputs()
            for phase in self.phases():
                if not phase.finished():
                    phase.write_config()  # what the phase's job trains from
            try:
                self.submit(states)
            finally:                      # also after a refused submission: the ids of the others are kept
                self.write_manifest(states)
        return states


def report(states: Sequence[UnitState], work_dir: str) -> str:
    """One line per job (its state, id, log, and what this pass did), then the log tail of each failure."""
    lines = [f'[incubate] slurm jobs of {work_dir}:', f'  {"phase":<12} {"state":<10} {"job":>8}  log']
    details = []
    for s in states:
        job, verdict = (s.failed_job, s.failed_verdict) if s.failed_job else (s.job, s.verdict)
        started = job is not None and job.log is not None and osp.isfile(job.log)
        note = ''
        if s.info is not None and s.info.reason not in ('', 'None') and verdict in ('pending', 'cancelled'):
            note = f' ({s.info.reason})'  # e.g. Dependency, Resources, DependencyNeverSatisfied
        log = job.log if started or verdict in ('pending', 'running') else '(never started)' if job else ''
        line = f'  {s.unit.name:<12} {verdict:<10} {job.id if job else "-":>8}  {log}{note}'
        lines.append(line + (f'  <- {s.action}' if s.action else ''))
        if verdict in FAILURES and started:
            details.append(f'[incubate] {s.unit.name}: job {job.id} {verdict}; last lines of {job.log}:\n'
                           f'{tail(job.log, 10).rstrip()}')
    return '\n'.join(lines + details)


def main(pipeline: IncubationPipeline, args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``tools/incubate.py ... --launcher slurm`` (or ``--status``): report, then (re)submit."""
    try:
        settings = SlurmSettings.from_args(args)
        states = SlurmPipeline(pipeline, settings, argv).run(status_only=args.status)
    except (PipelineError, slurm.SlurmError) as exc:
        print(f'[incubate] ERROR: {exc}', file=sys.stderr, flush=True)
        return 1
    print(report(states, pipeline.work_dir), flush=True)
    if all(s.verdict == 'done' for s in states):
        print(f'[incubate] all phases done: {pipeline.finetune_phase().artifact}', flush=True)
    elif args.status and any(s.verdict in FAILURES + ('not submitted',) for s in states):
        print('[incubate] run the same command without --status to (re)submit what is not done, queued or running',
              flush=True)
    elif not args.status:
        print('[incubate] watch with the same command (or --status); it resubmits only what failed', flush=True)
    return 0
