"""A run graph: ordinary training commands linked by the files they hand on, and two executors.

A :class:`Node` is one command (``tools/train.py CONFIG ...`` or ``tools/incubate.py CONFIG ...``)
with its work dir, its log, the nodes whose artifacts it reads (``needs``) and a test of whether
it is done (its artifact exists and its records say it finished). Nothing is copied between
nodes: a node's command names the files of the nodes it needs, where they are.

* :func:`run_local` runs the graph on this machine, at most N commands at a time, each as soon as
  everything it needs is done (a failed node stops only what depends on it).
* :func:`submit_slurm` submits it as Slurm batch jobs, each ``afterok`` on the jobs of the nodes it
  needs that are still queued or running, records the job ids in one state file, and on a second
  call reports each node and resubmits only what failed, was cancelled or was lost, and what
  waits behind a failure Slurm will never start (``DependencyNeverSatisfied``).

A command that is itself a plan of several jobs (``tools/incubate.py``: meta, K incubations, the
final job) is spliced in as its own nodes (:func:`splice`), so one graph, one state file and one
verdict function cover everything that is submitted.

Torch-free, like :mod:`runtime.launch` and :mod:`runtime.slurm` that it drives.
"""
from __future__ import annotations

import dataclasses
import json
import os
import os.path as osp
import shlex
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import record, slurm
from .cli import UserError, one_line
from .fileio import atomic_write_bytes
from .launch import Backend, Command, Job, failure_cause, latest_progress, supervise

FAILURES = ('failed', 'cancelled', 'timeout', 'lost', 'stuck')


class GraphError(UserError):
    """A graph that cannot run: an unknown or cyclic dependency, a node that failed."""


@dataclass
class Node:
    """One command of the graph.

    Args:
        name: unique in the graph, e.g. ``upstream/e2e_seed0`` or ``det/incubation_seed0``.
        argv: the command, run from ``cwd``.
        work_dir: where it writes (its log goes to ``log`` inside it by default).
        needs: names of the nodes whose artifacts it reads.
        done: ``done()`` is True once the node's artifact exists and its records say it finished.
        log: its combined output.
        held: why this command must not submit the node (e.g. a module another command incubates);
            a queued or running job of it is kept, and nothing that needs it is submitted.
        labels: what the reports show (method, seed, task, ...); not used to run it.
        env: variables set for this node on top of the executor's environment (e.g. its threads).
        echo: run here, also print its output after this prefix (a pipeline's own progress).
    """

    name: str
    argv: List[str]
    work_dir: str
    needs: Tuple[str, ...] = ()
    done: Callable[[], bool] = lambda: False
    log: str = ''
    held: str = ''
    labels: Dict[str, object] = field(default_factory=dict)
    env: Dict[str, str] = field(default_factory=dict)
    echo: str = ''

    def __post_init__(self) -> None:
        if not self.log:
            self.log = osp.join(self.work_dir, f'{osp.basename(self.work_dir.rstrip("/")) or "run"}.out')

    def __str__(self) -> str:
        return shlex.join(self.argv)


def check_graph(nodes: Sequence[Node]) -> List[Node]:
    """The nodes in an order where every node comes after what it needs; raises on bad edges."""
    by_name: Dict[str, Node] = {}
    for node in nodes:
        if node.name in by_name:
            raise GraphError(f'two nodes are named {node.name!r}')
        by_name[node.name] = node
    for node in nodes:
        unknown = [n for n in node.needs if n not in by_name]
        if unknown:
            raise GraphError(f'{node.name} needs {", ".join(unknown)}, which the graph does not have')
    ordered: List[Node] = []
    state: Dict[str, str] = {}

    def visit(node: Node, path: Tuple[str, ...]) -> None:
        if state.get(node.name) == 'done':
            return
        if state.get(node.name) == 'visiting':
            raise GraphError(f'cyclic dependency: {" -> ".join(path + (node.name,))}')
        state[node.name] = 'visiting'
        for need in node.needs:
            visit(by_name[need], path + (node.name,))
        state[node.name] = 'done'
        ordered.append(node)

    for node in nodes:
        visit(node, ())
    return ordered


def splice(nodes: Sequence[Node], name: str, sub: Sequence[Node]) -> List[Node]:
    """``nodes`` with node ``name`` replaced by the subgraph ``sub``, whose last node finishes it
    (the nodes given are not changed; those with other needs are copies).

    The subgraph's nodes that need nothing of it take ``name``'s needs; every node that needed
    ``name`` needs the subgraph's last node instead.
    """
    if not sub:
        raise GraphError(f'{name}: an empty subgraph')
    old = next((n for n in nodes if n.name == name), None)
    if old is None:
        raise GraphError(f'no node named {name!r} to splice')
    inner = {n.name for n in sub}
    last = sub[-1].name
    out: List[Node] = []
    for node in nodes:
        if node is old:
            for part in sub:
                if not any(n in inner for n in part.needs):
                    part = dataclasses.replace(part, needs=tuple(dict.fromkeys((*part.needs, *old.needs))))
                out.append(part)
            continue
        if name in node.needs:
            node = dataclasses.replace(node, needs=tuple(last if n == name else n for n in node.needs))
        out.append(node)
    return out


