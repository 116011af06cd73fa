"""COCO detection with the incubated ViT.

* the simple feature pyramid and the channel LayerNorm (shapes, strides, what they normalise);
  the pyramid follows the backbone (patch 4, 8, 16: the anchor strides; patch 14: refused);
* every shipped config: builds (model, layer-decay optimiser wrapper, pipelines run on real
  COCO-format data), the E2E / incubation pairs differ only in the checkpoint and each 3x
  config from its 1x config only in the schedule;
* the bases inherit mmdet's shipped ones, and the model differs from mmdet's Mask R-CNN only
  where ViTDet changes it;
* the backbone loads an exported checkpoint through ``init_cfg``;
* the tiny config end to end on a generated COCO-format set with polygon masks:
  ``tools/train.py`` + mmdet's CocoMetric, and ``mim train mmdet`` + ``tools/test.py``.
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

import detection  # noqa: F401  (registers SimpleFeaturePyramid and LN2d)
import runtime.openmmlab  # noqa: F401  (compat.apply(), the layer-decay constructor, the device-hours hook)
from runtime.cli import UserError

CONFIGS = ROOT / 'detection' / 'configs'
TINY = CONFIGS / 'mask-rcnn_vit-tiny_incubation_test_coco-synthetic.py'
FULL = sorted(CONFIGS.glob('mask-rcnn_vit-[bl]_*_coco.py'))
SHIPPED = FULL + [TINY]
CLASSES = ('square', 'triangle')
METRICS = ('coco/bbox_mAP', 'coco/segm_mAP')


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    """mmdet's registries as the default scope for this module only (other tasks' tests
    share the process and expect their own)."""
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


pytestmark = pytest.mark.usefixtures('one_thread')


# --- generated data ---------------------------------------------------------------------------


def _polygon(rng: np.random.Generator, category: int, cell: Tuple[int, int]) -> np.ndarray:
    """A square (category 1) or a triangle (category 2) inside a 32 x 32 cell of the image."""
    size = int(rng.integers(14, 26))
    x0, y0 = cell[0] + int(rng.integers(2, 30 - size)), cell[1] + int(rng.integers(2, 30 - size))
    if category == 1:
        pts = [(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size)]
    else:
        pts = [(x0 + size // 2, y0), (x0 + size, y0 + size), (x0, y0 + size)]
    return np.array(pts, dtype=np.int32)


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0].astype(float), poly[:, 1].astype(float)
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def write_coco_split(root: Path, split: str, num_images: int, size: Tuple[int, int], seed: int) -> Path:
    """``size`` (width, height) images with 1-3 coloured polygons each (red squares, green
    triangles, one per 32 x 32 cell) and their COCO annotations (polygon segmentation, bbox,
    area, iscrowd=0)."""
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    width, height = size
    cells = [(x, y) for y in range(0, height - 31, 32) for x in range(0, width - 31, 32)]
    images: List[Dict[str, Any]] = []
    annotations: List[Dict[str, Any]] = []
    colours = {1: (40, 40, 220), 2: (40, 200, 40)}  # BGR
    for image_id in range(1, num_images + 1):
        img = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        for c in rng.permutation(len(cells))[:int(rng.integers(1, 4))]:
            category = int(rng.integers(1, 3))
            poly = _polygon(rng, category, cells[c])
            cv2.fillPoly(img, [poly], colours[category])
            x0, y0 = poly.min(0)
            x1, y1 = poly.max(0)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=category, iscrowd=0,
                segmentation=[poly.astype(float).ravel().tolist()], area=_area(poly),
                bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)]))
        name = f'{image_id:06d}.png'
        cv2.imwrite(str(root / split / name), img)
        images.append(dict(id=image_id, file_name=name, width=width, height=height))
    ann_file = root / 'annotations' / f'instances_{split}.json'
    ann_file.parent.mkdir(parents=True, exist_ok=True)
    categories = [dict(id=i + 1, name=n, supercategory='shape') for i, n in enumerate(CLASSES)]
    ann_file.write_text(json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return ann_file


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('coco-synthetic')
    write_coco_split(root, 'train', num_images=8, size=(64, 64), seed=0)
    # not square: padded to the training square at test time, boxes must stay in the image
    write_coco_split(root, 'val', num_images=4, size=(96, 64), seed=1)
    return root


def tiny_options(coco_root: Path, checkpoint: Path) -> List[str]:
    """``--cfg-options`` that point the tiny config at the generated data and checkpoint."""
    ann = coco_root / 'annotations' / 'instances_val.json'
    return ([f'{k}.dataset.data_root={coco_root}/' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
            + [f'{k}.ann_file={ann}' for k in ('val_evaluator', 'test_evaluator')]
            + [f'model.backbone.init_cfg.checkpoint={checkpoint}'])


# --- neck and norm ------------------------------------------------------------------------------


def test_ln2d_normalises_over_channels():
    from mmcv.cnn import build_norm_layer
    name, norm = build_norm_layer(dict(type='LN2d', eps=1e-6), 8)
    x = torch.randn(2, 8, 5, 7) * 3 + 1
    y = norm(x)
    assert name.startswith('ln') and y.shape == x.shape
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (8,), eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 5, 7), atol=1e-5, rtol=0)


@pytest.mark.parametrize('patch, factors', [(16, (4.0, 2.0, 1.0, 0.5)), (8, (2.0, 1.0, 0.5, 0.25))])
def test_simple_feature_pyramid_gives_strides_4_to_64(patch, factors):
    from mmdet.registry import MODELS
    neck = MODELS.build(dict(type='SimpleFeaturePyramid', in_channels=64, out_channels=16, scale_factors=factors))
    grid = 128 // patch
    early, last = torch.randn(1, 64, grid, grid), torch.randn(1, 64, grid, grid)
    outs = neck((early, last))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 128 // s, 128 // s) for s in (4, 8, 16, 32, 64)]
    # the pyramid is built from the last map (in_index=-1) only
    assert torch.equal(neck((torch.zeros_like(early), last))[0], outs[0])
    assert not torch.equal(neck((early, torch.zeros_like(last)))[0], outs[0])


def test_simple_feature_pyramid_rejects_bad_arguments():
    from mmdet.registry import MODELS
    with pytest.raises(ValueError, match='power of two'):
        MODELS.build(dict(type='SimpleFeaturePyramid', in_channels=64, scale_factors=(3.0, 1.0)))
    with pytest.raises(UserError, match='follow the backbone'):  # left to a config's backbone, built alone
        MODELS.build(dict(type='SimpleFeaturePyramid', in_channels=64))
    neck = MODELS.build(dict(type='SimpleFeaturePyramid', in_channels=64, out_channels=8, scale_factors=(2, 1)))
    with pytest.raises(ValueError, match='in_channels=64'):
        neck((torch.randn(1, 32, 4, 4),))


# the tiny config's backbone with patch 4 (the vit_digits_depth16: width 64), 8, 14 and 16
BACKBONES = {4: ['model.backbone.arch=vit_digits_depth16'], 8: [], 14: ['model.backbone.patch_size=14'],
             16: ['model.backbone.patch_size=16']}


@pytest.mark.parametrize('patch', sorted(BACKBONES))
def test_the_pyramid_follows_the_backbone_to_the_anchor_strides(patch, tmp_path, capsys):
    """The config as tools/train.py builds it: the neck's input channels are the backbone's width,
    and the pyramid's strides, measured on an image, are the anchor generator's and the RoI
    extractors'. A patch size that cannot give them (14: not a power of two) is refused in one line."""
    from mmdet.registry import MODELS

    train = load_tool('train')
    size = 56 if patch == 14 else 64
    argv = [str(TINY), '--work-dir', str(tmp_path / 'w'), '--cfg-options', *BACKBONES[patch],
            f'model.backbone.img_size={size}', 'model.backbone.init_cfg=None']
    if patch == 14:
        assert train.cli(argv) == 2
        err = capsys.readouterr().err
        assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
        assert err.startswith('error: model.neck: the backbone model.backbone (vit_tiny_test, patch 14, width 32) '
                              'cannot give the strides (4, 8, 16, 32) of model.rpn_head.anchor_generator.strides'), err
        return
    cfg = train.build_config(train.parse_args(argv))
    model = MODELS.build(cfg.model).eval()
    assert model.backbone.vit.patch_size == patch
    assert model.neck.in_channels == model.backbone.vit.embed_dim == (64 if patch == 4 else 32)
    with torch.no_grad():
        levels = model.extract_feat(torch.zeros(1, 3, size, size))
    strides = [size // level.shape[-1] for level in levels]
    assert strides == [w for w, h in model.rpn_head.prior_generator.strides] == [4, 8, 16, 32, 64]
    assert model.roi_head.bbox_roi_extractor.featmap_strides == model.roi_head.mask_roi_extractor.featmap_strides \
        == strides[:4]


def test_given_neck_values_are_kept_when_they_fit_and_refused_otherwise(tmp_path, capsys):
    train = load_tool('train')
    argv = [str(TINY), '--work-dir', str(tmp_path / 'w'), '--cfg-options', 'model.backbone.arch=vit_digits_depth16']
    # what a config for a patch-4, width-64 backbone writes out: kept
    cfg = train.build_config(train.parse_args([*argv, 'model.neck.in_channels=64',
                                               'model.neck.scale_factors=(1,0.5,0.25,0.125)']))
    assert (cfg.model.neck.in_channels, tuple(cfg.model.neck.scale_factors)) == (64, (1, 0.5, 0.25, 0.125))
    # the patch-8 values with the patch-4, width-64 backbone: one line each, naming the key and the fix
    for word, expected in (('model.neck.in_channels=32', 'model.neck.in_channels=32: the backbone model.backbone '
                            '(vit_digits_depth16, patch 4, width 64) needs 64'),
                           ('model.neck.scale_factors=(2,1,0.5,0.25)', 'model.neck.scale_factors=(2, 1, 0.5, 0.25): '
                            'with the backbone model.backbone (vit_digits_depth16, patch 4, width 64) the pyramid has '
                            'strides (2, 4, 8, 16, 32), but model.rpn_head.anchor_generator.strides is (4, 8, 16, 32, 64)')):
        assert train.cli([*argv, word]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f'error: {expected}') and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'w').exists()  # refused before the runner was built


