"""Kills, damaged files and hostile inputs: resume always works, and repeats the run exactly;
the tools evaluate exactly the network named or refuse in one line; no pickle ever runs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import CLS_CONFIGS, ROOT, TINY_DIGITS_OPTIONS, cfg_words, data_options, tool_env

import classification  # noqa: F401  (registers the data set and sampler)
import runtime.openmmlab  # noqa: F401  (compat.apply(): the safe loaders, the resume lookup)
from backbones import build_model, load_checkpoint, module_checkpoint, network_checkpoint, save_checkpoint
from backbones.checkpoints import CheckpointError, infer_arch
from runtime.checkpoint import (
    LAST_CHECKPOINT,
    ResumableCheckpointHook,
    find_resume_checkpoint,
    read_last_checkpoint,
    rng_state,
    set_rng_state,
)

E2E = str(CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py')
TINY_ARCH = dict(img_size=16, patch_size=4)  # what TINY_DIGITS_OPTIONS make of vit_tiny_test


def run(*args: str, env: dict = None, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env or tool_env(), capture_output=True, text=True,
                          timeout=timeout)


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line an expected error prints, checking that it is one line without a traceback."""
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def training_checkpoint(path: Path, step: int) -> None:
    torch.save(dict(state_dict={'w': torch.full((2,), float(step))}, meta=dict(epoch=step)), path)


# --- item: no checkpoint is deleted before its successor is written and recorded ----------------


def _stub_runner(work_dir: Path, saves: list, keep: list) -> SimpleNamespace:
    """What the hook uses of a runner; ``keep`` is the kept-checkpoint list a resume restores."""
    from mmengine.logging import MessageHub, MMLogger

    def save_checkpoint(out_dir, filename, *args, **kwargs) -> None:
        if saves and saves[0] == 'kill':  # the process dies while writing the file
            saves.pop(0)
            raise KeyboardInterrupt
        saves.append(filename)
        training_checkpoint(Path(out_dir) / filename, len(saves))

    hub = MessageHub.get_instance(f'reliability-{work_dir.name}-{len(saves)}-{keep}')
    if keep:
        hub.update_info('keep_ckpt_ids', list(keep))
    runner = SimpleNamespace(work_dir=str(work_dir), message_hub=hub, logger=MMLogger.get_current_instance(),
                             save_checkpoint=save_checkpoint)
    hook = ResumableCheckpointHook(interval=1, max_keep_ckpts=1)
    hook.before_train(runner)
    return runner, hook


def test_kill_during_a_save_leaves_the_previous_checkpoint_recorded(tmp_path, monkeypatch):
    """max_keep_ckpts=1: mmengine deletes epoch_1.pth before writing epoch_2.pth (a kill then
    leaves last_checkpoint pointing at a deleted file); here epoch_1.pth stays until epoch_2.pth
    is complete and last_checkpoint (relative) names it. Each kill is followed by a new
    process, whose kept list is the one in the checkpoint it resumes from."""
    import runtime.checkpoint as rc

    saves: list = []
    runner, hook = _stub_runner(tmp_path, saves, keep=[])
    hook._save_checkpoint_with_step(runner, 1, dict(epoch=1))
    assert (tmp_path / LAST_CHECKPOINT).read_text() == 'epoch_1.pth'

    saves.insert(0, 'kill')  # killed while epoch_2.pth is written
    with pytest.raises(KeyboardInterrupt):
        hook._save_checkpoint_with_step(runner, 2, dict(epoch=2))
    assert (tmp_path / 'epoch_1.pth').is_file() and read_last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_1.pth')
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_1.pth')

    def killed(*args):  # killed after epoch_2.pth is written, before it is recorded
        raise KeyboardInterrupt
    runner, hook = _stub_runner(tmp_path, saves, keep=[1])
    monkeypatch.setattr(rc, 'write_last_checkpoint', killed)
    with pytest.raises(KeyboardInterrupt):
        hook._save_checkpoint_with_step(runner, 2, dict(epoch=2))
    monkeypatch.undo()
    assert (tmp_path / 'epoch_1.pth').is_file() and (tmp_path / 'epoch_2.pth').is_file()
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')  # not the pointer's epoch_1

    runner, hook = _stub_runner(tmp_path, saves, keep=[2])
    hook._save_checkpoint_with_step(runner, 3, dict(epoch=3))
    assert (tmp_path / LAST_CHECKPOINT).read_text() == 'epoch_3.pth'
    # what it no longer keeps goes once the successor is recorded, the kill's orphan too
    assert sorted(p.name for p in tmp_path.glob('epoch_*.pth')) == ['epoch_3.pth']