def describe(nodes: Sequence[Node], launcher: str = 'local') -> str:
    """The graph as text: one block per node, in run order, with its command and what it waits for."""
    lines = []
    for i, node in enumerate(check_graph(nodes), 1):
        after = f'  (after {", ".join(node.needs)})' if node.needs else ''
        how = ('sbatch, afterok' if launcher == 'slurm' and node.needs else 'sbatch' if launcher == 'slurm' else 'run')
        lines.append(f'{i:>3}. {node.name} [{how}]{after}' + (f'  (held: {node.held})' if node.held else ''))
        lines.append(f'     {shlex.join(node.argv)}')
    return '\n'.join(lines)


# --- on this machine ---------------------------------------------------------------------------


def run_local(nodes: Sequence[Node], backend: Backend, slots: int,
              on_start: Callable[[Node], None] = lambda node: None,
              on_exit: Callable[[Node, int], None] = lambda node, code: None,
              on_progress: Optional[Callable[[Node], None]] = None,
              env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
              poll_seconds: float = 0.5, progress_seconds: float = 30.0) -> Tuple[List[Node], List[Node]]:
    """Run every node that is not done, at most ``slots`` at a time, each once what it needs is
    done: :func:`runtime.launch.supervise`, the project's one local executor.

    Returns ``(ran, failed)``. A node whose needs failed is not started (it is in neither list but
    counted by the caller from ``done()``). Every job still running when this returns or raises is
    stopped.
    """
    ordered = check_graph(nodes)
    pending = [n for n in ordered if not n.done()]
    finished = {n.name for n in ordered if n not in pending}
    broken: set = set()
    ran: List[Node] = []
    failed: List[Node] = []

    def start(node: Node, _slot: int) -> Job:
        os.makedirs(node.work_dir, exist_ok=True)
        on_start(node)
        return backend.start(Command(list(node.argv), node.log, env={**(env or {}), **node.env} or None, cwd=cwd,
                                     echo=node.echo or None))

    def exited(node: Node, _job: Job, code: int) -> None:
        ran.append(node)
        if code == 0 and node.done():
            finished.add(node.name)
        else:
            failed.append(node)
            broken.add(node.name)
        on_exit(node, code)

    def skip(node: Node) -> bool:
        if any(n in broken for n in node.needs):
            broken.add(node.name)  # and so on down the graph
            return True
        return False

    supervise(pending, start, slots, exited, None if on_progress is None else lambda node, job: on_progress(node),
              poll_seconds=poll_seconds, progress_seconds=progress_seconds,
              ready=lambda node: all(n in finished for n in node.needs), skip=skip)
    return ran, failed


def progress_line(node: Node) -> str:
    """The newest mmengine progress line of a running node's log."""
    return f'{node.name} | {latest_progress(node.log)}'


# --- on a Slurm cluster ------------------------------------------------------------------------


@dataclass
class SlurmState:
    """One node under Slurm: its job, what Slurm or the disk says of it, and what this pass did."""

    node: Node
    job: Optional[str] = None
    log: Optional[str] = None
    # done | pending | running | failed | cancelled | timeout | lost | stuck (pending behind a failed
    # dependency: Slurm will never start it) | not submitted
    verdict: str = 'not submitted'
    action: str = ''
    replaced: Optional[Tuple[str, Optional[str], Optional[str]]] = None  # (verdict, job, log) before a resubmission

    @property
    def active(self) -> bool:
        return self.verdict in ('pending', 'running')


def read_state(path: str) -> Dict[str, Dict[str, str]]:
    """The recorded job of each node (``{name: {"job": id, "log": path}}``), empty when there is none."""
    try:
        return record.read_slurm_jobs(path)
    except (OSError, record.RecordError) as e:
        raise GraphError(f'unreadable Slurm state: {one_line(e)}; move it away to start the bookkeeping afresh') from None


def write_jobs(path: str, jobs: Mapping[str, Mapping[str, Optional[str]]]) -> None:
    """Write the state file: ``{name: {"job": id, "log": path}}``, atomically."""
    atomic_write_bytes(path, json.dumps(dict(jobs=dict(jobs)), indent=1).encode())


