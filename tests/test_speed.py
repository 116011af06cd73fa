"""Fast paths and per-run costs: --compile, bf16 autocast, fused AdamW, the loop benchmark, cost.json."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import CLS_CONFIGS, TINY_DIGITS_OPTIONS, cfg_words, data_options, run_tool

E2E_CONFIG = str(CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py')


def _train(work, root, *extra, epochs=3, **more):
    options = dict(TINY_DIGITS_OPTIONS, **data_options(root), **{'train_cfg.max_epochs': epochs}, **more)
    return run_tool('tools/train.py', E2E_CONFIG, '--work-dir', str(work), *extra, '--cfg-options', *cfg_words(options))


def test_train_compile_and_bf16_tiny(tmp_path, digits_root):
    # aot_eager traces forward and backward like inductor does, without its slow C++ build
    proc = _train(tmp_path / 'w', digits_root, '--compile', '--amp', 'bf16', **{'compile_network.backend': 'aot_eager'})
    log = proc.stdout + proc.stderr
    assert 'compiled the network with torch.compile' in log
    assert (tmp_path / 'w' / 'model.pth').is_file()
    cost = json.loads((tmp_path / 'w' / 'cost.json').read_text())
    assert cost['images'] == 3 * 5 * 16  # 80 images, batch 16, drop_last: 5 iterations per epoch


def test_cost_json_three_costs_and_overheads_survive_resume(tmp_path, digits_root):
    from runtime.record import read_cost_record

    work = tmp_path / 'w'
    _train(work, digits_root, epochs=3)
    first = read_cost_record(work)
    assert first.images == 240 and first.device_hours > 0
    assert first.e2e_device_hours > first.device_hours  # start-up, evaluation and checkpoints included
    assert first.flops > 0
    assert set(first.overhead) == {'startup', 'train', 'eval', 'checkpoint', 'wall'}
    assert first.overhead['startup'] > 0 and first.overhead['eval'] > 0 and first.overhead['checkpoint'] > 0
    assert first.overhead['wall'] >= first.overhead['startup'] + first.overhead['train']
    _train(work, digits_root, '--resume', epochs=4)
    second = read_cost_record(work)
    assert second.images == 320
    assert second.flops == first.flops * 4 // 3  # one batch shape: the same count per iteration
    assert second.e2e_device_hours > first.e2e_device_hours
    for key in ('startup', 'eval', 'checkpoint', 'wall'):  # the second session adds its own
        assert second.overhead[key] > first.overhead[key]


def _meta_checkpoint(tmp_path):
    from backbones import build_meta_model, network_checkpoint, save_checkpoint
    path = tmp_path / 'meta.pth'
    save_checkpoint(network_checkpoint(build_meta_model('vit_tiny_test'), kind='meta'), path)
    return str(path)


@pytest.mark.parametrize('role', ['target', 'hybrid'])
def test_flops_on_meta_match_the_real_step(tmp_path, one_thread, role):
    import torch.nn.attention  # noqa: F401
    """The hook's shape-only count equals FlopCounterMode over a real step; a hybrid costs less."""
    from backbones import build_hybrid_model, build_model
    from benchmarks.speed import _Config
    from benchmarks.speed import train_step_flops as real_flops
    from runtime.hooks import train_step_flops

    torch.manual_seed(0)
    model = build_model('vit_tiny_test') if role == 'target' else build_hybrid_model('vit_tiny_test', 1,
                                                                                     _meta_checkpoint(tmp_path))
    config = _Config(role, role, model, [p for p in model.parameters() if p.requires_grad], role)
    x = torch.randn(2, 3, *model.patch_embed.img_size)
    counted = train_step_flops(model, tuple(x.shape))
    # attention counted as its math (a flash kernel's backward also recomputes the scores)
    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        assert counted == real_flops(config, x, torch.tensor([0, 1]))
    if role == 'hybrid':
        assert counted < train_step_flops(build_model('vit_tiny_test'), tuple(x.shape))


@pytest.mark.parametrize('role', ['target', 'hybrid'])
def test_compiled_network_does_not_recompile_after_warmup(tmp_path, one_thread, role):
    """The network compiled in place, trained through mmengine's OptimWrapper with a learning rate
    that changes every step: no frame is compiled again after the first steps."""
    from mmengine.optim import OptimWrapper
    from torch._dynamo.testing import CompileCounter

    from classification.model import IncubationClassifier

    torch._dynamo.reset()
    role_cfg = dict(type='target') if role == 'target' else dict(type='hybrid', module_idx=2,
                                                                 meta_checkpoint=_meta_checkpoint(tmp_path))
    model = IncubationClassifier('vit_tiny_test', role=role_cfg,
                                 data_preprocessor=dict(type='MixupDataPreprocessor', num_classes=1000))
    size = model.network.patch_embed.img_size
    counter = CompileCounter()
    model.network.compile(backend=counter)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    wrapper = OptimWrapper(optimizer)
    data = dict(inputs=torch.randn(4, 3, *size), data_samples=torch.tensor([0, 1, 2, 3]))
    frames = []
    for step in range(5):
        for group in optimizer.param_groups:
            group['lr'] = 1e-3 * (step + 1)
        model.train_step(data, wrapper)
        frames.append(counter.frame_count)
    assert frames[0] >= 1
    assert frames[1:] == [frames[1]] * 4, f'frames compiled after each step: {frames}'
    torch._dynamo.reset()