# --- every shipped config -----------------------------------------------------------------------

@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.stem)
def test_shipped_config_builds(path: Path, coco_root: Path, monkeypatch):
    from mmdet.registry import DATASETS, HOOKS, MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.optim.optimizer import amp_optimizer_wrapper

    cfg = built_config(path)
    assert {'runtime.openmmlab', 'backbones', 'detection'} <= set(cfg.custom_imports.imports)
    assert any(h.type == 'DeviceHoursHook' for h in cfg.custom_hooks)
    for hook in cfg.custom_hooks:
        HOOKS.build(hook)
    bench = cfg.benchmark
    _, size, method, schedule, _ = path.stem.split('_')
    assert (bench.task, bench.method, bench.schedule) == ('coco', method, schedule)
    assert cfg.randomness.seed == 0  # E2E and incubation runs share head init and data order

    # On the meta device: every module and shape as configured, without ~9 s of initialising
    # ViT-L's 300M parameters (loading real weights is tested below).
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'MaskRCNN'
    assert type(model.backbone).__name__ == 'IncubationViTBackbone'
    assert type(model.neck).__name__ == 'SimpleFeaturePyramid'
    assert model.neck.in_channels == model.backbone.vit.embed_dim
    assert model.roi_head.bbox_head.num_classes == len(cfg.get('metainfo', {}).get('classes', range(80)))

    # The shipped optimiser wrapper, AMP included (mmengine refuses AmpOptimWrapper without a GPU).
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    rate, base_lr = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate, cfg.optim_wrapper.optimizer.lr
    groups = {g['group_name']: g for g in wrapper.optimizer.param_groups}
    top = model.backbone.num_layers - 1
    assert groups['layer_0_decay']['lr'] == pytest.approx(base_lr * rate ** top)  # patch embedding
    head_lr = base_lr * cfg.optim_wrapper.paramwise_cfg.get('head_lr_mult', 1.0)
    assert groups[f'head_{top}_decay']['lr'] == pytest.approx(head_lr)  # neck and heads
    assert all(n.startswith('backbone.') == g['group_name'].startswith('layer_')
               for g in groups.values() for n in g['param_names'])
    assert all(p.ndim > 1 for g in groups.values() if g['weight_decay'] > 0 for p in g['params'])
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(len(g['params']) for g in groups.values()) == len(trainable)

    # The pipelines on real COCO-format data (the generated set) and the data preprocessor.
    samples = {}
    for loader, split in (('train_dataloader', 'train'), ('test_dataloader', 'val')):
        dataset_cfg = cfg[loader].dataset.copy()
        dataset_cfg.update(data_root=f'{coco_root}/', ann_file=f'annotations/instances_{split}.json',
                           data_prefix=dict(img=f'{split}/'), metainfo=dict(classes=CLASSES))
        samples[split] = DATASETS.build(dataset_cfg)[0]
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    square = (cfg.model.data_preprocessor.pad_size_divisor,) * 2
    assert square[0] % model.backbone.vit.patch_size == 0
    # training: LSJ crops padded to the square, masks with them
    batch = preprocessor(pseudo_collate([samples['train']]), training=True)
    assert tuple(batch['inputs'].shape[-2:]) == square
    gt = batch['data_samples'][0].gt_instances
    assert len(gt.masks) == len(gt.bboxes) and (not len(gt) or tuple(gt.masks.masks.shape[-2:]) == square)
    # test (96 x 64 -> longest side = the training size): padded to the same square, while the
    # image shape that predicted boxes are clipped to stays the real one
    batch = preprocessor(pseudo_collate([samples['val']]), training=False)
    meta = batch['data_samples'][0].metainfo
    assert tuple(batch['inputs'].shape[-2:]) == meta['batch_input_shape'] == square
    assert meta['img_shape'] == (round(square[0] * 64 / 96), square[1])

    if path != TINY:
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert cfg.train_cfg.max_epochs == {'1x': 12, '3x': 36}[schedule]
        assert (rate, cfg.model.backbone.drop_path_rate) == {'vit-b': (0.7, 0.1), 'vit-l': (0.8, 0.4)}[size]
        assert cfg.model.backbone.init_cfg.checkpoint == f'pretrained/{size}_{method}_in1k.pth'
        assert bench.model == {'vit-b': 'ViT-B', 'vit-l': 'ViT-L'}[size]


