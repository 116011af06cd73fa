"""A small Slurm back-end: batch scripts, ``sbatch``, job states, ``scancel``.

Only the Slurm side of running a command on a cluster; what to run (and in which order) is the
caller's business. Every function shells out to the standard client commands (``sbatch``,
``squeue``, ``scontrol``, ``scancel``), so it works wherever those work, with whatever
``SLURM_CONF`` the environment names. Torch-free.

Job states are normalised to the few a caller has to tell apart (:data:`STATES`). ``sacct``
is not used: it needs the accounting daemon (slurmdbd), which small clusters often do not
run. A finished job is read from ``squeue``/``scontrol`` while slurmctld still remembers it
(``MinJobAge``, 300 s by default) and afterwards from the job-completion log when the cluster
writes one (``JobCompType=jobcomp/filetxt``); otherwise it is ``UNKNOWN``.

A job hitting its time limit is requeued: the batch script asks Slurm for ``USR1`` a few
minutes before the limit (``--signal=B:USR1@S``), and its trap runs ``scontrol requeue``. The
job then starts again from the beginning of its script, so the command must resume by itself
(``tools/train.py --resume`` picks up the latest checkpoint in its work dir).

The Slurm options of the commands that submit jobs (``tools/incubate.py --launcher slurm``,
``tools/slurm_submit.py``, ``python -m benchmarks suite --launcher slurm``) are defined here once
(:data:`SBATCH_OPTIONS`): :func:`add_sbatch_arguments` adds them to a command line,
:func:`sbatch_options_from` turns the parsed values into :class:`SbatchOptions`. No command
submits another that submits jobs: a plan of several jobs is one run graph (:mod:`runtime.graph`).
"""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .errors import UserError
from .fileio import atomic_write_bytes

PENDING = 'PENDING'
RUNNING = 'RUNNING'
COMPLETED = 'COMPLETED'
FAILED = 'FAILED'
CANCELLED = 'CANCELLED'
TIMEOUT = 'TIMEOUT'
UNKNOWN = 'UNKNOWN'
STATES = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, UNKNOWN)
ACTIVE = frozenset({PENDING, RUNNING})          # still queued or running: do not submit again
FINAL = frozenset({COMPLETED, FAILED, CANCELLED, TIMEOUT})

# Slurm's job states (squeue %T, scontrol JobState) -> ours. A requeued or preempted job goes
# back to the queue; one that is finishing (COMPLETING) is not final until its exit code is.
_STATE_MAP = {
    'PENDING': PENDING, 'REQUEUED': PENDING, 'REQUEUE_HOLD': PENDING, 'REQUEUE_FED': PENDING,
    'RESV_DEL_HOLD': PENDING,
    'RUNNING': RUNNING, 'CONFIGURING': RUNNING, 'COMPLETING': RUNNING, 'SUSPENDED': RUNNING,
    'STOPPED': RUNNING, 'SIGNALING': RUNNING, 'STAGE_OUT': RUNNING, 'RESIZING': RUNNING,
    'COMPLETED': COMPLETED,
    'FAILED': FAILED, 'NODE_FAIL': FAILED, 'BOOT_FAIL': FAILED, 'OUT_OF_MEMORY': FAILED,
    'SPECIAL_EXIT': FAILED,
    'CANCELLED': CANCELLED, 'PREEMPTED': CANCELLED, 'REVOKED': CANCELLED,
    'TIMEOUT': TIMEOUT, 'DEADLINE': TIMEOUT,
}

# The reason Slurm gives a job whose dependency failed: it would stay pending for ever.
NEVER_SATISFIED = 'DependencyNeverSatisfied'


class SlurmError(UserError, RuntimeError):
    """A Slurm command failed; the message names the command and quotes Slurm's answer."""

    def __init__(self, command: Sequence[str], message: str, returncode: Optional[int] = None):
        self.command = list(command)
        self.returncode = returncode
        self.slurm_message = message.strip()
        status = f' (exit {returncode})' if returncode is not None else ''
        super().__init__(f'`{shlex.join(self.command)}` failed{status}: {self.slurm_message or "no message"}')