def test_bf16_wrapper_has_no_grad_scaler_and_autocasts(one_thread):
    from runtime.fastpaths import AutocastOptimWrapper

    layer = torch.nn.Linear(4, 4)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(layer.parameters(), lr=0.1))
    assert not hasattr(wrapper, 'loss_scaler')
    with wrapper.optim_context(layer):
        out = layer(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16


def test_fast_constructor_builds_the_default_optimizer_on_cpu():
    from mmengine.optim import DefaultOptimWrapperConstructor

    from runtime.fastpaths import FastOptimWrapperConstructor

    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
    model = torch.nn.Linear(4, 4)
    fast = FastOptimWrapperConstructor(cfg)(model).optimizer
    plain = DefaultOptimWrapperConstructor(cfg)(model).optimizer
    assert fast.defaults == plain.defaults and not fast.defaults.get('fused')


def test_speed_loop_prints_each_ratio(tmp_path, digits_root, capsys):
    from benchmarks.__main__ import main as cli

    path = tmp_path / 'loop.json'
    options = ['model.arch_overrides.img_size=16', 'model.arch_overrides.patch_size=4']
    assert cli(['speed', '--loop', 'vit_tiny_test:8', 'vit_tiny_test:16', '--device', 'cpu', '--warmup', '0',
                '--loop-blocks', '2', '--loop-block', '1', '--data-root', str(digits_root), '--json', str(path),
                '--record', '', '--cfg-options', *options]) == 0
    captured = capsys.readouterr()
    out = captured.out
    # each measurement as it starts and ends, with the overall position
    assert 'vit_tiny_test, batch 16: starting (model 2 of 2)' in captured.err
    assert 'speed --loop: 2 model(s) in' in captured.err
    results = json.loads(path.read_text())['loop']
    assert [r['batch'] for r in results] == [8, 16]
    for r in results:
        assert r['ratio'] > 0 and len(r['loop_times_ms']) == len(r['bare_times_ms']) == 2
        assert f'{r["ratio"]:.3f}' in out
    assert 'loop / bare throughput' in out


def test_speed_reports_throughput_and_mfu(one_thread):
    from benchmarks.speed import measure, table_peak_tflops

    assert table_peak_tflops('NVIDIA H100 80GB HBM3', 'bf16') == 989.4
    assert table_peak_tflops('NVIDIA H100 PCIe', 'bf16') == 756.0
    assert table_peak_tflops('Some GPU', 'bf16') is None
    result = measure('vit_tiny_test', batch=2, device='cpu', steps=1, warmup=0, modules=[0], include_timm=False,
                     include_naive=False)
    assert result['peak']['source'] == 'measured matmul probe' and result['peak']['tflops'] > 0
    row = result['rows'][0]
    assert row['images_per_s'] == pytest.approx(2 / (row['time_ms'] / 1e3))
    assert 0 < row['mfu'] == pytest.approx(row['tflops_per_s'] / result['peak']['tflops'])


def test_speed_loop_times_the_arch_it_is_given(monkeypatch, capsys):
    """A bare --loop with --arch times that model (not the default ViT-B set); both named is refused."""
    from benchmarks import speed
    from benchmarks.__main__ import main as cli

    timed = []

    def fake_measure_loop(arch, batch, **kwargs):
        timed.append((arch, batch))
        return dict(arch=arch, batch=batch, config='c.py', loop_ms=2.0, bare_ms=1.0, loop_images_per_s=1.0,
                    bare_images_per_s=2.0, ratio=0.5, blocks=1, block=1, warmup=0, loop_times_ms=[2.0],
                    bare_times_ms=[1.0], target=None, met=None, device_name='cpu', amp=None, compile=False)
    monkeypatch.setattr(speed, 'measure_loop', fake_measure_loop)
    assert cli(['speed', '--arch', 'vit_tiny_test', '--batch', '4', '--loop', '--device', 'cpu', '--record', '']) == 0
    assert timed == [('vit_tiny_test', 4)]
    capsys.readouterr()
    assert cli(['speed', '--arch', 'vit_tiny_test', '--loop', 'vit_base_patch16_224:8', '--record', '']) == 2
    assert 'name different models' in capsys.readouterr().err and len(timed) == 1