@pytest.mark.parametrize('incubation', [p for p in FULL if '_incubation_' in p.name], ids=lambda p: p.stem)
def test_e2e_and_incubation_differ_only_in_checkpoint(incubation: Path):
    e2e = incubation.with_name(incubation.name.replace('_incubation_', '_e2e_'))
    a, b = Config.fromfile(incubation).to_dict(), Config.fromfile(e2e).to_dict()
    ckpt_a = a['model']['backbone']['init_cfg'].pop('checkpoint')
    ckpt_b = b['model']['backbone']['init_cfg'].pop('checkpoint')
    assert (ckpt_a, ckpt_b) == (ckpt_a, ckpt_a.replace('_incubation_', '_e2e_')) and ckpt_a != ckpt_b
    assert (a['benchmark'].pop('method'), b['benchmark'].pop('method')) == ('incubation', 'e2e')
    assert a == b


@pytest.mark.parametrize('three_x', [p for p in FULL if '_3x_' in p.name], ids=lambda p: p.stem)
def test_3x_config_differs_from_its_1x_config_only_in_the_schedule(three_x: Path):
    one_x = three_x.with_name(three_x.name.replace('_3x_', '_1x_'))
    a, b = Config.fromfile(one_x).to_dict(), Config.fromfile(three_x).to_dict()
    assert (a['benchmark'].pop('schedule'), b['benchmark'].pop('schedule')) == ('1x', '3x')
    assert (a['train_cfg'].pop('max_epochs'), b['train_cfg'].pop('max_epochs')) == (12, 36)
    assert (a['train_cfg'].pop('val_interval'), b['train_cfg'].pop('val_interval')) == (1, 3)
    (warmup_a, steps_a), (warmup_b, steps_b) = a.pop('param_scheduler'), b.pop('param_scheduler')
    assert warmup_a == warmup_b and warmup_a['type'] == 'LinearLR'
    assert (steps_a.pop('end'), steps_a.pop('milestones')) == (12, [8, 11])
    assert (steps_b.pop('end'), steps_b.pop('milestones')) == (36, [27, 33])
    assert steps_a == steps_b
    assert a == b


