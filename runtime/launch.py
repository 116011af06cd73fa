"""Process supervision: start commands with their log files, run at most N at a time, stop them.

A :class:`Command` says what to run and where its output goes; a back-end starts it and hands
back a :class:`Job` that can be polled and stopped. :class:`LocalBackend` runs it as a child
process of this one (plain ``python``, a ``torchrun`` group, or a blocking ``srun`` script alike);
:class:`PreloadedBackend` runs ``python SCRIPT ARGS`` commands in processes forked from a server
that has imported torch, timm and mmengine once, and everything else as :class:`LocalBackend`
does; a scheduler back-end (a job submitted with ``sbatch`` and polled with ``squeue``) only has
to provide the same two methods. :func:`supervise` runs a queue through any back-end.

Torch-free: the pipeline and ``python -m benchmarks reproduce`` import it before any training.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import multiprocessing
import os
import os.path as osp
import re
import runpy
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Callable, Dict, List, Optional, Protocol, Sequence, Tuple, TypeVar

T = TypeVar('T')


@dataclass
class Command:
    """One command: its words, the log file that takes its output, and how to run it.

    ``echo``: also print every output line to this process's stdout after this prefix.
    ``append``: add to an existing log (a resumed run) rather than start it afresh.
    """

    argv: List[str]
    log_path: str
    env: Optional[Dict[str, str]] = None
    cwd: Optional[str] = None
    echo: Optional[str] = None
    append: bool = True

    def __str__(self) -> str:
        return shlex.join(self.argv)


class Job(Protocol):
    """A started command, as any back-end hands it back."""

    command: Command

    def poll(self) -> Optional[int]:
        """The exit code once it has ended, else None."""

    def wait(self) -> int:
        """Block until it ends; the exit code."""

    def stop(self, grace: float = 10.0) -> None:
        """Ask it to end, and force it after ``grace`` seconds."""


class Backend(Protocol):
    def start(self, command: Command) -> Job:
        """Start ``command``; its output goes to ``command.log_path``."""


def die_with_parent() -> None:
    """Children must not outlive a killed supervisor and keep writing into work dirs (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL('libc.so.6').prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class LocalJob:
    """A child process whose output goes to its log (and to stdout with ``command.echo``)."""

    command: Command
    process: subprocess.Popen
    log: IO[str]
    relay: Optional[threading.Thread] = None

    def poll(self) -> Optional[int]:
        code = self.process.poll()
        if code is not None:
            self._close()
        return code

    def wait(self) -> int:
        code = self.process.wait()
        self._close()
        return code

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._close()

    def _close(self) -> None:
        if self.relay is not None:
            self.relay.join(timeout=5)
        if not self.log.closed:
            self.log.close()


def _relay(stream: IO[str], log: IO[str], prefix: str) -> None:
    for line in stream:
        log.write(line)
        log.flush()
        print(f'{prefix}{line.rstrip()}', flush=True)


def _make_log_folder(command: Command) -> None:
    folder = osp.dirname(command.log_path)
    if folder:
        os.makedirs(folder, exist_ok=True)


class LocalBackend:
    """Runs each command as a child process that dies with this one."""

    def start(self, command: Command) -> LocalJob:
        _make_log_folder(command)
        log = open(command.log_path, 'a' if command.append else 'w')
        output = subprocess.PIPE if command.echo is not None else log
        try:
            process = subprocess.Popen(command.argv, stdout=output, stderr=subprocess.STDOUT, env=command.env,
                                       cwd=command.cwd, preexec_fn=die_with_parent, text=command.echo is not None)
        except BaseException:
            log.close()
            raise
        relay = None
        if command.echo is not None:
            relay = threading.Thread(target=_relay, args=(process.stdout, log, command.echo), daemon=True)
            relay.start()
        return LocalJob(command, process, log, relay)


# What every training process imports first (tools/_bootstrap.py and the libraries behind it):
# about 4 s of a short CPU phase's wall clock, paid once by the preloaded server instead.
PRELOAD = ('runtime.openmmlab', 'backbones', 'classification', 'mmengine.runner', 'timm')


def cuda_devices_present() -> bool:
    """Whether this machine has NVIDIA devices, judged without initialising CUDA."""
    return bool(glob.glob('/dev/nvidia[0-9]*'))


def die_with(pid: int) -> None:
    """SIGKILL this process as soon as process ``pid`` has ended (Linux >= 5.3: a thread waits on
    its pidfd). For a process whose parent is not its supervisor, where ``die_with_parent`` cannot
    help: the preloaded server outlives the supervisor for as long as its children keep running."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os.kill(os.getpid(), signal.SIGKILL)
    except (AttributeError, OSError):  # no pidfd here: only die_with_parent applies
        return

    def watch() -> None:
        select.select([fd], [], [])  # readable once the process has ended
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name=f'die-with-{pid}', daemon=True).start()


def _forked_script(args: List[str], log_path: str, env: Optional[Dict[str, str]], cwd: Optional[str],
                   append: bool, supervisor: int) -> None:
    """In a process forked from the preloaded server: ``python ARGS`` as a fresh interpreter would run it."""
    die_with_parent()  # the server
    die_with(supervisor)  # and the process that started it, like a child of LocalBackend
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    threads = os.environ.get('OMP_NUM_THREADS', '')
    torch = sys.modules.get('torch')
    if torch is not None and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))  # torch was imported before this command's environment
    script = osp.abspath(args[0])
    sys.argv = list(args)
    sys.path.insert(0, osp.dirname(script))  # as `python SCRIPT` puts the script's folder first
    runpy.run_path(script, run_name='__main__')  # sys.exit(code) inside ends the process with that code


def _ready() -> None:
    """Nothing: a process whose start waits for the server's imports (see warm_up)."""


@dataclass
class ForkedJob:
    """A ``python SCRIPT`` command running in a process forked from the preloaded server."""

    command: Command
    process: multiprocessing.process.BaseProcess

    def poll(self) -> Optional[int]:
        return self.process.exitcode

    def wait(self) -> int:
        self.process.join()
        return self.process.exitcode

    def stop(self, grace: float = 10.0) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class PreloadedBackend:
    """Runs ``python SCRIPT ARGS`` commands in processes forked from a server that imported
    ``preload`` once (multiprocessing's forkserver), everything else as :class:`LocalBackend`.

    Each command still gets a process of its own, with its own log, exit code, environment,
    working directory and thread count, that dies with this one, as under :class:`LocalBackend`;
    what it skips is the interpreter start and the imports (torch, timm and mmengine: about 4 s
    a process on the CPU), paid once by the server. ``preload_seconds`` is what the server took
    to get ready (:meth:`warm_up`). Only for machines without CUDA devices: mmengine asks for
    CUDA devices at import, and CUDA cannot be used in a process forked after that.
    """

    def __init__(self, preload: Sequence[str] = PRELOAD) -> None:
        self.preload = list(preload)
        self.preload_seconds = 0.0
        self._context: Optional[multiprocessing.context.BaseContext] = None
        self._fallback = LocalBackend()

    @staticmethod
    def forkable(command: Command) -> bool:
        """A plain ``python SCRIPT.py ...`` of this interpreter whose output goes only to its log."""
        argv = command.argv
        return (len(argv) >= 2 and argv[0] == sys.executable and argv[1].endswith('.py')
                and command.echo is None)

    def _server(self) -> multiprocessing.context.BaseContext:
        if self._context is None:
            context = multiprocessing.get_context('forkserver')
            context.set_forkserver_preload(self.preload)
            self._context = context
        return self._context

    def warm_up(self) -> float:
        """Start the server and wait until it has imported ``preload``; the seconds that took."""
        if self._context is None:
            start = time.perf_counter()
            process = self._server().Process(target=_ready, daemon=False)
            process.start()  # returns once the server has forked it, i.e. after the imports
            process.join()
            self.preload_seconds = time.perf_counter() - start
        return self.preload_seconds

    def start(self, command: Command) -> Job:
        if not self.forkable(command):
            return self._fallback.start(command)
        self.warm_up()
        _make_log_folder(command)
        process = self._server().Process(
            target=_forked_script,
            args=(command.argv[1:], command.log_path, command.env, command.cwd, command.append, os.getpid()),
            name=osp.basename(command.argv[1]), daemon=False)
        process.start()
        return ForkedJob(command, process)


def default_backend() -> Backend:
    """:class:`PreloadedBackend` on machines without CUDA devices, else :class:`LocalBackend`."""
    return LocalBackend() if cuda_devices_present() else PreloadedBackend()


def python_argv(script: str, *args: str) -> List[str]:
    """``python SCRIPT ARGS`` with this interpreter."""
    return [sys.executable, script, *args]


def torchrun_argv(script: str, *args: str, nproc: int, port: int) -> List[str]:
    """A ``torch.distributed.run`` group of ``nproc`` processes on this machine, rendezvous at ``port``."""
    return [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}', f'--master_port={port}',
            script, *args, '--launcher', 'pytorch']


