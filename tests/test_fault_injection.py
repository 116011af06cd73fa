"""Kill the digits pipeline at many points, run the same command again, get the same result.

``tools/incubate.py`` on the digits configs (meta, 4 incubations, assembly, fine-tune; 3 epochs
each) runs once uninterrupted while :mod:`runtime.fault` counts every kill point it passes.
A seeded schedule then picks :data:`POINTS` moments of that run (an event and its n-th
occurrence: inside checkpoint, export, manifest and metrics writes, just after a checkpoint
save, at training iterations, around the assembled evaluation and in ``tools/test.py``). For
each, a fresh run is killed there (SIGKILL of its whole process group), the same command runs
again without the fault, and its metrics and weights must equal the uninterrupted run's.

``make test`` runs the first :data:`DEFAULT_POINTS`; all of them:
``pytest tests/test_fault_injection.py -m "slow or not slow"``.
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import torch
from conftest import CLS_CONFIGS, ROOT, TINY_DIGITS_OPTIONS, cfg_words, data_options, tool_env

from backbones import load_checkpoint
from runtime import record
from runtime.fault import COUNTS_ENV, SPEC_ENV

PIPELINE = CLS_CONFIGS / 'vit-digits-d16_incubation_30e+15e_digits.py'
SEED = 14
POINTS = 24
DEFAULT_POINTS = 1
# the first points, run by default: a kill just after a checkpoint save, in the middle of a
# checkpoint write (complete temporary file, not renamed), in tools/test.py, in a manifest update
FIRST = ('after_save', 'write_end:epoch_N.pth', 'test_start', 'write_end:manifest.json')
# what the schedule must reach (the run passes each of them)
REQUIRED = FIRST + ('write_begin:epoch_N.pth', 'write_begin:manifest.json', 'assemble_before', 'assemble_after',
                    'write_end:metrics.json', 'train_iter', 'write_end:module_N.pth', 'write_end:model.pth')


def run_pipeline(work: Path, digits_root: Path, env: Dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    """The pipeline in its own process group (a kill point kills that group, not pytest)."""
    options = {**TINY_DIGITS_OPTIONS, **data_options(digits_root), 'train_cfg.max_epochs': 3}
    argv = [sys.executable, 'tools/incubate.py', str(PIPELINE), '--work-dir', str(work), '--threads-per-worker', '1',
            '--cfg-options', *cfg_words(options)]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)


def outcome(work: Path) -> Dict[str, Any]:
    """What a finished run produced: every phase's metrics and every exported weight."""
    manifest = record.read_manifest(work)
    assert all(p.status == 'done' for p in manifest.phases), [(p.name, p.status) for p in manifest.phases]
    files = [work / p.name / name for p in manifest.phases for name in p.artifacts if name.endswith(('.pth',
                                                                                                    '.safetensors'))]
    return dict(schedule=manifest.benchmark['schedule'], final=manifest.final['metrics'],
                metrics={p.name: p.metrics for p in manifest.phases},
                weights={str(f.relative_to(work)): load_checkpoint(f).state_dict for f in files})


def schedule(counts: Dict[str, int]) -> List[Tuple[str, int]]:
    """POINTS distinct (event, n) moments of the run: FIRST, the rest of REQUIRED, then the other
    events the run passes in a seeded order, then more drawn in proportion to how often each
    occurs; each n drawn uniformly from the event's occurrences."""
    rng = random.Random(SEED)
    others = sorted(e for e in counts if e not in REQUIRED)
    rng.shuffle(others)
    points: List[Tuple[str, int]] = [(event, rng.randint(1, counts[event])) for event in (*REQUIRED, *others)]
    points = points[:POINTS]
    weighted = sorted(counts)
    while len(points) < POINTS:
        event = rng.choices(weighted, weights=[counts[e] for e in weighted])[0]
        point = (event, rng.randint(1, counts[event]))
        if point not in points:
            points.append(point)
    return points


@pytest.fixture(scope='module')
def reference(digits_root, tmp_path_factory) -> Dict[str, Any]:
    """One uninterrupted run, counting the kill points it passes."""
    folder = tmp_path_factory.mktemp('reference')
    env = tool_env()
    env[COUNTS_ENV] = str(folder / 'counts.json')
    started = time.monotonic()
    proc = run_pipeline(folder / 'work', digits_root, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = json.loads((folder / 'counts.json').read_text())
    return dict(counts=counts, points=schedule(counts), outcome=outcome(folder / 'work'),
                seconds=time.monotonic() - started)


def test_the_schedule_reaches_every_kind_of_point(reference):
    counts, points = reference['counts'], reference['points']
    assert not [event for event in REQUIRED if event not in counts], sorted(counts)
    assert len(set(points)) == len(points) == POINTS >= 20
    assert [event for event, _ in points[:len(REQUIRED)]] == list(REQUIRED)


@pytest.mark.parametrize('index', [pytest.param(i, marks=() if i < DEFAULT_POINTS else pytest.mark.slow)
                                   for i in range(POINTS)])
def test_a_killed_pipeline_finishes_with_the_uninterrupted_result(index, reference, digits_root, tmp_path):
    event, n = reference['points'][index]
    work = tmp_path / 'work'
    env = tool_env()
    env[SPEC_ENV] = f'{event}:{n}'
    env[COUNTS_ENV] = str(tmp_path / 'counts.json')
    killed = run_pipeline(work, digits_root, env)
    assert killed.returncode == -signal.SIGKILL, f'{event}:{n} was not reached\n{killed.stderr[-3000:]}'

    again = run_pipeline(work, digits_root, tool_env())
    assert again.returncode == 0, f'after a kill at {event}:{n}\n{again.stdout[-3000:]}\n{again.stderr[-3000:]}'
    got, want = outcome(work), reference['outcome']
    assert got['schedule'] == want['schedule'] == '3+3'
    assert got['final'] == want['final'] and got['metrics'] == want['metrics'], f'{event}:{n}'
    assert got['weights'].keys() == want['weights'].keys()
    for name, state in want['weights'].items():
        unequal = [k for k in state if not torch.equal(state[k], got['weights'][name][k])]
        assert not unequal, f'{event}:{n}: {name} differs in {unequal[:4]}'
    assert not list(work.rglob('.*.tmp')), 'temporary files of the killed writes were left behind'