@dataclass
class SbatchOptions:
    """Resources and behaviour of one batch job.

    ``gpus_per_node=0`` requests no ``--gres`` at all (a CPU partition rejects a GPU request).
    A multi-GPU job is ``nodes`` x ``ntasks_per_node`` tasks: with ``srun`` (the default when
    there is more than one task) each task is one process, as mmengine's ``--launcher slurm``
    expects; with ``srun=False`` the command runs once per job (e.g. torchrun starting its own
    processes).
    """

    partition: Optional[str] = None
    job_name: Optional[str] = None
    output: Optional[str] = None             # log of stdout + stderr; Slurm expands %j (job id)
    gpus_per_node: int = 0
    nodes: int = 1
    ntasks_per_node: int = 1
    cpus_per_task: Optional[int] = None
    time_limit: Optional[str] = None         # Slurm's format: minutes, 'HH:MM:SS', 'D-HH:MM:SS'
    account: Optional[str] = None
    qos: Optional[str] = None
    requeue: bool = True                     # requeue (and resume) shortly before the time limit
    requeue_signal_seconds: int = 300        # how long before the limit Slurm sends USR1
    kill_on_invalid_dep: bool = True         # a job whose dependency failed is cancelled, not left pending
    chdir: Optional[str] = None
    env: Mapping[str, str] = field(default_factory=dict)   # exported in the script, on top of the submitter's
    srun: Optional[bool] = None              # None: srun when the job has more than one task
    extra_args: Sequence[str] = ()           # any other sbatch options, e.g. ['--constraint=a100']

    def __post_init__(self) -> None:
        if self.gpus_per_node < 0:
            raise ValueError(f'SbatchOptions.gpus_per_node must be >= 0, got {self.gpus_per_node}')
        for name in ('nodes', 'ntasks_per_node', 'cpus_per_task'):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f'SbatchOptions.{name} must be >= 1, got {value}')

    @property
    def ntasks(self) -> int:
        return self.nodes * self.ntasks_per_node

    def uses_srun(self) -> bool:
        return self.ntasks > 1 if self.srun is None else self.srun

    def sbatch_args(self) -> List[str]:
        """The options as ``#SBATCH`` lines carry them (one ``--name=value`` word each)."""
        args = [f'--nodes={self.nodes}', f'--ntasks-per-node={self.ntasks_per_node}']
        named = {'--partition': self.partition, '--job-name': self.job_name, '--output': self.output,
                 '--cpus-per-task': self.cpus_per_task, '--time': self.time_limit,
                 '--account': self.account, '--qos': self.qos, '--chdir': self.chdir}
        args += [f'{flag}={value}' for flag, value in named.items() if value is not None]
        if self.gpus_per_node:
            args.append(f'--gres=gpu:{self.gpus_per_node}')
        if self.requeue:
            # append: a requeued run must not truncate the log of the run before it
            args += ['--requeue', f'--signal=B:USR1@{self.requeue_signal_seconds}', '--open-mode=append']
        else:
            args.append('--no-requeue')
        if self.kill_on_invalid_dep:
            args.append('--kill-on-invalid-dep=yes')
        return args + list(self.extra_args)


# --- the Slurm options of every command that submits jobs, defined once ----------------------


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum`` (refused with the usage line otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'not a whole number: {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be >= {minimum}, got {value}')
        return value
    return parse


@dataclass(frozen=True)
class SbatchOption:
    """One Slurm option that takes a value: its flags (the first is canonical, the others are
    aliases), where argparse keeps it, the :class:`SbatchOptions` field it sets, and the rest of
    its ``add_argument`` keywords."""

    flags: Tuple[str, ...]
    dest: str
    target: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