@pytest.mark.parametrize('base, upstream', [
    ('models/mask-rcnn_vit-b_sfp.py', 'models/mask-rcnn_r50_fpn.py'),
    ('datasets/coco_instance_lsj-1024.py', 'datasets/coco_instance.py'),
    ('schedules/schedule_1x.py', 'schedules/schedule_1x.py'),
    ('default_runtime.py', 'default_runtime.py'),
])
def test_bases_inherit_mmdet(base: str, upstream: str):
    assert config_base_of(CONFIGS / '_base_' / base) == [f'mmdet::_base_/{upstream}']


def test_variants_are_deltas_on_one_config():
    """ViT-L model on the ViT-B one, 3x on 1x, E2E on incubation: each difference written once."""
    assert config_base_of(CONFIGS / '_base_' / 'models' / 'mask-rcnn_vit-l_sfp.py') == ['./mask-rcnn_vit-b_sfp.py']
    for path in FULL:
        if '_e2e_' in path.name:
            assert config_base_of(path) == [f"./{path.name.replace('_e2e_', '_incubation_')}"]
        elif '_3x_' in path.name:
            assert config_base_of(path) == [f"./{path.name.replace('_3x_', '_1x_')}"]


def test_model_is_mmdet_mask_rcnn_with_only_vitdet_changes():
    """Everything not changed on purpose (anchors, RoI extractors, losses, assigners, samplers,
    test settings, the data preprocessor's mean / std) is mmdet's shipped Mask R-CNN."""
    shipped = Path(importlib.util.find_spec('mmdet').origin).parent / '.mim' / 'configs' / '_base_'
    expected = Config.fromfile(shipped / 'models' / 'mask-rcnn_r50_fpn.py').to_dict()['model']
    ours = without_scope(Config.fromfile(CONFIGS / 'mask-rcnn_vit-b_incubation_1x_coco.py').to_dict()['model'])
    ln2d = dict(type='LN2d', eps=1e-6, requires_grad=True)
    assert ours['backbone']['type'] == 'IncubationViTBackbone' and ours['neck']['type'] == 'SimpleFeaturePyramid'
    assert ours['neck']['norm_cfg'] == ln2d
    expected.update(backbone=ours['backbone'], neck=ours['neck'])  # replaced whole
    expected['data_preprocessor']['pad_size_divisor'] = 1024
    expected['rpn_head']['num_convs'] = 2
    expected['roi_head']['bbox_head'].update(type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=ln2d)
    expected['roi_head']['mask_head']['norm_cfg'] = ln2d
    assert ours == expected


