"""Process supervision: start commands with their log files, run at most N at a time, stop them.

A :class:`Command` says what to run and where its output goes; a back-end starts it and hands
back a :class:`Job` that can be polled and stopped. :class:`LocalBackend` runs it as a child
process of this one (plain ``python``, a ``torchrun`` group, or a blocking ``srun`` script alike);
a scheduler back-end (a job submitted with ``sbatch`` and polled with ``squeue``) only has to
provide the same two methods. :func:`supervise` runs a queue through any back-end.

Torch-free: the pipeline and ``python -m benchmarks reproduce`` import it before any training.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import os.path as osp
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


class LocalBackend:
    """Runs each command as a child process that dies with this one."""

    def start(self, command: Command) -> LocalJob:
        folder = osp.dirname(command.log_path)
        if folder:
            os.makedirs(folder, exist_ok=True)
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
              poll_seconds: float = 1.0, progress_seconds: float = 20.0) -> None:
    """Run ``items`` in order, at most ``parallel`` at a time, until all have ended.

    Args:
        items: what to run; ``start(item, slot)`` starts one (``slot``: how many others are
            running then, e.g. to give each concurrent ``torchrun`` group its own port).
        parallel: how many may run at once.
        on_exit: called with ``(item, job, exit code)`` when one ends; raising from it stops
            everything still running and propagates.
        on_progress: called for each running item every ``progress_seconds``.
        poll_seconds: how often the jobs are polled.

    Every job still running when this returns or raises (also on KeyboardInterrupt) is stopped.
    """
    pending = list(items)
    running: List[Tuple[T, Job]] = []
    last_progress = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < max(1, parallel):
                item = pending.pop(0)
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
