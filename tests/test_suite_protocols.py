"""The smoke suite under the frozen protocol and on a real Slurm cluster.

Each on its own smoke suite (``conftest.smoke_suite``, as test_suite.py builds it), in a file of
their own so that pytest-xdist runs them beside test_suite.py: the frozen protocol's heads on the
smoke suite's upstream runs, then the smoke graph again under a real Slurm cluster
(tests/slurm_cluster.py), the downstream jobs waiting on their upstream's final job.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import smoke_suite
from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)

from benchmarks import suite
from benchmarks.__main__ import main as cli

SUMMARY = 'suite_summary'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    yield from smoke_suite(tmp_path_factory)


def _csv(path: Path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_frozen_protocol_at_toy_size(smoke, tmp_path, capsys):
    """``--protocol frozen`` on the smoke suite's upstream runs: the linear segmentation head and
    RetinaNet train on backbones that end exactly as the upstream runs left them, and the report
    has the three rows with box AP, mIoU and both foreground IoUs (RetinaNet's from its boxes)."""
    import torch

    from backbones import load_checkpoint

    work, args = smoke
    frozen = tmp_path / 'frozen'
    words = ['suite', '--preset', 'smoke', '--protocol', 'frozen', '--work-dir', str(frozen),
             '--upstream-dir', str(work / 'upstream'), '--data-root', args[args.index('--data-root') + 1]]
    assert cli(words) == 0
    out = capsys.readouterr().out
    assert '0 to run' not in out and 'upstream/' not in out.split('to run')[1].split('\n')[0], out
    rows = _csv(frozen / 'report' / f'{SUMMARY}.csv')
    assert [r['backbone'] for r in rows[:3]] == ['E2E', 'incubation', 'random init (control)']
    for column in ('APb', 'mIoU', 'fgIoU (det)', 'fgIoU (seg)'):
        assert all(0 <= float(r[column].split(';')[0]) <= 100 for r in rows[:3]), (column, rows)
    assert all(r['APm'] in ('', '–') for r in rows[:3]), rows  # no masks: no mask AP, not a 0
    config = (frozen / 'seg' / 'e2e_seed0' / 'linear_vit-fashion-canvas-d8-frozen_e2e_2k_fashion-scenes-64x64.py')
    assert config.is_file(), sorted(p.name for p in (frozen / 'seg' / 'e2e_seed0').iterdir())
    upstream = load_checkpoint(work / 'upstream' / 'd8_e2e_seed0' / 'model.pth').state_dict
    trained = torch.load(next((frozen / 'seg' / 'e2e_seed0').glob('iter_*.pth')), map_location='cpu',
                         weights_only=False)['state_dict']
    backbone = {k[len('backbone.vit.'):]: v for k, v in trained.items() if k.startswith('backbone.vit.')}
    assert backbone.keys() >= {'blocks.0.attn.qkv.weight', 'patch_embed.proj.weight', 'pos_embed'}
    assert all(torch.equal(backbone[k], upstream[k]) for k in backbone if k in upstream and not k.startswith('head'))
    assert any(k.startswith('decode_head.conv_seg') for k in trained)
    det_config = 'retinanet-linear_vit-fashion-canvas-d8-frozen_incubation_12e_fashion-scenes.py'
    assert (frozen / 'det' / 'incubation_seed0' / det_config).is_file()


# --- the same graph on a real Slurm cluster (last: it reuses and changes the smoke suite's work dir) ---


def test_smoke_suite_under_slurm_waits_for_the_upstream_final_job(smoke, slurm_cluster, capsys):  # noqa: F811
    import shutil
    import time

    work, args = smoke
    before = _csv(work / 'report' / f'{SUMMARY}.csv')
    # the pipeline's final model is gone and so are the downstream runs: the suite submits the
    # pipeline's final node (spliced into its graph, beside the pipeline's finished phases and its
    # assembled network's evaluation), the six
    # downstream jobs, the incubation ones afterok on that final job
    shutil.rmtree(work / 'upstream' / 'd8_incubation_seed0' / 'finetune')
    for task in ('det', 'seg'):
        shutil.rmtree(work / task)
    words = [*args, '--launcher', 'slurm', '--partition', slurm_cluster.partition, '--gpus', '0',
             '--cpus-per-task', '1']
    capsys.readouterr()
    assert cli(words) == 0
    out = capsys.readouterr().out
    state = json.loads((work / suite.SLURM_STATE).read_text())['jobs']
    final = state['upstream/d8_incubation_seed0/final']['job']
    assert set(state) == {'upstream/d8_incubation_seed0/final', *(f'{t}/{i}_seed0' for t in ('det', 'seg')
                                                                  for i in ('e2e', 'incubation', 'random-init'))}, state
    assert 'upstream/d8_e2e_seed0' not in state, 'a finished upstream run is not submitted again'
    for task in ('det', 'seg'):
        line = next(x for x in out.splitlines() if x.strip().startswith(f'{task}/incubation_seed0'))
        assert f'(afterok {final})' in line, out
        assert 'afterok' not in next(x for x in out.splitlines() if x.strip().startswith(f'{task}/e2e_seed0'))
    # the upstream's final job ends without its model (cancelled): Slurm cancels the jobs behind it;
    # the same command resubmits the final job and both dependants behind the new one, and keeps the rest
    from runtime import slurm

    dependants = [state[f'{task}/incubation_seed0']['job'] for task in ('det', 'seg')]
    slurm.cancel(final)
    ended = slurm.wait([final, *dependants], timeout=120, poll_seconds=0.5)
    assert {ended[j].state for j in (final, *dependants)} == {slurm.CANCELLED}, ended
    assert cli(words) == 0
    out = capsys.readouterr().out
    again = json.loads((work / suite.SLURM_STATE).read_text())['jobs']
    new_final = again['upstream/d8_incubation_seed0/final']['job']
    assert new_final != final, out
    for task in ('det', 'seg'):
        line = next(x for x in out.splitlines() if x.strip().startswith(f'{task}/incubation_seed0'))
        assert line.split()[1] == 'cancelled' and f'(afterok {new_final})' in line, out
        assert again[f'{task}/e2e_seed0']['job'] == state[f'{task}/e2e_seed0']['job'], out
    assert out.count('submitted job') == 3, out
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        assert cli([*words, '--status']) == 0
        status = capsys.readouterr().out
        states = {line.split()[0]: line.split()[1] for line in status.splitlines()
                  if line.startswith('  ') and '/' in line.split()[0]}
        # 15: the meta, E2E, 4 incubations, assemble, final, the probe and six downstream runs
        assert len(states) == 15 and not set(states.values()) & {'failed', 'cancelled', 'timeout', 'lost'}, status
        if set(states.values()) == {'done'}:
            break
        time.sleep(2)
    else:
        raise AssertionError(f'the Slurm jobs did not finish in time:\n{status}\n{slurm_cluster.log_tail()}')
    assert cli(words) == 0  # every job done: the same command writes the report
    after = _csv(work / 'report' / f'{SUMMARY}.csv')
    assert [r['backbone'] for r in after] == [r['backbone'] for r in before]
    # the rebuilt pipeline's final model is the same network, bit for bit (one thread, seeded)
    assert after[1]['sha256'] == before[1]['sha256'] and after[1]['APb'] == before[1]['APb']