# --- checkpoint loading -------------------------------------------------------------------------


@pytest.mark.parametrize('fmt', ['pth', 'safetensors'])
def test_backbone_loads_exported_checkpoint_through_init_cfg(fmt: str, exported: Dict[str, Any]):
    from mmdet.registry import MODELS
    cfg = built_config(TINY)
    cfg.model.backbone.init_cfg.checkpoint = str(exported[fmt])
    model = MODELS.build(cfg.model)
    key = 'blocks.0.attn.qkv.weight'
    assert not torch.equal(model.backbone.vit.state_dict()[key], exported['state'][key])
    model.init_weights()
    vit = model.backbone.vit.state_dict()
    assert torch.equal(vit[key], exported['state'][key])
    assert torch.equal(vit['blocks.7.mlp.fc2.weight'], exported['state']['blocks.7.mlp.fc2.weight'])
    # the 4 x 4 ImageNet-size grid is resampled to the 8 x 8 detection grid (64 px, patch 8)
    assert exported['state']['pos_embed'].shape[1] == 1 + 4 * 4 and vit['pos_embed'].shape[1] == 1 + 8 * 8


@pytest.mark.parametrize('with_cp', [False, True], ids=['plain', 'activation-checkpointing'])
def test_every_trainable_parameter_gets_a_gradient(coco_root: Path, with_cp: bool):
    """DDP runs without ``find_unused_parameters``: the backbone's final norm (unused by
    design) is frozen and every other trainable parameter gets a gradient. Also with
    activation checkpointing, as the ViT-L configs train."""
    from mmdet.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    cfg = built_config(TINY)
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.with_cp = with_cp
    model = MODELS.build(cfg.model)
    dataset_cfg = cfg.train_dataloader.dataset.copy()
    dataset_cfg.data_root = f'{coco_root}/'
    dataset = DATASETS.build(dataset_cfg)
    batch = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]), training=True)
    losses = model(**batch, mode='loss')
    sum(v.sum() if isinstance(v, torch.Tensor) else sum(v) for k, v in losses.items() if 'loss' in k).backward()
    unused = {n for n, p in model.named_parameters() if p.requires_grad and p.grad is None}
    assert unused == set()
    assert not model.backbone.vit.norm.weight.requires_grad
    assert not cfg.get('find_unused_parameters', False)