GPUS = 'gpus'
SBATCH_OPTIONS: Tuple[SbatchOption, ...] = (
    SbatchOption(('--partition', '-p'), 'partition', 'partition',
                 dict(metavar='P', help='Slurm partition (default: the cluster default)')),
    SbatchOption(('--gpus', '--gpus-per-job'), GPUS, 'gpus_per_node',
                 dict(type=_at_least(0), metavar='N',
                      help='GPUs of each job (--gres=gpu:N); 0 requests none, a CPU job (a CPU '
                           'partition refuses a GPU request)')),
    SbatchOption(('--cpus-per-task',), 'cpus_per_task', 'cpus_per_task',
                 dict(type=_at_least(1), metavar='C', help='CPUs of each task')),
    SbatchOption(('--time',), 'time', 'time_limit',
                 dict(metavar='T', help="time limit of each job in Slurm's format (minutes, HH:MM:SS, "
                                        'D-HH:MM:SS); a job that reaches it is requeued and resumes from its '
                                        'last checkpoint')),
    SbatchOption(('--account',), 'account', 'account', dict(metavar='A', help='passed to sbatch')),
    SbatchOption(('--qos',), 'qos', 'qos', dict(metavar='Q', help='passed to sbatch')),
)
SBATCH_ARG = '--sbatch-arg'
NO_REQUEUE = '--no-requeue'


def add_sbatch_arguments(parser: Any, gpus_default: Optional[int] = 0, gpus_help: str = '') -> None:
    """Add the Slurm options to ``parser`` (an ``ArgumentParser`` or an argument group).

    ``gpus_default=None`` leaves ``--gpus`` unset when it is not given (the command then picks
    the number itself, saying how in ``gpus_help``, which is appended to the option's help).
    """
    for option in SBATCH_OPTIONS:
        kwargs = dict(option.kwargs)
        if option.dest == GPUS:
            kwargs['default'] = gpus_default
            if gpus_help:
                kwargs['help'] = f'{kwargs["help"]}. {gpus_help}'
        parser.add_argument(*option.flags, dest=option.dest, **kwargs)
    parser.add_argument(SBATCH_ARG, dest='sbatch_arg', action='append', default=[], metavar='ARG',
                        help='any other sbatch option, e.g. --sbatch-arg=--constraint=a100 (repeatable)')
    parser.add_argument(NO_REQUEUE, dest='no_requeue', action='store_true',
                        help='do not requeue (and resume) a job that reaches its time limit')


def sbatch_options_from(args: argparse.Namespace, **overrides: Any) -> SbatchOptions:
    """The :class:`SbatchOptions` of the Slurm options in ``args`` (see :func:`add_sbatch_arguments`),
    with ``overrides`` (``SbatchOptions`` fields: the job's name, log, environment ...) on top."""
    values: Dict[str, Any] = {option.target: getattr(args, option.dest) for option in SBATCH_OPTIONS}
    values.update(requeue=not args.no_requeue, extra_args=tuple(args.sbatch_arg))
    values.update(overrides)
    if values['gpus_per_node'] is None:
        raise ValueError('sbatch_options_from: --gpus was not given and has no default; pass gpus_per_node=')
    return SbatchOptions(**values)


# The command runs in the background so that the shell can take USR1 while it runs; `wait`
# returns early when a signal arrives, hence the loop until the command itself has ended.
_SCRIPT_BODY = '''\
_requeue() {
    echo "[slurm] job $SLURM_JOB_ID: time limit near, requeueing; the command resumes from its last checkpoint"
    scontrol requeue "$SLURM_JOB_ID"
}
trap _requeue USR1
%(command)s &
child=$!
while :; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
done
exit "$status"
'''


def batch_script(command: Sequence[str], options: SbatchOptions) -> str:
    """The sbatch script that runs ``command`` (an argv list) with ``options``."""
    if not command:
        raise ValueError('batch_script: empty command')
    lines = ['#!/bin/bash']
    lines += [f'#SBATCH {arg}' for arg in options.sbatch_args()]
    lines += [f'export {name}={shlex.quote(str(value))}' for name, value in options.env.items()]
    launch = shlex.join(command)
    if options.uses_srun():
        launch = f'srun --kill-on-bad-exit=1 {launch}'
    if options.requeue:
        lines.append(_SCRIPT_BODY % {'command': launch})
    else:
        lines.append(f'exec {launch}\n')
    return '\n'.join(lines)


