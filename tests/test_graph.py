"""runtime.graph: the run graph behind the downstream suite (ordering, bad edges, the local executor)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runtime import graph
from runtime.graph import GraphError, Node
from runtime.launch import LocalBackend


def _touch_node(tmp: Path, name: str, needs=(), fail: bool = False) -> Node:
    """A node whose command writes ``<name>.done`` after checking that every file it needs exists."""
    out = tmp / f'{name}.done'
    checks = ''.join(f'assert __import__("os").path.exists({str(tmp / f"{n}.done")!r}), "{n} missing"; ' for n in needs)
    code = checks + ('raise SystemExit(3)' if fail else f'open({str(out)!r}, "w").write("ok")')
    return Node(name, [sys.executable, '-c', code], str(tmp / name), needs=tuple(needs), done=out.exists)


def test_order_puts_every_node_after_what_it_needs_and_refuses_bad_edges(tmp_path):
    a, b, c = (_touch_node(tmp_path, n, needs) for n, needs in (('c', ('a', 'b')), ('a', ()), ('b', ('a',))))
    assert [n.name for n in graph.check_graph([a, b, c])] == ['a', 'b', 'c']
    with pytest.raises(GraphError, match='needs z, which the graph does not have'):
        graph.check_graph([_touch_node(tmp_path, 'y', ('z',))])
    with pytest.raises(GraphError, match='cyclic dependency: p -> q -> p'):
        graph.check_graph([_touch_node(tmp_path, 'p', ('q',)), _touch_node(tmp_path, 'q', ('p',))])
    with pytest.raises(GraphError, match="two nodes are named 'a'"):
        graph.check_graph([b, b])
    text = graph.describe([a, b, c], 'slurm')
    assert '3. c [sbatch, afterok]  (after a, b)' in text and '1. a [sbatch]' in text


def test_local_executor_runs_in_dependency_order_and_stops_only_what_depends_on_a_failure(tmp_path):
    nodes = [_touch_node(tmp_path, 'down1', ('up',)), _touch_node(tmp_path, 'up'),
             _touch_node(tmp_path, 'bad', fail=True), _touch_node(tmp_path, 'after_bad', ('bad',)),
             _touch_node(tmp_path, 'down2', ('up', 'down1'))]
    started = []
    ran, failed = graph.run_local(nodes, LocalBackend(), 2, on_start=lambda n: started.append(n.name),
                                  poll_seconds=0.05)
    assert [n.name for n in failed] == ['bad']
    assert started.index('up') < started.index('down1') < started.index('down2')
    assert 'after_bad' not in started and not (tmp_path / 'after_bad.done').exists()
    assert all((tmp_path / f'{n}.done').exists() for n in ('up', 'down1', 'down2'))
    # again: what is done is not run again
    started.clear()
    graph.run_local(nodes, LocalBackend(), 2, on_start=lambda n: started.append(n.name), poll_seconds=0.05)
    assert started == ['bad']
