"""A real single-node Slurm cluster on localhost, for tests: munged, slurmctld and slurmd.

Everything lives in one temporary directory: a fresh munge key and socket, a generated
``slurm.conf`` with one CPU partition, the controller's state, the spool, the pid files and
the logs, so a cluster started here touches no system configuration and does not collide with
another one (free ports are picked). The daemons run as root (slurmd must, to start jobs as
the submitting user). Start it with :func:`start_cluster` or the session fixture
``slurm_cluster``, which skips the tests with one reason when Slurm cannot start here (set
``REQUIRE_SLURM=1`` to make that an error instead, as CI does).

Setup: ``tools/setup_slurm.sh`` installs Debian's ``slurm-wlm`` and ``munge``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

PARTITION = 'cpu'
# Several tiny test jobs run at once, as on a real cluster: the node advertises at least this
# many CPUs (slurmd takes the configured count, SlurmdParameters=config_overrides).
MIN_CPUS = 4
START_TIMEOUT = 30.0
DAEMONS = ('munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo')


class ClusterUnavailable(RuntimeError):
    """Slurm cannot start here; the message says why (and quotes the daemons' logs)."""


@dataclass
class SlurmCluster:
    """A started cluster: where its configuration is, and how to reach it."""

    root: Path
    conf: Path
    partition: str
    hostname: str
    cpus: int
    start_seconds: float = 0.0

    @property
    def env(self) -> Dict[str, str]:
        """The variables Slurm's client commands need to find this cluster."""
        return {'SLURM_CONF': str(self.conf)}

    def log_tail(self, lines: int = 15) -> str:
        return _log_tail(self.root, lines)


def _sbin(name: str) -> Optional[str]:
    return shutil.which(name) or shutil.which(name, path='/usr/sbin:/sbin:/usr/bin')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                return int(line.split()[1]) // 1024
    return 1024


def _log_tail(root: Path, lines: int) -> str:
    parts = []
    for log in sorted((root / 'log').glob('*.log')):
        text = log.read_text(errors='replace').splitlines()[-lines:]
        parts.append(f'--- {log.name} (last {len(text)} lines)\n' + '\n'.join(text))
    return '\n'.join(parts) or '(no daemon log written)'


def write_slurm_conf(root: Path, hostname: str, cpus: int, memory_mb: int, munge_socket: Path) -> Path:
    """A ``slurm.conf`` for one node and one CPU partition, all state under ``root``."""
    conf = root / 'slurm.conf'
    settings = {
        'ClusterName': 'localtest',
        'SlurmctldHost': f'{hostname}(127.0.0.1)',
        'SlurmctldPort': _free_port(),
        'SlurmdPort': _free_port(),
        'SlurmUser': 'root',
        'SlurmdUser': 'root',
        'AuthType': 'auth/munge',
        'CredType': 'cred/munge',
        'AuthInfo': f'socket={munge_socket}',
        'StateSaveLocation': root / 'state',
        'SlurmdSpoolDir': root / 'spool',
        'SlurmctldPidFile': root / 'slurmctld.pid',
        'SlurmdPidFile': root / 'slurmd.pid',
        'SlurmctldLogFile': root / 'log' / 'slurmctld.log',
        'SlurmdLogFile': root / 'log' / 'slurmd.log',
        'ProctrackType': 'proctrack/linuxproc',     # no cgroups needed
        'TaskPlugin': 'task/none',
        'SelectType': 'select/cons_tres',
        'SelectTypeParameters': 'CR_Core',
        'SlurmdParameters': 'config_overrides',     # trust the CPU count below
        'ReturnToService': 2,
        'JobAcctGatherType': 'jobacct_gather/none',
        'JobCompType': 'jobcomp/filetxt',           # finished jobs' states without slurmdbd
        'JobCompLoc': root / 'log' / 'jobcomp.txt',
        'MpiDefault': 'none',
        'SchedulerParameters': 'sched_interval=2',
    }
    lines = [f'{key}={value}' for key, value in settings.items()]
    lines.append(f'NodeName={hostname} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN')
    lines.append(f'PartitionName={PARTITION} Nodes={hostname} Default=YES MaxTime=INFINITE State=UP '
                 'OverSubscribe=YES')
    conf.write_text('\n'.join(lines) + '\n')
    return conf


def _check_startable() -> None:
    if os.geteuid() != 0:
        raise ClusterUnavailable('needs root to start slurmctld and slurmd (run the tests as root)')
    missing = [name for name in DAEMONS if _sbin(name) is None]
    if missing:
        raise ClusterUnavailable(f'Slurm or munge not installed (missing: {", ".join(missing)}); '
                                 'run tools/setup_slurm.sh as root')


def _run(args: List[str], env: Dict[str, str], what: str, root: Path) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise ClusterUnavailable(f'{what} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}\n'
                                 f'{_log_tail(root, 15)}')


def _start_munge(root: Path, env: Dict[str, str]) -> Path:
    """munged with its own key and socket (the socket's folder must be reachable by all)."""
    munge = root / 'munge'
    munge.mkdir(mode=0o755)
    key, sock = munge / 'munge.key', munge / 'munge.socket'
    _run([_sbin('mungekey'), '--create', f'--keyfile={key}'], env, 'mungekey', root)
    _run([_sbin('munged'), '--force', f'--socket={sock}', f'--key-file={key}', f'--pid-file={munge}/munged.pid',
          f'--log-file={root}/log/munged.log', f'--seed-file={munge}/munged.seed'], env, 'munged', root)
    return sock


def _node_state(env: Dict[str, str]) -> str:
    proc = subprocess.run(['sinfo', '--noheader', '--Node', '--format=%T'], env=env, capture_output=True,
                          text=True, timeout=10)
    return proc.stdout.strip()


def _wait_idle(env: Dict[str, str], root: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    state = ''
    while time.monotonic() < deadline:
        state = _node_state(env)
        if state == 'idle':
            return
        time.sleep(0.2)
    raise ClusterUnavailable(f'the node did not become idle within {START_TIMEOUT:.0f} s '
                             f'(sinfo: {state or "no answer"})\n{_log_tail(root, 15)}')


def _pid(pid_file: Path) -> Optional[int]:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_daemons(pid_files: List[Path], timeout: float = 10.0) -> None:
    """SIGTERM the daemons named by the pid files (together: each takes a second or two), SIGKILL the lingering."""
    pids = [pid for pid in map(_pid, pid_files) if pid is not None]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in filter(_alive, pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _stop(root: Path, env: Dict[str, str]) -> None:
    # jobs first: their slurmstepd processes would outlive slurmd
    with contextlib.suppress(Exception):
        subprocess.run(['scancel', f'--partition={PARTITION}'], env=env, capture_output=True, timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            queue = subprocess.run(['squeue', '--noheader', '--format=%i'], env=env, capture_output=True,
                                   text=True, timeout=10)
            if not queue.stdout.strip():
                break
            time.sleep(0.2)
    _stop_daemons([root / 'slurmd.pid', root / 'slurmctld.pid', root / 'munge' / 'munged.pid'])


@contextlib.contextmanager
def start_cluster(cpus: Optional[int] = None) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd in a temporary directory; stop them all at the end.

    Raises:
        ClusterUnavailable: Slurm cannot start here (not root, not installed, a daemon failed);
            the message quotes the daemons' logs.
    """
    _check_startable()
    root = Path(tempfile.mkdtemp(prefix='slurm-test-'))
    root.chmod(0o755)
    for sub in ('state', 'spool', 'log'):
        (root / sub).mkdir()
    hostname = socket.gethostname().split('.')[0]
    cpus = cpus or max(os.cpu_count() or 1, MIN_CPUS)
    env = dict(os.environ)
    try:
        sock = _start_munge(root, env)
        conf = write_slurm_conf(root, hostname, cpus, max(256, _memory_mb() // 2), sock)
        env['SLURM_CONF'] = str(conf)
        _run([_sbin('slurmctld'), '-f', str(conf)], env, 'slurmctld', root)
        _run([_sbin('slurmd'), '-f', str(conf)], env, 'slurmd', root)
        _wait_idle(env, root)
        yield SlurmCluster(root=root, conf=conf, partition=PARTITION, hostname=hostname, cpus=cpus)
    finally:
        _stop(root, env)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='session')
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A running cluster, with ``SLURM_CONF`` set in this process (and so in the tools it starts)."""
    started = time.monotonic()
    stack = contextlib.ExitStack()
    try:
        cluster = stack.enter_context(start_cluster())
    except ClusterUnavailable as e:
        if os.environ.get('REQUIRE_SLURM') == '1':
            pytest.fail(f'Slurm cluster did not start (REQUIRE_SLURM=1): {e}')
        pytest.skip(f'no local Slurm cluster: {e}')
    cluster.start_seconds = time.monotonic() - started
    with stack, pytest.MonkeyPatch.context() as patch:
        patch.setenv('SLURM_CONF', str(cluster.conf))
        yield cluster
