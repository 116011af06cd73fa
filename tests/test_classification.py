"""Classification: every config builds; E2E, resume, DDP and the whole incubation pipeline run for real."""
from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import CLS_CONFIGS, ROOT, TINY_DIGITS_OPTIONS, cfg_words, data_options, run_tool, tool_env, write_fashion_idx
from mmengine.config import Config

import classification  # noqa: F401  (registers the classifier, data set, metric, hooks)
import runtime.openmmlab  # noqa: F401
from backbones import CheckpointError, build_meta_model, build_model, load_checkpoint, network_checkpoint, save_checkpoint
from classification.data import DataLayoutError, ImageFolderDataset
from classification.pipeline import IncubationPipeline, PipelineError
from runtime import record

PHASE_CONFIGS = sorted(p for p in CLS_CONFIGS.glob('*.py') if 'pipeline' not in Config.fromfile(p))
PIPELINE_CONFIGS = sorted(p for p in CLS_CONFIGS.glob('*.py') if 'pipeline' in Config.fromfile(p))


def _fake_imagenet(root: Path, size: int = 8) -> Path:
    from PIL import Image
    for split in ('train', 'val'):
        for cls in ('n01', 'n02'):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(2):
                Image.new('RGB', (size, size), (40 * i, 90, 200)).save(root / split / cls / f'{i}.JPEG')
    return root