def test_resume_finds_the_newest_readable_checkpoint_itself(tmp_path):
    """A stale pointer, a pointer into another (the original) work dir, a truncated newest file
    and a kill's temp file: resume takes the newest file that loads, here, and cleans up."""
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    original.mkdir()
    for step in (1, 2, 3):
        training_checkpoint(original / f'epoch_{step}.pth', step)
    shutil.copytree(original, copy)
    data = (copy / 'epoch_3.pth').read_bytes()
    (copy / 'epoch_3.pth').write_bytes(data[:len(data) // 2])  # killed mid-write without atomic writes
    (copy / LAST_CHECKPOINT).write_text(str(original / 'epoch_3.pth'))  # mmengine's absolute pointer
    temp = copy / '.epoch_4.pth.k1ll3d.tmp'
    temp.write_bytes(b'half')
    assert find_resume_checkpoint(str(copy)) == str(copy / 'epoch_2.pth')  # logs that epoch_3.pth is skipped
    assert not temp.exists()
    for name in ('epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth'):
        (copy / name).unlink()
    assert find_resume_checkpoint(str(copy)) is None  # never the original's file: start afresh
    (copy / LAST_CHECKPOINT).write_text('epoch_9.pth')  # a pointer to a file that was deleted
    assert find_resume_checkpoint(str(copy)) is None
    (copy / 'out').mkdir()
    training_checkpoint(copy / 'out' / 'epoch_5.pth', 5)  # kept in an out_dir
    (copy / LAST_CHECKPOINT).write_text('out/epoch_5.pth')
    assert find_resume_checkpoint(str(copy)) == str(copy / 'out' / 'epoch_5.pth')


def test_random_state_round_trips_through_a_weights_only_file(tmp_path):
    import random

    import numpy as np
    state = rng_state()
    torch.save(dict(rng=state), tmp_path / 'rng.pth')
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    set_rng_state(torch.load(tmp_path / 'rng.pth', weights_only=True)['rng'])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_repeat_aug_sampler_order_depends_on_seed_and_epoch_only():
    from classification.data import RepeatAugSampler
    data = list(range(40))
    first, again, other = (RepeatAugSampler(data, selected_round=0, seed=s) for s in (3, 3, 4))
    for sampler in (first, again, other):
        sampler.set_epoch(5)
    assert list(first) == list(again) != list(other)
    again.set_epoch(6)
    assert list(again) != list(first)
    again.set_epoch(5)
    assert list(again) == list(first)  # what a resumed run sees for epoch 5


# --- item: bit-exact resume, and a kill's leftovers do not stop it ------------------------------


def _last_top1(work: Path) -> float:
    scalars = sorted(work.glob('*/vis_data/scalars.json'))[-1]
    return [json.loads(line) for line in scalars.read_text().splitlines() if 'accuracy/top1' in line][-1]['accuracy/top1']


def test_resume_after_a_kill_repeats_the_uninterrupted_run_bit_for_bit(digits_root, tmp_path):
    """4 epochs straight vs 2 epochs, a kill and --resume to 4: the same weights, exactly, and
    the same accuracy. The killed work dir is a copy (it must resume from its own files) with a
    truncated epoch_3.pth, a pointer to a deleted checkpoint and a kill's temp file."""
    options = {**TINY_DIGITS_OPTIONS, **data_options(digits_root), 'train_cfg.max_epochs': 4,
               'default_hooks.checkpoint.max_keep_ckpts': -1}
    straight, killed = tmp_path / 'straight', tmp_path / 'killed'
    proc = run('tools/train.py', E2E, '--work-dir', str(straight), '--cfg-options', *cfg_words(options))
    assert proc.returncode == 0, proc.stderr[-3000:]

    killed.mkdir()
    shutil.copy(straight / 'epoch_2.pth', killed / 'epoch_2.pth')
    data = (straight / 'epoch_3.pth').read_bytes()
    (killed / 'epoch_3.pth').write_bytes(data[:len(data) // 3])
    (killed / LAST_CHECKPOINT).write_text(str(straight / 'epoch_1.pth'))
    (straight / 'epoch_1.pth').unlink()  # the stale pointer of a kill between delete and record
    (killed / '.epoch_3.pth.abc123.tmp').write_bytes(b'partial')
    proc = run('tools/train.py', E2E, '--work-dir', str(killed), '--resume', '--cfg-options', *cfg_words(options))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'epoch_3.pth: not a readable PyTorch checkpoint' in log and 'resumed epoch: 2' in log
    assert not (killed / '.epoch_3.pth.abc123.tmp').exists()
    assert (killed / LAST_CHECKPOINT).read_text() == 'epoch_4.pth'

    a = torch.load(straight / 'epoch_4.pth', map_location='cpu', weights_only=True)
    b = torch.load(killed / 'epoch_4.pth', map_location='cpu', weights_only=True)
    assert a['state_dict'].keys() == b['state_dict'].keys()
    differ = [k for k in a['state_dict'] if not torch.equal(a['state_dict'][k], b['state_dict'][k])]
    assert not differ, f'weights differ after resume: {differ[:5]}'
    assert _last_top1(straight) == _last_top1(killed)

    # tools/test.py takes the project's own training checkpoint and reproduces that accuracy
    metrics = tmp_path / 'metrics.json'
    proc = run('tools/test.py', E2E, str(killed / 'epoch_4.pth'), '--work-dir', str(tmp_path / 'test'),
               '--metrics-json', str(metrics), '--cfg-options', *cfg_words(options))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(metrics.read_text())['accuracy/top1'] == pytest.approx(_last_top1(killed))
    assert not list(tmp_path.glob('.metrics.json.*'))


# --- item: weights_only on every loading path, whatever the environment says --------------------


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").close()',)


@pytest.fixture
def malicious(tmp_path) -> SimpleNamespace:
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={'network.pos_embed': torch.zeros(1)}, meta=dict(epoch=1, payload=_Payload(marker))),
               path)
    torch.load(path, weights_only=False)  # the file really runs code when unpickled unsafely
    assert marker.exists()
    marker.unlink()
    env = dict(tool_env(), TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    return SimpleNamespace(path=path, marker=marker, env=env)


@pytest.mark.parametrize('entry', ['resume', 'load_from', 'test', 'convert'])
def test_a_malicious_pickle_never_runs(entry, malicious, digits_root, tmp_path):
    evil = str(malicious.path)
    words = cfg_words({**TINY_DIGITS_OPTIONS, **data_options(digits_root)})
    cmd = {'resume': ['tools/train.py', E2E, '--work-dir', str(tmp_path / 'w'), '--resume', evil, '--cfg-options', *words],
           'load_from': ['tools/train.py', E2E, '--work-dir', str(tmp_path / 'w'), '--cfg-options', *words,
                         f'load_from={evil}'],
           'test': ['tools/test.py', E2E, evil, '--work-dir', str(tmp_path / 'w'), '--cfg-options', *words],
           'convert': ['tools/convert_official.py', evil, str(tmp_path / 'out.pth')]}[entry]
    proc = run(*cmd, env=malicious.env)
    assert not malicious.marker.exists(), f'{entry}: the pickle ran'
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert 'Traceback' not in proc.stderr and evil in proc.stderr, proc.stderr[-3000:]


def test_a_malicious_pickle_never_runs_in_load_checkpoint(malicious, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(CheckpointError, match='evil.pth: not a readable PyTorch checkpoint'):
        load_checkpoint(malicious.path)
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(ValueError, match='evil.pth: not a readable PyTorch checkpoint'):
        _load_checkpoint(str(malicious.path))  # what mmengine's resume and load_from call
    assert not malicious.marker.exists()


# --- item: tools/test.py evaluates exactly the network named, or refuses -------------------------


def test_infer_arch_never_guesses_the_head_count():
    state = build_model('vit_tiny_test').state_dict()
    assert 'num_heads' not in infer_arch(state)
    assert infer_arch(state, num_heads=2)['num_heads'] == 2


def test_tools_test_refuses_what_is_not_the_configs_network(digits_root, tmp_path):
    torch.manual_seed(0)
    model = build_model('vit_tiny_test', **TINY_ARCH)
    module = tmp_path / 'module_1.pth'
    save_checkpoint(module_checkpoint(model, 1, model.arch_config()), module)
    # same shapes as the config's network, other head count: only the recorded arch tells
    other_heads = tmp_path / 'model_4heads.pth'
    save_checkpoint(network_checkpoint(build_model('vit_tiny_test', num_heads=4, **TINY_ARCH)), other_heads)
    words = cfg_words({**TINY_DIGITS_OPTIONS, **data_options(digits_root)})

    line = error_line(run('tools/test.py', E2E, str(module), '--work-dir', str(tmp_path / 't'), '--cfg-options', *words))
    assert str(module) in line and 'module 1' in line
    line = error_line(run('tools/test.py', E2E, str(other_heads), '--work-dir', str(tmp_path / 't'),
                          '--cfg-options', *words))
    assert str(other_heads) in line and 'num_heads is 4' in line

    missing = tmp_path / 'nowhere.pth'
    line = error_line(run('tools/test.py', E2E, str(missing), '--cfg-options', *words))
    assert str(missing) in line
    proc = run('tools/test.py', E2E, str(missing), '--debug', '--cfg-options', *words)
    assert proc.returncode != 0 and 'Traceback' in proc.stderr


def test_mmengine_checkpoint_records_its_architecture(tmp_path):
    model = build_model('vit_tiny_test', **TINY_ARCH)
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict={f'network.{k}': v for k, v in model.state_dict().items()},
                    meta=dict(epoch=1, arch=model.arch_config())), path)
    ckpt = load_checkpoint(path)
    assert ckpt.kind == 'model' and ckpt.arch['num_heads'] == 2 and ckpt.state_dict.keys() == model.state_dict().keys()
    torch.save(dict(state_dict={f'network.{k}': v for k, v in model.state_dict().items()}, meta=dict(epoch=1)), path)
    assert 'num_heads' not in load_checkpoint(path).arch  # unknown, so not compared, never guessed


# --- items: one-line errors, a data set smaller than one batch --------------------------------------


def test_a_training_set_smaller_than_one_batch_is_refused_before_training(digits_root, tmp_path):
    options = {**TINY_DIGITS_OPTIONS, **data_options(digits_root), 'train_dataloader.batch_size': 1000}
    work = tmp_path / 'w'
    line = error_line(run('tools/train.py', E2E, '--work-dir', str(work), '--cfg-options', *cfg_words(options)))
    assert str(digits_root) in line and '1000' in line and ' 80 images' in line
    assert not list(work.glob('*.pth'))
    assert os.path.isdir(work)  # the runner was built (the work dir exists), nothing trained