# --- end to end on the CPU ----------------------------------------------------------------------


def read_scalars(work_dir: Path) -> List[Dict[str, Any]]:
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]


def test_tiny_config_trains_and_evaluates_with_coco_metric(tmp_path: Path, coco_root: Path, exported):
    work_dir = tmp_path / 'work'
    train = load_tool('train')
    train.main([str(TINY), '--work-dir', str(work_dir), '--cfg-options', *tiny_options(coco_root, exported['pth'])])

    evaluations = [r for r in read_scalars(work_dir) if METRICS[0] in r]
    assert len(evaluations) == 1 and evaluations[0]['step'] == 4
    for name in (*METRICS, 'coco/bbox_mAP_50', 'coco/segm_mAP_75'):
        assert isinstance(evaluations[0][name], float) and 0.0 <= evaluations[0][name] <= 1.0
    assert evaluations[0]['cost/device_hours'] > 0
    assert any('loss_mask' in r for r in read_scalars(work_dir))
    cost = json.loads((work_dir / 'cost.json').read_text())
    assert cost['iter'] == 4 and cost['images'] == 8
    assert (work_dir / 'iter_4.pth').is_file()
    dumped = Config.fromfile(work_dir / TINY.name)
    assert dumped.benchmark == dict(task='coco', model='ViT-tiny-test', method='incubation', schedule='test')


def test_mim_train_then_tools_test(tmp_path: Path, coco_root: Path, exported):
    work_dir = tmp_path / 'mim'
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    mim = Path(sys.executable).with_name('mim')
    cmd = [str(mim), 'train', 'mmdet', str(TINY), '--gpus', '0', '--work-dir', str(work_dir), '--cfg-options',
           *tiny_options(coco_root, exported['pth']),
           # 2 iterations, no evaluation (tools/test.py below does it)
           'train_cfg.max_iters=2', 'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
           'default_hooks.checkpoint.interval=2']
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.is_file()
    assert [r['iter'] for r in read_scalars(work_dir) if 'loss_mask' in r] == [1, 2]

    test = load_tool('test')
    results = tmp_path / 'results'
    metrics = test.main([str(TINY), str(checkpoint), '--work-dir', str(tmp_path / 'eval'), '--cfg-options',
                         *tiny_options(coco_root, exported['pth']), f'test_evaluator.outfile_prefix={results}'])
    for name in METRICS:
        assert isinstance(metrics[name], float) and 0.0 <= metrics[name] <= 1.0
    # Detections are in the frame of the original (96 x 64, not square) images: the test-time
    # padding to the training square must not leak into the boxes or the masks.
    boxes = json.loads(Path(f'{results}.bbox.json').read_text())
    masks = json.loads(Path(f'{results}.segm.json').read_text())
    assert boxes and len(masks) == len(boxes)
    for det in boxes:
        x, y, w, h = det['bbox']
        assert x >= 0 and y >= 0 and x + w <= 96 + 1e-3 and y + h <= 64 + 1e-3, det
    assert all(m['segmentation']['size'] == [64, 96] for m in masks)