def _run(command: Sequence[str], stdin: Optional[str] = None, check: bool = True,
         timeout: float = 60.0) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(list(command), input=stdin, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise SlurmError(command, f'{command[0]} not found on PATH: is Slurm (slurm-client) installed?') from None
    except subprocess.TimeoutExpired:
        raise SlurmError(command, f'no answer within {timeout:.0f} s: is slurmctld running?') from None
    if check and proc.returncode != 0:
        raise SlurmError(command, proc.stderr or proc.stdout, proc.returncode)
    return proc


def dependency_arg(after_ok: Iterable[str]) -> Optional[str]:
    """``--dependency=afterok:A:B`` for the given job ids, or None when there are none."""
    ids = [str(i) for i in after_ok]
    return f'--dependency=afterok:{":".join(ids)}' if ids else None


def submit(command: Sequence[str], options: SbatchOptions, after_ok: Iterable[str] = (),
           script_path: Optional[str] = None) -> str:
    """Submit ``command`` as a batch job; return its job id at once.

    Args:
        command: the argv to run on the allocated node(s).
        options: resources and behaviour of the job.
        after_ok: job ids that must all complete successfully before this job starts. Slurm
            must still know them (sbatch refuses a dependency on a job it has forgotten, some
            minutes after it ended): leave out those already known to have completed.
        script_path: where to keep a copy of the batch script (it is submitted from that
            file); by default it goes to sbatch on stdin.

    Raises:
        SlurmError: sbatch refused the job (its message is quoted).
    """
    script = batch_script(command, options)
    args = ['sbatch', '--parsable']
    dependency = dependency_arg(after_ok)
    if dependency:
        args.append(dependency)
    if script_path:
        atomic_write_bytes(script_path, script.encode())
        args.append(script_path)
    try:
        proc = _run(args, stdin=None if script_path else script)
    except SlurmError as e:  # say which job was refused
        raise SlurmError(e.command, f'job {options.job_name or command[0]!r}: {e.slurm_message}', e.returncode) from None
    # --parsable prints "ID" or "ID;CLUSTER"
    job_id = proc.stdout.strip().split(';')[0]
    if not re.fullmatch(r'\d+(_\d+)?', job_id):
        raise SlurmError(args, f'unexpected answer {proc.stdout.strip()!r} (expected a job id)')
    return job_id


@dataclass(frozen=True)
class JobInfo:
    """What Slurm says about one job: our state, Slurm's own state and reason, and where it came from."""

    job_id: str
    state: str
    slurm_state: str = ''
    reason: str = ''
    exit_code: str = ''
    source: str = ''                         # squeue | scontrol | jobcomp | '' (not found)
    start_time: str = ''                     # Slurm's ISO times (second resolution); '' or
    end_time: str = ''                       # 'Unknown'/'N/A' while not known

    @property
    def never_runs(self) -> bool:
        """Pending behind a failed dependency: Slurm will not start it."""
        return self.state == PENDING and self.reason == NEVER_SATISFIED


def normalise_state(slurm_state: str) -> str:
    """One of :data:`STATES` for a Slurm state such as ``RUNNING``, ``CANCELLED+`` or ``CANCELLED by 0``."""
    word = slurm_state.strip().split(' ')[0].rstrip('+').upper()
    return _STATE_MAP.get(word, UNKNOWN)


def _squeue(ids: Sequence[str]) -> Dict[str, JobInfo]:
    args = ['squeue', '--noheader', '--states=all', f'--jobs={",".join(ids)}', '--format=%i|%T|%r|%S|%e']
    proc = _run(args, check=False)
    if proc.returncode != 0:
        if 'Invalid job id' in proc.stderr:      # none of them is known any more
            return {}
        raise SlurmError(args, proc.stderr or proc.stdout, proc.returncode)
    found = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split('|')
        if len(parts) == 5 and parts[0] in ids:
            found[parts[0]] = JobInfo(parts[0], normalise_state(parts[1]), parts[1], parts[2], source='squeue',
                                      start_time=parts[3], end_time=parts[4])
    return found


def _fields(record: str) -> Dict[str, str]:
    """``Key=Value`` pairs of a one-line job record (scontrol -o, jobcomp/filetxt)."""
    return dict(re.findall(r'(\w[\w/:]*)=(\S*)', record))


def _scontrol(job_id: str) -> Optional[JobInfo]:
    proc = _run(['scontrol', 'show', 'job', '--oneliner', job_id], check=False)
    if proc.returncode != 0:
        return None
    fields = _fields(proc.stdout)
    if 'JobState' not in fields:
        return None
    return JobInfo(job_id, normalise_state(fields['JobState']), fields['JobState'], fields.get('Reason', ''),
                   fields.get('ExitCode', ''), source='scontrol', start_time=fields.get('StartTime', ''),
                   end_time=fields.get('EndTime', ''))


def jobcomp_log() -> Optional[str]:
    """The job-completion log file, when the cluster writes one (``jobcomp/filetxt``)."""
    proc = _run(['scontrol', 'show', 'config'], check=False)
    config = dict(re.findall(r'^(\w+)\s*=\s*(.*?)\s*$', proc.stdout, flags=re.M))
    if config.get('JobCompType') == 'jobcomp/filetxt' and config.get('JobCompLoc'):
        return config['JobCompLoc']
    return None


def read_jobcomp(ids: Sequence[str], path: str) -> Dict[str, JobInfo]:
    """The last record of each job in a ``jobcomp/filetxt`` log (missing ids are left out)."""
    found: Dict[str, JobInfo] = {}
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError:
        return found
    for line in lines:              # a requeued job has one record per run: the last one counts
        fields = _fields(line)
        job_id = fields.get('JobId')
        if job_id in ids and 'JobState' in fields:
            found[job_id] = JobInfo(job_id, normalise_state(fields['JobState']), fields['JobState'],
                                    exit_code=fields.get('ExitCode', ''), source='jobcomp',
                                    start_time=fields.get('StartTime', ''), end_time=fields.get('EndTime', ''))
    return found


def job_info(ids: Iterable[str]) -> Dict[str, JobInfo]:
    """What Slurm knows about each job id: squeue, then scontrol, then the job-completion log."""
    ids = list(dict.fromkeys(str(i) for i in ids))
    if not ids:
        return {}
    found = _squeue(ids)
    for job_id in ids:
        if job_id not in found:
            info = _scontrol(job_id)
            if info is not None:
                found[job_id] = info
    missing = [i for i in ids if i not in found]
    if missing:
        log = jobcomp_log()
        if log:
            found.update(read_jobcomp(missing, log))
    return {i: found.get(i, JobInfo(i, UNKNOWN)) for i in ids}


def job_states(ids: Iterable[str]) -> Dict[str, str]:
    """``{job id: state}``, each state one of :data:`STATES`."""
    return {job_id: info.state for job_id, info in job_info(ids).items()}


def cancel(ids: Iterable[str] | str) -> None:
    """``scancel`` the given job(s); cancelling a job that has already ended is not an error."""
    ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
    if ids:
        _run(['scancel', *ids])


def wait(ids: Iterable[str], timeout: float, poll_seconds: float = 1.0,
         until: frozenset = FINAL) -> Dict[str, JobInfo]:
    """Poll until every job's state is in ``until`` (default: finished) or never runs.

    Raises:
        TimeoutError: naming the jobs still not there after ``timeout`` seconds.
    """
    ids = [str(i) for i in ids]
    deadline = time.monotonic() + timeout
    while True:
        info = job_info(ids)
        if all(i.state in until or i.never_runs for i in info.values()):
            return info
        if time.monotonic() > deadline:
            late = {i.job_id: f'{i.slurm_state or i.state} ({i.reason})' for i in info.values()
                    if i.state not in until}
            raise TimeoutError(f'Slurm jobs not done after {timeout:.0f} s: {late}')
        time.sleep(poll_seconds)

