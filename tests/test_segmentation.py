"""ADE20K semantic segmentation with the incubated ViT.

* every shipped config: builds (model with the feature / logit shapes of a forward pass at
  full size, layer-decay optimiser wrapper with AMP, hooks, the train / test / multi-scale +
  flip pipelines on ADE20K-layout data), states the recipe it claims, and the E2E /
  incubation pairs differ only in the checkpoint;
* the bases inherit mmseg's shipped ones, and the model differs from mmseg's ViT UperNet
  only where this recipe changes it;
* every shipped config loads an exported checkpoint through ``init_cfg`` (weights compared,
  position embedding resampled to the segmentation grid);
* ViT-H: 512 x 512 crops are padded to 518 x 518 (a multiple of its patch 14), padding ignored;
* the neck follows the backbone (patch 4, 8, 16: strides 4-32; patch 14: 3.5-28);
* the tiny config end to end on a generated ADE20K-layout set: both losses, every trainable
  parameter gets a gradient, ``tools/train.py`` with mmseg's IoUMetric (mIoU, mAcc, learned
  above chance), ``tools/test.py`` single-scale and ``--tta`` (multi-scale + flip), the
  benchmark report's view of the result (mIoU, mAcc, mIoU-ms), and ``mim train mmseg``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, built_config, config_base_of, load_tool, without_scope
from mmengine.config import Config

import backbones
import runtime.openmmlab  # noqa: F401  (compat.apply(), the layer-decay constructor, the device-hours hook)
import segmentation

CONFIGS = Path(segmentation.CONFIG_DIR)
TINY = CONFIGS / 'upernet_vit-tiny_incubation_test_ade20k-synthetic.py'
FULL = sorted(CONFIGS.glob('upernet_vit-[blh]_*_80k_ade20k-512x512.py'))
SHIPPED = FULL + [TINY]
NUM_CLASSES = 4  # generated labels 1..4 (0 = ``other``, ignored), i.e. ADE20K ids 0..3 after reduce_zero_label
SIZES = {  # per model size: (preset, width, patch, network input, out_indices, layer decay, drop path)
    'vit-b': ('vit_base_patch16_224', 768, 16, 512, (2, 5, 8, 11), 0.65, 0.1),
    'vit-l': ('vit_large_patch16_224', 1024, 16, 512, (5, 11, 17, 23), 0.8, 0.2),
    'vit-h': ('vit_huge_patch14_224', 1280, 14, 518, (7, 15, 23, 31), 0.85, 0.3),
}


@pytest.fixture(scope='module', autouse=True)
def mmseg_scope():
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)


pytestmark = pytest.mark.usefixtures('one_thread')


# --- generated data ---------------------------------------------------------------------------

COLOURS = {1: (40, 40, 220), 2: (40, 200, 40), 3: (220, 60, 40), 4: (40, 220, 220)}  # BGR per class


def write_ade_split(root: Path, split: str, sizes: List[Tuple[int, int]], seed: int) -> None:
    """ADE20K layout: ``images/SPLIT/NAME.jpg`` and ``annotations/SPLIT/NAME.png`` (one uint8
    channel, 0 = ``other`` / ignored, 1..4 = classes), one image per (width, height) in
    ``sizes``: a dark noisy background with 2-4 filled rectangles and discs in class colours."""
    rng = np.random.default_rng(seed)
    (root / 'images' / split).mkdir(parents=True, exist_ok=True)
    (root / 'annotations' / split).mkdir(parents=True, exist_ok=True)
    for i, (width, height) in enumerate(sizes):
        img = rng.integers(0, 50, size=(height, width, 3), dtype=np.uint8)
        label = np.zeros((height, width), np.uint8)
        for _ in range(int(rng.integers(2, 5))):
            cls = int(rng.integers(1, NUM_CLASSES + 1))
            x, y = int(rng.integers(0, width - 16)), int(rng.integers(0, height - 16))
            w, h = int(rng.integers(12, width // 2)), int(rng.integers(12, height // 2))
            for target, value in ((img, COLOURS[cls]), (label, cls)):
                if cls % 2:
                    cv2.rectangle(target, (x, y), (x + w, y + h), value, thickness=-1)
                else:
                    cv2.circle(target, (x + w // 2, y + h // 2), min(w, h) // 2, value, thickness=-1)
        name = f'ADE_{split}_{i:08d}'
        cv2.imwrite(str(root / 'images' / split / f'{name}.jpg'), img)
        cv2.imwrite(str(root / 'annotations' / split / f'{name}.png'), label)


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('ade-synthetic')
    write_ade_split(root, 'training', [(96, 64)] * 4 + [(64, 80)] * 2, seed=0)
    # sizes that are not multiples of the patch after the test resize: test-time padding
    write_ade_split(root, 'validation', [(90, 64), (64, 100), (72, 72)], seed=1)
    return root


def data_options(ade_root: Path) -> List[str]:
    return [f'{k}.dataset.data_root={ade_root}' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def tiny_options(ade_root: Path, checkpoint: Path) -> List[str]:
    """``--cfg-options`` that point the tiny config at the generated data and checkpoint."""
    return data_options(ade_root) + [f'model.backbone.init_cfg.checkpoint={checkpoint}']


# --- every shipped config -----------------------------------------------------------------------

_MODELS: Dict[str, Any] = {}
_SAMPLES: Dict[str, Any] = {}
_EXPORTS: Dict[str, Dict[str, Any]] = {}


@pytest.fixture(scope='module', autouse=True)
def free_caches():
    """The per-size caches below hold up to a few hundred MB; release them with the module."""
    yield
    for cache in (_MODELS, _SAMPLES, _EXPORTS):
        cache.clear()


def build_dataset(cfg: Config, loader: str, ade_root: Path, pipeline=None):
    from mmseg.registry import DATASETS
    dataset_cfg = cfg[loader].dataset.copy()
    dataset_cfg.data_root = str(ade_root)
    if pipeline is not None:
        dataset_cfg.pipeline = pipeline
    return DATASETS.build(dataset_cfg)


def first_sample(cfg: Config, loader: str, ade_root: Path, pipeline=None) -> Dict[str, Any]:
    """The first sample through a pipeline; the six full configs share their data, so it is
    computed once per distinct dataset config."""
    key = repr((cfg[loader].dataset.to_dict(), pipeline))
    if key not in _SAMPLES:
        _SAMPLES[key] = build_dataset(cfg, loader, ade_root, pipeline)[0]
    return _SAMPLES[key]


def built_segmentor(cfg: Config, device: str) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """The segmentor of ``cfg`` and the shapes of one eval-mode forward at the crop size.

    Configs whose model differs only in the checkpoint share one build (nothing is loaded at
    build time), so each model size is built once.
    """
    from mmseg.registry import MODELS
    key = cfg.model.copy()
    key.backbone = {k: v for k, v in key.backbone.items() if k != 'init_cfg'}
    key = repr((key.to_dict(), device))
    if key not in _MODELS:
        _MODELS.clear()  # one large model in memory at a time
        with torch.device(device):
            model = MODELS.build(cfg.model).eval()
            features = model.extract_feat(torch.zeros(1, 3, *cfg.model.data_preprocessor.size))
            shapes = dict(features=[tuple(f.shape[1:]) for f in features],
                          decode=tuple(model.decode_head(features).shape[1:]),
                          aux=tuple(model.auxiliary_head(features).shape[1:]))
        _MODELS[key] = (model.train(), shapes)
    return _MODELS[key]


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.stem)
def test_shipped_config_builds(path: Path, ade_root: Path, monkeypatch):
    """The config, its hooks, model, optimiser wrapper (AMP included) and its three pipelines.

    The full-size models are built and run on the ``meta`` device: every constructor, argument
    and tensor shape is exercised at the real size (the crop, all 12 / 24 / 32 blocks) without
    allocating or initialising weights (a ViT-H alone takes seconds to initialise on the CPU).
    Real weights and real forward passes: :func:`test_shipped_config_loads_exported_checkpoint`
    and the tiny end-to-end tests.
    """
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    from mmseg.registry import HOOKS, MODELS

    cfg = built_config(path)
    assert {'runtime.openmmlab', 'backbones', 'segmentation'} <= set(cfg.custom_imports.imports)
    assert any(h.type == 'DeviceHoursHook' for h in cfg.custom_hooks)
    for hook in cfg.custom_hooks:
        HOOKS.build(hook)
    _, size, method, schedule, _ = path.stem.split('_')
    assert (cfg.benchmark.task, cfg.benchmark.method, cfg.benchmark.schedule) == ('ade20k', method, schedule)
    assert cfg.randomness.seed == 0  # E2E and incubation runs share head init and data order
    assert cfg.tta_model.type == 'SegTTAModel' and MODELS.get('SegTTAModel') is not None

    model, shapes = built_segmentor(cfg, 'cpu' if path == TINY else 'meta')
    assert type(model).__name__ == 'EncoderDecoder'
    assert type(model.backbone).__name__ == 'IncubationViTBackbone'
    assert type(model.neck).__name__ == 'MultiLevelNeck'
    assert type(model.decode_head).__name__ == 'UPerHead' and type(model.auxiliary_head).__name__ == 'FCNHead'
    width, patch = model.backbone.vit.embed_dim, model.backbone.vit.patch_size
    crop = tuple(cfg.model.data_preprocessor.size)
    assert crop[0] % patch == crop[1] % patch == 0
    assert tuple(cfg.model.test_cfg.crop_size) == crop and cfg.model.data_preprocessor.test_cfg.size_divisor == patch
    # four stride-`patch` maps -> strides 4, 8, 16, 32 (ViT-H/14: 3.5 ... 28); UperNet at the finest,
    # FCN at the coarsest
    assert model.neck.scales == ([4, 2, 1, 0.5] if patch in (14, 16) else [2, 1, 0.5, 0.25])
    grid, neck = crop[0] // patch, model.neck.out_channels
    sides = [int(grid * s) for s in model.neck.scales]
    assert [crop[0] / side for side in sides] == ([3.5, 7, 14, 518 / 18] if patch == 14 else [4, 8, 16, 32])
    assert shapes['features'] == [(neck, side, side) for side in sides]
    assert shapes['decode'] == (150, sides[0], sides[0]) and shapes['aux'] == (150, sides[-1], sides[-1])  # ADE20K
    assert model.neck.in_channels == [width] * 4

    # The shipped optimiser wrapper, AMP included (mmengine refuses AmpOptimWrapper without a GPU).
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    rate, base_lr = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate, cfg.optim_wrapper.optimizer.lr
    groups = {g['group_name']: g for g in wrapper.optimizer.param_groups}
    top = model.backbone.num_layers - 1
    assert groups['layer_0_decay']['lr'] == pytest.approx(base_lr * rate ** top)  # patch embedding
    assert groups['layer_1_decay']['lr'] == pytest.approx(base_lr * rate ** (top - 1))  # block 0
    head_lr = base_lr * cfg.optim_wrapper.paramwise_cfg.get('head_lr_mult', 1.0)
    assert groups[f'head_{top}_decay']['lr'] == pytest.approx(head_lr)  # neck and heads
    assert all(n.startswith('backbone.') == g['group_name'].startswith('layer_')
               for g in groups.values() for n in g['param_names'])
    assert all(p.ndim > 1 for g in groups.values() if g['weight_decay'] > 0 for p in g['params'])
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(len(g['params']) for g in groups.values()) == len(trainable)

    # The three pipelines on ADE20K-layout data, through the data preprocessor.
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    train = preprocessor(pseudo_collate([first_sample(cfg, 'train_dataloader', ade_root)]), training=True)
    assert tuple(train['inputs'].shape[-2:]) == crop
    labels = set(train['data_samples'][0].gt_sem_seg.data.unique().tolist())
    assert labels <= set(range(NUM_CLASSES)) | {255}  # reduce_zero_label: 1..4 -> 0..3, 0 and padding -> 255
    test_sample = first_sample(cfg, 'test_dataloader', ade_root)
    short = 64 if path == TINY else 512  # the test scale's shorter side (also for ViT-H: padded later)
    assert min(test_sample['inputs'].shape[-2:]) == short
    test = preprocessor(pseudo_collate([test_sample]), training=False)
    assert test['inputs'].shape[-2] % patch == 0 and test['inputs'].shape[-1] % patch == 0
    views = first_sample(cfg, 'test_dataloader', ade_root, pipeline=cfg.tta_pipeline)
    shapes = [tuple(x.shape[-2:]) for x in views['inputs']]
    flips = [s.metainfo['flip'] for s in views['data_samples']]
    assert len(shapes) == 12 and len(set(shapes)) == 6 and flips.count(True) == 6  # 6 scales x flip
    assert sorted({min(s) for s in shapes}) == [int(short * r) for r in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)]
    assert all('gt_sem_seg' in s for s in views['data_samples'])

    if path != TINY:
        preset, width, patch, net_input, out_indices, layer_decay, drop_path = SIZES[size]
        assert (cfg.model.backbone.arch, model.backbone.vit.embed_dim, model.backbone.vit.patch_size) == (
            preset, width, patch)
        assert crop == (net_input, net_input) and cfg.model.backbone.img_size == net_input
        assert tuple(cfg.model.backbone.out_indices) == out_indices
        assert (rate, cfg.model.backbone.drop_path_rate) == (layer_decay, drop_path)
        assert cfg.model.backbone.init_cfg.checkpoint == f'pretrained/{size}_{method}_in1k.pth'
        assert cfg.benchmark.model == {'vit-b': 'ViT-B', 'vit-l': 'ViT-L', 'vit-h': 'ViT-H'}[size]
        # mmseg's ViT / BEiT UperNet recipe: 8 GPUs x 2, AdamW, AMP, SyncBN heads, 80k poly + warm-up
        assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.optimizer.type == 'AdamW'
        assert cfg.model.decode_head.norm_cfg.type == cfg.model.auxiliary_head.norm_cfg.type == 'SyncBN'
        assert cfg.train_cfg.max_iters == 80000 and cfg.train_cfg.type == 'IterBasedTrainLoop'
        warmup, poly = cfg.param_scheduler
        assert (warmup.type, warmup.end, poly.type, poly.begin, poly.end) == ('LinearLR', 1500, 'PolyLR', 1500, 80000)
        assert cfg.train_pipeline[3].crop_size == (512, 512)  # the same crops for every size
        assert cfg.model.test_cfg.mode == 'slide'
    else:
        assert cfg.model.decode_head.norm_cfg.type == 'BN' and cfg.optim_wrapper.type == 'OptimWrapper'


@pytest.mark.parametrize('incubation', [p for p in FULL if '_incubation_' in p.name], ids=lambda p: p.stem)
def test_e2e_and_incubation_differ_only_in_checkpoint(incubation: Path):
    e2e = incubation.with_name(incubation.name.replace('_incubation_', '_e2e_'))
    a, b = Config.fromfile(incubation).to_dict(), Config.fromfile(e2e).to_dict()
    ckpt_a = a['model']['backbone']['init_cfg'].pop('checkpoint')
    ckpt_b = b['model']['backbone']['init_cfg'].pop('checkpoint')
    assert ckpt_b == ckpt_a.replace('_incubation_', '_e2e_') and ckpt_a != ckpt_b
    assert (a['benchmark'].pop('method'), b['benchmark'].pop('method')) == ('incubation', 'e2e')
    assert a == b


@pytest.mark.parametrize('base, upstream', [
    ('models/upernet_vit-b_mln.py', 'models/upernet_vit-b16_ln_mln.py'),
    ('datasets/ade20k_512x512.py', 'datasets/ade20k.py'),
    ('schedules/schedule_80k.py', 'schedules/schedule_80k.py'),
    ('default_runtime.py', 'default_runtime.py'),
])
def test_bases_inherit_mmseg(base: str, upstream: str):
    assert config_base_of(CONFIGS / '_base_' / base) == [f'mmseg::_base_/{upstream}']


def test_model_is_mmseg_vit_upernet_with_only_the_recipe_changes():
    """Neck, heads, losses and the data preprocessor's normalisation are mmseg's shipped ViT
    UperNet; only the backbone, the class count, the padding and the sliding-window test change."""
    shipped = Path(importlib.util.find_spec('mmseg').origin).parent / '.mim' / 'configs' / '_base_'
    expected = Config.fromfile(shipped / 'models' / 'upernet_vit-b16_ln_mln.py').to_dict()['model']
    # as built: the neck's in_channels and scales, derived from the backbone, are mmseg's own
    ours = without_scope(built_config(CONFIGS / 'upernet_vit-b_incubation_80k_ade20k-512x512.py').to_dict()['model'])
    assert ours['backbone']['type'] == 'IncubationViTBackbone'
    expected['backbone'] = ours['backbone']  # replaced whole
    expected['pretrained'] = None  # the checkpoint is the backbone's init_cfg
    expected['data_preprocessor'].update(size=(512, 512), test_cfg=dict(size_divisor=16))
    expected['decode_head']['num_classes'] = expected['auxiliary_head']['num_classes'] = 150
    expected['test_cfg'] = dict(mode='slide', crop_size=(512, 512), stride=(341, 341))
    assert ours == expected


# the tiny config's backbone with patch 4 (vit_digits_depth16: width 64), 8, 14 and 16; the strides
# mmseg's multi-level neck then gives (powers of two: patch 14 gets the nearest, 3.5 to 28)
NECK_STRIDES = {4: [4, 8, 16, 32], 8: [4, 8, 16, 32], 14: [3.5, 7, 14, 28], 16: [4, 8, 16, 32]}


@pytest.mark.parametrize('patch', sorted(NECK_STRIDES))
def test_the_multi_level_neck_follows_the_backbone(patch: int, tmp_path: Path, capsys):
    """The config as tools/train.py builds it: the neck's input channels are the backbone's width
    (once per output), its scales give strides 4-32 (measured on an image); given scales that do
    not are refused in one line."""
    from mmseg.registry import MODELS

    train = load_tool('train')
    size = 56 if patch == 14 else 64
    backbone = ['model.backbone.arch=vit_digits_depth16'] if patch == 4 else [f'model.backbone.patch_size={patch}']
    argv = [str(TINY), '--work-dir', str(tmp_path / 'w'), '--cfg-options', *backbone,
            f'model.backbone.img_size={size}', 'model.backbone.init_cfg=None']
    model = MODELS.build(train.build_config(train.parse_args(argv)).model).eval()
    width = model.backbone.vit.embed_dim
    assert model.backbone.vit.patch_size == patch and model.neck.in_channels == [width] * 4
    with torch.no_grad():
        levels = model.extract_feat(torch.zeros(1, 3, size, size))
    assert [size / level.shape[-1] for level in levels] == NECK_STRIDES[patch]
    if patch == 4:  # the patch-16 scales with a patch-4 backbone (strides 1 to 8): refused before building
        assert train.cli([*argv, 'model.neck.scales=[4,2,1,0.5]']) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: model.neck.scales=[4, 2, 1, 0.5]: the backbone model.backbone '
                              '(vit_digits_depth16, patch 4, width 64) needs [1, 0.5, 0.25, 0.125]'), err


def test_vit_h_pads_512_crops_to_518_and_ignores_the_padding(ade_root: Path):
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import MODELS
    cfg = Config.fromfile(CONFIGS / 'upernet_vit-h_incubation_80k_ade20k-512x512.py')
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    sample = build_dataset(cfg, 'train_dataloader', ade_root)[0]
    height, width = sample['inputs'].shape[-2:]
    assert height <= 512 and width <= 512  # at most a 512 x 512 crop, as for ViT-B and ViT-L
    batch = preprocessor(pseudo_collate([sample]), training=True)
    assert tuple(batch['inputs'].shape[-2:]) == (518, 518)
    gt = batch['data_samples'][0].gt_sem_seg.data[0]
    assert torch.equal(gt[:height, :width], sample['data_samples'].gt_sem_seg.data[0])
    assert (gt[height:] == 255).all() and (gt[:, width:] == 255).all()  # padding is ignored by the loss
    assert (batch['inputs'][0, :, height:] == 0).all()  # pad value 0 after normalisation: the mean colour


# --- checkpoint loading -----------------------------------------------------------------------------

def export_for(arch: str, tmp_path_factory) -> Dict[str, Any]:
    """An exported ImageNet-shaped network (224 px, 1000-class head) of preset ``arch`` with one
    block per module, random weights; exported once per preset."""
    if arch not in _EXPORTS:
        with torch.device('meta'):  # skip timm's initialisation: random normal weights will do
            net = backbones.build_model(dict(backbones.get_preset(arch), depths=(1, 1, 1, 1)))
        net.to_empty(device='cpu')
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for param in net.parameters():
                param.normal_(0.0, 0.02, generator=generator)
        paths = backbones.export_timm(backbones.network_checkpoint(net), tmp_path_factory.mktemp('export') / arch)
        _EXPORTS.clear()  # one large checkpoint in memory at a time
        _EXPORTS[arch] = dict(state=net.state_dict(), **paths)
    return _EXPORTS[arch]


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.stem)
def test_shipped_config_loads_exported_checkpoint(path: Path, tmp_path_factory, exported):
    """``model.init_weights()`` -> ``init_cfg`` -> an exported checkpoint -> the backbone's weights.

    Full-size configs run with one block per module (depths 1-1-1-1, the meta model's depth)
    so that ViT-H fits a CPU test: width, heads, patch, input size and the rest of the config
    are the shipped ones, and the checkpoint is the exported ImageNet network of that shape
    (``.pth`` for the incubation configs, ``.safetensors`` for the E2E and tiny ones).
    """
    from mmseg.registry import MODELS

    cfg = built_config(path)
    if path == TINY:
        ckpt, fmt = exported, 'safetensors'
    else:
        name = cfg.model.backbone.arch
        cfg.model.backbone.update(arch=dict(backbones.get_preset(name), depths=[1, 1, 1, 1]), out_indices=(0, 1, 2, 3))
        ckpt, fmt = export_for(name, tmp_path_factory), 'safetensors' if '_e2e_' in path.name else 'pth'
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt[fmt])
    with torch.device('meta'):  # weights come from init_weights (heads) and the checkpoint (backbone)
        model = MODELS.build(cfg.model)
    model.to_empty(device='cpu')
    vit = model.backbone.vit
    with torch.no_grad():
        for param in vit.parameters():
            param.zero_()
    model.init_weights()
    state = vit.state_dict()
    assert set(state) == {k for k in ckpt['state'] if not k.startswith('head.')}  # the classifier head is dropped
    for key in ('cls_token', 'patch_embed.proj.weight', 'blocks.0.attn.qkv.weight', 'blocks.0.mlp.fc1.bias',
                f'blocks.{len(vit.blocks) - 1}.mlp.fc2.weight', 'norm.weight'):
        assert torch.equal(state[key], ckpt['state'][key]), key
    # the position embedding: resampled from the ImageNet grid to the segmentation grid
    old, new = ckpt['state']['pos_embed'], state['pos_embed']
    grid = cfg.model.backbone.img_size // vit.patch_size
    assert new.shape[1] == 1 + grid ** 2 and old.shape[1] != new.shape[1]
    assert torch.equal(new[:, 0], old[:, 0])  # the class token's position is kept
    assert new[:, 1:].abs().sum() > 0


def test_tiny_segmentor_computes_both_losses_from_the_exported_checkpoint(exported, ade_root: Path):
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import MODELS
    cfg = built_config(TINY)
    cfg.model.backbone.init_cfg.checkpoint = str(exported['pth'])
    model = MODELS.build(cfg.model)
    model.init_weights()
    dataset = build_dataset(cfg, 'train_dataloader', ade_root)
    batch = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]), training=True)
    losses = model(**batch, mode='loss')
    assert {'decode.loss_ce', 'aux.loss_ce', 'decode.acc_seg', 'aux.acc_seg'} <= set(losses)
    assert torch.isfinite(losses['decode.loss_ce']) and torch.isfinite(losses['aux.loss_ce'])
    # the auxiliary loss is weighted 0.4 (both heads start near uniform: log(150) each)
    assert losses['aux.loss_ce'].item() == pytest.approx(0.4 * losses['decode.loss_ce'].item(), rel=0.2)


def test_every_trainable_parameter_gets_a_gradient(ade_root: Path):
    """So DDP needs no ``find_unused_parameters`` (no config sets it): the backbone's unused
    final norm is frozen, and the last of ``out_indices`` is the last block."""
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import MODELS
    cfg = built_config(TINY)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    dataset = build_dataset(cfg, 'train_dataloader', ade_root)
    batch = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]), training=True)
    losses = model(**batch, mode='loss')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == {
        'backbone.vit.norm.weight', 'backbone.vit.norm.bias'}
    for path in SHIPPED:
        assert not Config.fromfile(path).get('find_unused_parameters', False), path.name


def test_head_lr_mult_scales_only_what_is_outside_the_backbone():
    """``paramwise_cfg.head_lr_mult``: the neck and heads learn faster, the backbone's layer-decayed
    lrs are untouched, and every trainable parameter is in exactly one group."""
    from mmengine.optim import build_optim_wrapper
    from mmseg.registry import MODELS
    cfg = built_config(TINY)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    optim = dict(type='OptimWrapper', constructor='LayerDecayOptimWrapperConstructor',
                 optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05), paramwise_cfg=dict(layer_decay_rate=0.5))
    plain = {g['group_name']: g['lr'] for g in build_optim_wrapper(model, optim).optimizer.param_groups}
    optim['paramwise_cfg']['head_lr_mult'] = 10.0
    groups = build_optim_wrapper(model, optim).optimizer.param_groups
    for group in groups:
        inside = [n.startswith('backbone.') for n in group['param_names']]
        assert all(inside) or not any(inside), group['group_name']
        expected = plain[group['group_name']] * (1.0 if inside[0] else 10.0)
        assert group['lr'] == pytest.approx(expected), group['group_name']
    assert any(not g['group_name'].startswith('layer_') for g in groups)
    names = [n for g in groups for n in g['param_names']]
    assert sorted(names) == sorted(n for n, p in model.named_parameters() if p.requires_grad)


# --- end to end on the CPU ----------------------------------------------------------------------


def read_scalars(work_dir: Path) -> List[Dict[str, Any]]:
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]


def test_tiny_config_trains_evaluates_and_tests_multiscale(tmp_path: Path, ade_root: Path, exported, monkeypatch):
    from mmseg.models import SegTTAModel

    work_dir = tmp_path / 'work'
    train = load_tool('train')
    train.main([str(TINY), '--work-dir', str(work_dir), '--cfg-options', *tiny_options(ade_root, exported['pth'])])

    records = read_scalars(work_dir)
    evaluations = [r for r in records if 'mIoU' in r]
    assert len(evaluations) == 1 and evaluations[0]['step'] == 16
    for name in ('mIoU', 'mAcc', 'aAcc'):
        assert isinstance(evaluations[0][name], float) and 0.0 <= evaluations[0][name] <= 100.0
    # 16 iterations learn the colour -> class map well above chance (1 / 150): the labels, the
    # zero-label reduction and the metric line up (a label shift would give 0)
    assert evaluations[0]['mIoU'] > 10.0 and evaluations[0]['mAcc'] > 10.0
    assert evaluations[0]['cost/device_hours'] > 0
    assert sum('decode.loss_ce' in r and 'aux.loss_ce' in r for r in records) == 16
    cost = json.loads((work_dir / 'cost.json').read_text())
    assert cost['iter'] == 16 and cost['images'] == 32
    checkpoint = work_dir / 'iter_16.pth'
    assert checkpoint.is_file()
    dumped = Config.fromfile(work_dir / TINY.name)
    assert dumped.benchmark == dict(task='ade20k', model='ViT-tiny-test', method='incubation', schedule='test')

    test = load_tool('test')
    options = ['--cfg-options', *tiny_options(ade_root, exported['pth'])]
    single = test.main([str(TINY), str(checkpoint), '--work-dir', str(tmp_path / 'ss'), *options])
    # the checkpoint reproduces the evaluation at the end of training
    assert float(single['mIoU']) == pytest.approx(evaluations[0]['mIoU'], abs=0.01)

    views: List[int] = []
    merge = SegTTAModel.merge_preds
    monkeypatch.setattr(SegTTAModel, 'merge_preds',
                        lambda self, data: views.extend(len(d) for d in data) or merge(self, data))
    # into the training work dir, as tools/test.py does by default (work_dirs/CONFIG for both)
    multi = test.main([str(TINY), str(checkpoint), '--work-dir', str(work_dir), '--tta', *options])
    assert views == [12, 12, 12]  # every validation image at 6 scales x 2 flips
    for name in ('mIoU', 'mAcc'):
        assert isinstance(multi[name], (float, np.floating)) and 10.0 < multi[name] <= 100.0
    # the test session is recognisable as a multi-scale test of this run ...
    sessions = sorted(work_dir.glob('*/vis_data/config.py'))
    assert len(sessions) == 2  # training, then the test
    tta_config = Config.fromfile(sessions[-1])
    assert tta_config.model.type == 'SegTTAModel' and tta_config.model.module.type == 'EncoderDecoder'
    assert tta_config.benchmark == dumped.benchmark
    # ... so the benchmark report files its mIoU as the training run's mIoU-ms
    from benchmarks import collect_runs
    runs = collect_runs([work_dir])
    assert len(runs) == 1 and (runs[0].task, runs[0].method) == ('ade20k', 'incubation')
    assert runs[0].metrics['mIoU'] == pytest.approx(evaluations[0]['mIoU'])
    assert runs[0].metrics['mAcc'] == pytest.approx(evaluations[0]['mAcc'])
    assert runs[0].metrics['mIoU-ms'] == pytest.approx(float(multi['mIoU']))


def test_mim_train_mmseg(tmp_path: Path, ade_root: Path, exported):
    work_dir = tmp_path / 'mim'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    env['OMP_NUM_THREADS'] = '1'  # see one_thread()
    mim = Path(sys.executable).with_name('mim')
    cmd = [str(mim), 'train', 'mmseg', str(TINY), '--work-dir', str(work_dir), '--cfg-options',
           *tiny_options(ade_root, exported['pth']),
           'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2']
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (work_dir / 'iter_2.pth').is_file()
    evaluations = [r for r in read_scalars(work_dir) if 'mIoU' in r]
    assert len(evaluations) == 1 and isinstance(evaluations[0]['mAcc'], float)
    assert json.loads((work_dir / 'cost.json').read_text())['iter'] == 2


def test_foreground_iou_metric_shows_a_degenerate_segmentor():
    """mIoU with foreground IoU (classes merged), the all-background floor and per-class IoU."""
    from mmseg.evaluation.metrics import IoUMetric

    from segmentation.metrics import ForegroundIoUMetric
    metric = ForegroundIoUMetric()
    metric.dataset_meta = dict(classes=('background', 'a', 'b'))
    label = torch.tensor([[0, 2, 2, 0], [0, 1, 255, 0]])
    found_confused = torch.tensor([[0, 1, 2, 0], [0, 2, 0, 0]])  # every item pixel found, two of three misnamed
    stats = IoUMetric.intersect_and_union(found_confused, label, 3, 255)
    out = metric.compute_metrics([stats])
    assert out['fgIoU'] == 100.0 and out['IoU.b'] == pytest.approx(100 / 3, abs=0.01)
    background = IoUMetric.intersect_and_union(torch.zeros_like(label), label, 3, 255)
    floor = metric.compute_metrics([background])
    # all background: IoU(background) = 4 / 7 over the 3 classes present, foreground IoU 0
    assert floor['fgIoU'] == 0.0 and floor['mIoU'] == floor['bg_only_mIoU'] == pytest.approx(100 * 4 / 7 / 3, abs=0.01)
    assert out['bg_only_mIoU'] == floor['bg_only_mIoU']