def test_scene_coco_metric_reports_zero_ap_and_the_foreground_iou(tmp_path):
    """No detection at all: AP 0 (CocoMetric alone reports nothing); the masks' foreground IoU."""
    from pycocotools import mask as mask_util

    from detection.metrics import SceneCocoMetric
    truth = np.zeros((8, 8), np.uint8)
    truth[2:6, 2:6] = 1
    rle = mask_util.encode(np.asfortranarray(truth))
    rle['counts'] = rle['counts'].decode()
    ann = dict(images=[dict(id=1, width=8, height=8, file_name='a.png')], categories=[dict(id=1, name='a')],
               annotations=[dict(id=1, image_id=1, category_id=1, segmentation=rle, area=16, bbox=[2, 2, 4, 4],
                                 iscrowd=0)])
    ann_file = tmp_path / 'ann.json'
    ann_file.write_text(json.dumps(ann))

    def evaluate(masks, scores):
        metric = SceneCocoMetric(ann_file=str(ann_file), metric=['bbox', 'segm'])
        metric.dataset_meta = dict(classes=('a',))
        n = len(scores)
        pred = dict(bboxes=torch.tensor([[2.0, 2.0, 6.0, 6.0]] * n).reshape(n, 4), scores=torch.tensor(scores),
                    labels=torch.zeros(n, dtype=torch.long), masks=torch.from_numpy(np.array(masks, bool).reshape(n, 8, 8)))
        metric.process({}, [dict(img_id=1, ori_shape=(8, 8), pred_instances=pred)])
        return metric.compute_metrics(metric.results)

    empty = evaluate([], [])
    assert empty['bbox_mAP'] == 0.0 and empty['segm_mAP'] == 0.0 and empty['fgIoU'] == 0.0
    half = truth.copy()
    half[2:6, 4:6] = 0  # the left half of the item, confidently
    out = evaluate([half, np.ones((8, 8))], [0.9, 0.1])  # the whole image at a low score is not foreground
    assert out['fgIoU'] == pytest.approx(0.5) and out['segm_mAP'] < 1.0


@pytest.mark.parametrize('model', ['b', 'l'])
@pytest.mark.parametrize('method', ['e2e', 'incubation'])
def test_vitdet_window_configs_are_their_global_twins_with_windows(model, method):
    """Each ``-win`` COCO config is its global-attention config with ViTDet's windows and nothing else."""
    from mmengine.config import Config
    win = Config.fromfile(str(ROOT / f'detection/configs/mask-rcnn_vit-{model}-win_{method}_1x_coco.py')).to_dict()
    plain = Config.fromfile(str(ROOT / f'detection/configs/mask-rcnn_vit-{model}_{method}_1x_coco.py')).to_dict()
    windows = {k: win['model']['backbone'].pop(k) for k in ('window_size', 'pos_embed')}
    assert windows == dict(window_size=14, pos_embed='interpolate')
    assert win['model']['backbone'].pop('img_size') == 224  # the pretraining grid, so the checkpoint loads as trained
    plain['model']['backbone'].pop('img_size', None)
    assert win['benchmark'].pop('variant') == 'vitdet-windows'
    assert win['model'] == plain['model'] and win['benchmark'] == plain['benchmark']
    assert win['optim_wrapper'] == plain['optim_wrapper'] and win['train_cfg'] == plain['train_cfg']