def write_state(path: str, states: Sequence[SlurmState]) -> None:
    write_jobs(path, {s.node.name: dict(job=s.job, log=s.log) for s in states if s.job})


def _verdict(info: Optional[slurm.JobInfo], done: bool) -> str:
    if done:
        return 'done'
    if info is None:
        return 'lost'
    if info.never_runs:
        return 'stuck'
    return {slurm.PENDING: 'pending', slurm.RUNNING: 'running', slurm.FAILED: 'failed',
            slurm.CANCELLED: 'cancelled', slurm.TIMEOUT: 'timeout'}.get(info.state, 'lost')


def inspect_slurm(nodes: Sequence[Node], state_path: str) -> List[SlurmState]:
    """Each node's state from the recorded jobs, Slurm and the disk."""
    ordered = check_graph(nodes)
    recorded = read_state(state_path)
    ids = [r['job'] for r in recorded.values() if r.get('job')]
    infos = slurm.job_info(ids) if ids else {}
    states = []
    for node in ordered:
        entry = recorded.get(node.name, {})
        state = SlurmState(node, entry.get('job'), entry.get('log'))
        if node.done():
            state.verdict = 'done'
        elif state.job:
            state.verdict = _verdict(infos.get(state.job), False)
        states.append(state)
    return states


def submit_slurm(nodes: Sequence[Node], state_path: str, options: Callable[[Node], slurm.SbatchOptions],
                 status_only: bool = False) -> List[SlurmState]:
    """Submit every node that is not done, queued or running, behind the active jobs it needs.

    A node whose needs are neither done nor active (failed, not submitted) is left, with the
    reason; a node queued behind a job that this pass replaces is cancelled and resubmitted.
    The state file is written after every submission, so a refused one keeps the others' ids.
    """
    states = inspect_slurm(nodes, state_path)
    if status_only:
        return states
    by_name = {s.node.name: s for s in states}
    replaced: set = set()
    try:
        for state in states:
            node = state.node
            if state.verdict == 'done':
                continue
            stale = [n for n in node.needs if n in replaced]
            if state.active and (node.held or not stale):
                state.action = 'kept'
                continue
            if node.held:
                state.action = f'not submitted: {node.held}'
                continue
            missing = [n for n in node.needs if by_name[n].verdict != 'done' and not by_name[n].active]
            if missing:
                if state.active or state.verdict == 'stuck':  # it would never run
                    slurm.cancel(state.job)
                    state.action = f'cancelled job {state.job}; '
                state.replaced = (state.verdict, state.job, state.log) if state.job else None
                state.verdict = 'not submitted'
                state.action += f'waits for {", ".join(missing)} (not done, not queued)'
                continue
            if state.active:
                slurm.cancel(state.job)
                state.action = f'cancelled job {state.job} (its dependency was replaced); '
            elif state.verdict == 'stuck':
                slurm.cancel(state.job)
                state.action = f'cancelled job {state.job} (its dependency had failed); '
            after = [by_name[n].job for n in node.needs if by_name[n].active]
            os.makedirs(node.work_dir, exist_ok=True)  # Slurm opens the log there before the job starts
            opts = options(node)
            job = slurm.submit(node.argv, opts, after_ok=after,
                               script_path=osp.join(node.work_dir, f'{node.name.rsplit("/", 1)[-1]}.sbatch'))
            log = (opts.output or '').replace('%j', job)
            if state.job and state.verdict != 'not submitted':
                state.replaced = (state.verdict, state.job, state.log)
            state.job, state.log, state.verdict = job, log, 'pending'
            state.action += f'submitted job {job}' + (f' (afterok {":".join(after)})' if after else '')
            replaced.add(node.name)
            write_state(state_path, states)
    finally:
        write_state(state_path, states)
    return states


def slurm_report(states: Sequence[SlurmState], title: str) -> str:
    """One line per node (its state, job, log, and what this pass did), then one line with the
    cause of each failure that wrote a log."""
    lines = [title, f'  {"node":<28} {"state":<14} {"job":>8}  log']
    causes = []
    for s in states:
        verdict, job, log = s.verdict, s.job, s.log
        if s.replaced is not None:  # what this pass found, before it resubmitted
            verdict, job, log = s.replaced
        log = log if log and (osp.isfile(log) or verdict in ('pending', 'running')) else ''
        line = f'  {s.node.name:<28} {verdict:<14} {job or "-":>8}  {log}'
        lines.append(line + (f'  <- {s.action}' if s.action else ''))
        if verdict in FAILURES and log and osp.isfile(log):
            cause = failure_cause(log) or 'no error line in its log'
            causes.append(f'  {s.node.name}: job {job} {verdict}: {cause} (log: {log})')
    return '\n'.join(lines + (['failures:', *causes] if causes else []))