@pytest.mark.parametrize('config', PHASE_CONFIGS, ids=lambda p: p.stem)
def test_every_config_builds(config, tmp_path, monkeypatch):
    """Model (on the meta device: full ViT-H weights are not allocated), optimizer wrapper, data."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DATASETS, MODELS, OPTIM_WRAPPERS

    cfg = Config.fromfile(config)
    assert cfg.benchmark.task in ('imagenet', 'digits', 'cifar100', 'fashion') and cfg.benchmark.method in ('e2e', 'incubation')
    role = cfg.model.get('role', {}).get('type', 'target')
    required = {'hybrid': {'module_idx', 'meta_checkpoint'}, 'assembled': {'module_checkpoints'}}.get(role, set())
    assert required <= set(cfg.model.role), f'{config.name}: role {role} lacks {required - set(cfg.model.role)}'
    if role in ('hybrid', 'assembled'):
        # those roles read checkpoints made by earlier phases (exercised in the pipeline test)
        cfg.model.role = dict(type='target')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert model.network.division.num_modules == 4
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(optim_wrapper, OPTIM_WRAPPERS.get(cfg.optim_wrapper.get('type', 'OptimWrapper')))
    no_decay_ids = {id(p) for group in optim_wrapper.optimizer.param_groups if group['weight_decay'] == 0
                    for p in group['params']}
    no_decay = {n for n, p in model.named_parameters() if id(p) in no_decay_ids}
    final_norm = 'network.fc_norm.weight' if cfg.get('model', {}).get('arch', '').startswith('vit_fashion_canvas') \
        else 'network.norm.weight'  # average pooling: timm's norm after pooling (fc_norm) instead of before
    assert {'network.pos_embed', 'network.cls_token', final_norm, 'network.blocks.0.attn.qkv.bias'} <= no_decay
    assert 'network.blocks.0.attn.qkv.weight' not in no_decay
    if cfg.benchmark.task == 'fashion':  # idx files, read through torchvision; no class-balanced subset of 3 images
        monkeypatch.setenv('INCUBATION_VIT_CACHE', str(tmp_path / 'cache'))
        data, extra = tmp_path / 'fashion', dict(subset=None)
        write_fashion_idx(data, {'train': 3, 'test': 3})
    else:
        size = cfg.model.arch_overrides.get('img_size', 8) if 'digits' in config.stem else 8
        data, extra = _fake_imagenet(tmp_path / 'data', size=size), {}
    for loader in ('train_dataloader', 'val_dataloader'):
        dataset = DATASETS.build(dict(cfg[loader].dataset, data_root=str(data), **extra))
        sample = dataset[0]
        assert sample['inputs'].shape[0] == 3 and sample['inputs'].shape[-1] == cfg[loader].dataset.transform.input_size


def _config_value(cfg: Config, key: str):
    for part in key.split('.'):
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize('config', PIPELINE_CONFIGS, ids=lambda p: p.stem)
def test_every_pipeline_config_plans_its_phases(config, tmp_path):
    # a value that `--cfg-options` words could not carry: commas and a nested dict
    extra = {'benchmark.variant': 'a, b', 'extra_setting': dict(paths=['x,y', 'z'], depth=dict(first=1))}
    pipeline = IncubationPipeline(str(config), str(tmp_path / 'work'), cfg_options=extra)
    phases = [pipeline.meta_phase(), *pipeline.incubate_phases(), pipeline.finetune_phase()]
    assert [p.name for p in phases] == ['meta', 'incubate_0', 'incubate_1', 'incubate_2', 'incubate_3', 'finetune']
    assert [Path(p.artifact).relative_to(tmp_path / 'work').as_posix() for p in phases] == [
        'meta/meta.pth', *[f'incubate_{i}/module_{i}.pth' for i in range(4)], 'finetune/model.pth']
    assert phases[3].cfg_options['model.role.module_idx'] == 2
    assert len(phases[-1].cfg_options['model.role.module_checkpoints']) == 4
    for phase in (phases[0], phases[3], phases[-1]):
        assert Path(phase.config).is_file()
        # what the phase trains from (the dumped, merged config) is what the pipeline meant
        dumped = Config.fromfile(phase.write_config())
        assert phase.config_file == str(tmp_path / 'work' / phase.name / f'{phase.name}_config.py')
        for key, value in phase.cfg_options.items():
            assert _config_value(dumped, key) == value, key
        assert dumped.extra_setting.to_dict() == extra['extra_setting']
        assert dumped.model.type == Config.fromfile(phase.config).model.type  # the phase config underneath


def test_e2e_trains_resumes_and_exports(digits_root, tmp_path):
    """Three epochs (past the 2-epoch warmup), then --resume to a fourth: the epoch counter,
    optimizer state and cost continue.

    On torch >= 2.6 this resume fails without runtime.compat (weights_only unpickling of
    mmengine's HistoryBuffer); the test checks that too.
    """
    cfg = str(CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py')
    work = tmp_path / 'e2e'
    options = {**TINY_DIGITS_OPTIONS, **data_options(digits_root)}
    run_tool('tools/train.py', cfg, '--work-dir', str(work), '--vis', 'tensorboard', '--cfg-options',
             *cfg_words({**options, 'train_cfg.max_epochs': 3}))
    first = torch.load(work / 'epoch_3.pth', map_location='cpu', weights_only=True)
    # --vis tensorboard: TensorBoard's event files beside the scalars.json the reports read
    assert list(work.glob('*/vis_data/events.out.tfevents.*')) and list(work.glob('*/vis_data/scalars.json'))

    from mmengine.logging.history_buffer import HistoryBuffer
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(Exception, match='Unsupported global'):
            torch.load(work / 'epoch_3.pth', map_location='cpu', weights_only=True)
    finally:
        runtime.compat.allow_mmengine_checkpoint_types()
    assert HistoryBuffer in torch.serialization.get_safe_globals()

    proc = run_tool('tools/train.py', cfg, '--work-dir', str(work), '--resume', '--cfg-options',
                    *cfg_words({**options, 'train_cfg.max_epochs': 4}))
    assert 'resumed epoch: 3' in proc.stdout + proc.stderr
    second = torch.load(work / 'epoch_4.pth', map_location='cpu', weights_only=True)
    assert first['meta']['epoch'] == 3 and second['meta']['epoch'] == 4
    iters = first['meta']['iter']
    steps = lambda ckpt: max(s['step'] for s in ckpt['optimizer']['state'].values())  # noqa: E731
    assert steps(first) == iters and steps(second) == iters * 4 // 3  # Adam moments continued, not restarted
    assert second['meta']['cost']['images'] == first['meta']['cost']['images'] * 4 // 3
    assert not torch.equal(first['state_dict']['network.head.weight'], second['state_dict']['network.head.weight'])
    # the exported network evaluates through tools/test.py
    metrics_file = tmp_path / 'metrics.json'
    run_tool('tools/test.py', cfg, str(work / 'model.safetensors'), '--work-dir', str(tmp_path / 'test'),
             '--metrics-json', str(metrics_file), '--cfg-options', *cfg_words(options))
    metrics = json.loads(metrics_file.read_text())
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0 and metrics['accuracy/top5'] >= metrics['accuracy/top1']


def _pipeline_cmd(work: Path, digits_root: Path) -> list:
    options = {**TINY_DIGITS_OPTIONS, **data_options(digits_root), 'train_cfg.max_epochs': 3}
    return [sys.executable, 'tools/incubate.py', str(CLS_CONFIGS / 'vit-digits-d16_incubation_30e+15e_digits.py'),
            '--work-dir', str(work), '--parallel', '2', '--threads-per-worker', '1', '--cfg-options', *cfg_words(options)]


def _descendants_of(pid: int) -> list:
    """Every process below ``pid``: the phases run in processes forked from a preloaded server, a child of it."""
    out = subprocess.run(['ps', '-o', 'pid=', '--ppid', str(pid)], capture_output=True, text=True).stdout
    children = [int(x) for x in out.split()]
    return children + [d for child in children for d in _descendants_of(child)]


def test_pipeline_survives_a_kill_and_finishes(digits_root, tmp_path):
    """meta -> 4 incubations (2 at a time) -> assembly -> fine-tune, killed mid-incubation, re-run."""
    work = tmp_path / 'incubation'
    proc = subprocess.Popen(_pipeline_cmd(work, digits_root), cwd=ROOT, env=tool_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    # last_checkpoint stays once written; epoch_1.pth is deleted when epoch 2 is saved (max_keep_ckpts=1),
    # so polling for it can miss it on a fast machine and let the pipeline finish before the kill
    first_ckpt = work / 'incubate_0' / 'last_checkpoint'
    while not first_ckpt.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, 'the incubation of module 0 never saved a checkpoint'
        time.sleep(0.2)
    workers = _descendants_of(proc.pid)
    assert len(workers) >= 2, f'the incubation runs should be processes below the pipeline: {workers}'
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up handlers run
    proc.wait()
    alive = lambda: [pid for pid in workers if Path(f'/proc/{pid}').exists()  # noqa: E731
                     and 'zombie' not in Path(f'/proc/{pid}/status').read_text().lower()]
    deadline = time.monotonic() + 20  # the preloaded server's interpreter takes a moment to shut down
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(), f'processes of the pipeline outlived it: {alive()}'
    # what the kill left (the workers may have got further than epoch 1 before they died)
    module_0_done = (work / 'incubate_0' / 'module_0.pth').exists()
    saved_epochs = [int(p.stem.split('_')[1]) for p in (work / 'incubate_0').glob('epoch_*.pth')]
    meta_mtime = (work / 'meta' / 'meta.pth').stat().st_mtime_ns
    assert not (work / 'finetune' / 'model.pth').exists()

    # resumed in fresh interpreters: a phase started forked from the preloaded server goes on without it
    rerun = subprocess.run(_pipeline_cmd(work, digits_root) + ['--fresh-processes', '--vis', 'tensorboard'], cwd=ROOT,
                           env=tool_env(), capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stdout[-4000:] + rerun.stderr[-4000:]
    # the overall progress: a summary naming what ran and what was finished before; its status file
    assert re.search(r'\[incubate\] \d phase\(s\) in .*finetune .*; finished before: meta', rerun.stdout), rerun.stdout[-3000:]
    assert json.loads((work / 'progress.json').read_text())['fraction'] == 1.0
    assert list((work / 'finetune').glob('*/vis_data/events.out.tfevents.*'))  # --vis reached every phase
    assert 'preloaded' not in rerun.stdout
    assert 'meta: starting' not in rerun.stdout  # the finished phase was not redone
    assert (work / 'meta' / 'meta.pth').stat().st_mtime_ns == meta_mtime
    if not module_0_done:  # it was interrupted after a checkpoint: it resumed from it rather than starting over
        log = (work / 'incubate_0' / 'train.out').read_text()
        assert saved_epochs, 'the kill left last_checkpoint but no epoch checkpoint'
        assert f'resumed epoch: {max(saved_epochs)}' in log.lower().replace(',', ''), log[-3000:]

    manifest = record.read_manifest(work)
    assert [p.name for p in manifest.phases] == ['meta', 'incubate_0', 'incubate_1', 'incubate_2', 'incubate_3',
                                                 'assemble', 'finetune']
    assert all(p.status == 'done' for p in manifest.phases)
    for phase in manifest.phases:
        assert 0.0 <= phase.metrics['accuracy/top1'] <= 100.0, phase
    trained = [p for p in manifest.phases if p.name != 'assemble']
    assert all(p.device_hours > 0 and p.images > 0 for p in trained)
    hours = {p.name: p.device_hours for p in manifest.phases}
    assert manifest.cost['device_hours'] == pytest.approx(sum(hours.values()))
    # the preloaded server's imports (the first session's) are in the end-to-end cost
    assert manifest.cost['shared_startup_seconds'] > 0
    assert manifest.cost['e2e_device_hours'] == pytest.approx(
        sum(p.e2e_device_hours for p in trained) + manifest.cost['shared_startup_seconds'] / 3600)
    assert manifest.cost['wall_hours_parallel'] == pytest.approx(
        hours['meta'] + max(hours[f'incubate_{i}'] for i in range(4)) + hours['finetune'])
    # each phase trained from its dumped, merged config (no option strings on its command line)
    assert Config.fromfile(work / 'incubate_2' / 'incubate_2_config.py').model.role.module_idx == 2
    assert 'finetune/finetune_config.py --work-dir' in rerun.stdout and '--cfg-options' not in rerun.stdout
    final = load_checkpoint(manifest.final['checkpoint'])
    assert final.kind == 'model' and final.arch['depths'] == [2, 2, 2, 2]
    # the final model is a timm local folder too: timm builds it by name, with the same logits
    import timm
    theirs = timm.create_model(f'local-dir:{work / "finetune" / "timm"}', pretrained=True).eval()
    ours = build_model(final.arch).eval()
    ours.load_state_dict(final.state_dict)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=0, atol=0)
    module = load_checkpoint(work / 'incubate_2' / 'module_2.pth')
    assert module.kind == 'module' and module.module_idx == 2 and module.arch['depths'] == [2, 2, 2, 2]

    # the real run feeds the benchmark report end to end
    out = tmp_path / 'report'
    run_tool('-m', 'benchmarks', 'report', str(work), '--out', str(out))
    rows = list(csv.DictReader((out / 'digits.csv').open()))
    by_method = {row['method']: row for row in rows}
    assert manifest.benchmark['schedule'] == '3+3'
    assert float(by_method['incubation 3+3']['top-1']) == pytest.approx(manifest.final['metrics']['accuracy/top1'])
    assert by_method['E2E']['status'] == 'no run'
    assert (out / 'efficiency.md').is_file() and (out / 'cost.csv').is_file()


@pytest.mark.parametrize('role', ['target', 'hybrid'])
def test_two_process_gloo_training(digits_root, tmp_path, role):
    """torchrun --nproc_per_node 2 on the CPU trains the same config; the hybrid works under DDP."""
    options = {**TINY_DIGITS_OPTIONS, **data_options(digits_root), 'train_cfg.max_epochs': 3,
               'env_cfg.dist_cfg.backend': 'gloo', 'train_dataloader.batch_size': 8, 'effective_batch_size': 32}
    config = 'vit-digits-d16_e2e_60e_digits.py'
    if role == 'hybrid':
        meta = tmp_path / 'meta.pth'
        save_checkpoint(network_checkpoint(build_meta_model('vit_tiny_test', img_size=16, patch_size=4), 'meta'), meta)
        options.update({'model.role.module_idx': 1, 'model.role.meta_checkpoint': str(meta)})
        config = 'vit-digits-d16_incubate_30e_digits.py'
    work = tmp_path / 'ddp'
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29533',
                           'tools/train.py', str(CLS_CONFIGS / config), '--launcher', 'pytorch', '--work-dir', str(work),
                           '--cfg-options', *cfg_words(options)], cwd=ROOT, env=tool_env(), capture_output=True,
                          text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'effective batch 32 = 8 x 2 device(s) x 2 accumulation step(s)' in log
    cost = record.read_cost(work)
    assert cost['devices'] == 2
    last = torch.load(work / 'epoch_3.pth', map_location='cpu', weights_only=True)
    steps = max(state['step'] for state in last['optimizer']['state'].values())
    # one optimizer step per 2 accumulated iterations (mmengine also steps on a final odd one)
    assert steps == math.ceil(last['meta']['iter'] / 2) < last['meta']['iter']
    exported = work / ('module_1.pth' if role == 'hybrid' else 'model.pth')
    assert load_checkpoint(exported).kind == ('module' if role == 'hybrid' else 'model')


# --- bad input ------------------------------------------------------------------------------------


def test_bad_data_roots_are_named(tmp_path):
    with pytest.raises(DataLayoutError, match=r'nowhere: data root not found'):
        ImageFolderDataset(str(tmp_path / 'nowhere'))
    flat = tmp_path / 'flat'
    (flat / 'train').mkdir(parents=True)
    (flat / 'train' / 'img.png').write_bytes(b'')
    with pytest.raises(DataLayoutError, match=r'flat/train: no class folders inside'):
        ImageFolderDataset(str(flat))
    data = _fake_imagenet(tmp_path / 'data')
    (data / 'train' / 'n03').mkdir()
    with pytest.raises(DataLayoutError, match=r'train/n03: empty class folder'):
        ImageFolderDataset(str(data))
    (data / 'train' / 'n03').rmdir()
    (data / 'val' / 'n01' / '0.JPEG').write_bytes(b'not an image')
    dataset = ImageFolderDataset(str(data), split='val', transform=dict(input_size=8))
    with pytest.raises(OSError, match=r'val/n01/0\.JPEG: unreadable image'):
        dataset[0]
    with pytest.raises(OSError, match=r'val/n01/0\.JPEG: unreadable image'):  # in memory: when it is built
        ImageFolderDataset(str(data), split='val', transform=dict(input_size=8), in_memory=True)


def test_digits_data_path_gives_the_items_of_the_plain_one(digits_root):
    """In memory and normalised per batch by the model (the digits configs) changes nothing a run
    sees: the same images, the same augmentation draws, the same normalised batch."""
    import random

    from mmengine.dataset import default_collate
    from mmengine.registry import MODELS

    cfg = Config.fromfile(str(CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py'))
    transform = cfg.train_dataloader.dataset.transform
    assert transform.use_prefetcher and cfg.train_dataloader.dataset.in_memory
    plain_transform = {k: v for k, v in transform.items() if k != 'use_prefetcher'}
    plain_transform.update(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    plain = ImageFolderDataset(str(digits_root), 'train', plain_transform)
    fast = ImageFolderDataset(str(digits_root), 'train', transform, in_memory=True)
    assert len(fast.images) == len(plain) > 0
    picked = [0, 7, len(plain) - 1]
    random.seed(0)
    expected = default_collate([plain[i] for i in picked])
    random.seed(0)
    raw = default_collate([fast[i] for i in picked])
    assert raw['inputs'].dtype == torch.uint8
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    got = preprocessor(raw, training=True)
    assert torch.allclose(got['inputs'], expected['inputs'], atol=1e-6)
    assert torch.equal(got['data_samples'], expected['data_samples'])


def test_pipeline_rejects_bad_inputs_before_training(digits_root, tmp_path):
    config = str(CLS_CONFIGS / 'vit-digits-d16_incubation_30e+15e_digits.py')
    with pytest.raises(PipelineError, match=r'missing/train: expected the ImageNet layout'):
        IncubationPipeline(config, str(tmp_path / 'w1'), data_root=str(tmp_path / 'missing')).check_inputs()
    with pytest.raises(Exception, match='module index 7 is out of range'):
        IncubationPipeline(config, str(tmp_path / 'w2'), modules=[7])
    wrong_meta = tmp_path / 'meta3.pth'
    save_checkpoint(network_checkpoint(build_meta_model('vit_digits_depth16', depths=(8, 4, 4)), 'meta'), wrong_meta)
    with pytest.raises(CheckpointError, match=r'meta3\.pth: the meta model has 3 modules'):
        IncubationPipeline(config, str(tmp_path / 'w3'), meta=str(wrong_meta), data_root=str(digits_root)).check_inputs()
    with pytest.raises(PipelineError, match='not a pipeline config'):
        IncubationPipeline(str(CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py'), str(tmp_path / 'w4'))
    assert not (tmp_path / 'w3' / 'meta').exists()