def tail(path: str, lines: int = 25) -> str:
    """The last ``lines`` lines of a log, or ``(no log)``."""
    if not osp.isfile(path):
        return '(no log)'
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def latest_progress(path: str) -> str:
    """The newest mmengine ``Epoch(train)``/``Epoch(val)`` line of a log, shortened, or ``starting``."""
    if not osp.isfile(path):
        return 'starting'
    with open(path, errors='replace') as f:
        for line in reversed(f.readlines()[-200:]):
            if 'Epoch(' in line:
                line = line.strip()
                return line[line.index('Epoch('):][:160]
    return 'starting'


def supervise(items: Sequence[T], start: Callable[[T, int], Job], parallel: int,
              on_exit: Callable[[T, Job, int], None], on_progress: Optional[Callable[[T, Job], None]] = None,
              poll_seconds: float = 1.0, progress_seconds: float = 20.0,
              ready: Optional[Callable[[T], bool]] = None, skip: Optional[Callable[[T], bool]] = None) -> None:
    """Run ``items`` in order, at most ``parallel`` at a time, until all have ended.

    Args:
        items: what to run; ``start(item, slot)`` starts one (``slot``: how many others are
            running then, e.g. to give each concurrent ``torchrun`` group its own port).
        parallel: how many may run at once.
        on_exit: called with ``(item, job, exit code)`` when one ends; raising from it stops
            everything still running and propagates.
        on_progress: called for each running item every ``progress_seconds``.
        poll_seconds: how often the jobs are polled.
        ready: whether an item may start now (e.g. what it needs has finished); a free slot
            takes the first pending item that is ready. When none is and nothing runs, the
            first starts anyway (its own checks then say what is missing).
        skip: whether a pending item is to be dropped unrun (e.g. what it needs has failed).

    Every job still running when this returns or raises (also on KeyboardInterrupt) is stopped.
    """
    pending = list(items)
    running: List[Tuple[T, Job]] = []
    last_progress = time.monotonic()
    try:
        while pending or running:
            if skip is not None:
                pending = [item for item in pending if not skip(item)]
            while pending and len(running) < max(1, parallel):
                index = next((i for i, item in enumerate(pending) if ready is None or ready(item)), None)
                if index is None and running:
                    break
                item = pending.pop(index or 0)
                running.append((item, start(item, len(running))))
            time.sleep(poll_seconds)
            for entry in list(running):
                item, job = entry
                code = job.poll()
                if code is None:
                    continue
                running.remove(entry)
                on_exit(item, job, code)
            if running and on_progress is not None and time.monotonic() - last_progress > progress_seconds:
                last_progress = time.monotonic()
                for item, job in running:
                    on_progress(item, job)
    finally:
        for _item, job in running:
            job.stop()


# A command's cause of failure as it ends its log: a Python exception ("KeyError: 'x'",
# "mmengine.config...ConfigError: ...") or this project's one-line refusal ("error: ...").
_CAUSE = re.compile(r'^(?:[\w.]+(?:Error|Exception|Interrupt|Exit)(?::.*)?|error: .+|Killed)$')


def failure_cause(path: str, tail: int = 400) -> Optional[str]:
    """The last line of a log that says why its command failed (an exception, a refusal), or None."""
    if not osp.isfile(path):
        return None
    with open(path, errors='replace') as f:
        lines = f.readlines()[-tail:]
    for line in reversed(lines):
        line = line.strip()
        if _CAUSE.match(line):
            return line[:300]
    return None
