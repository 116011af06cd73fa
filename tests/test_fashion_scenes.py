"""Fashion-MNIST scenes and the small Mask R-CNN / UperNet configs that train on them.

* the generator, end to end on generated idx files: COCO boxes tight to the decoded visible
  masks, areas, the semantic map agreeing with the instances, occlusion order, items outside
  the upstream subsets (and each used once), determinism, idempotence, a clean rewrite for
  other parameters, nothing left by an interrupted generation, a foreign folder refused;
* every ``*_fashion-scenes*`` config: its label, the model built from the registry (neck
  strides, anchors, classes), a training loss and a prediction on the generated scenes through
  the config's own data sets (mmdet's ``CocoDataset``, our ``FashionScenesDataset``) and
  pipelines; E2E and incubation differ only in the checkpoint.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
from conftest import ROOT, write_fashion_idx
from mmengine.config import Config

from benchmarks import fashion_scenes as fs
from runtime.cli import UserError

DET_CONFIGS = sorted((ROOT / 'detection' / 'configs').glob('mask-rcnn_vit-fashion-d*_fashion-scenes.py'))
SEG_CONFIGS = sorted((ROOT / 'segmentation' / 'configs').glob('upernet_vit-fashion-d*_fashion-scenes-64x64.py'))
# upstream subsets need 500 / 200 images a class; the rest (10 / 5 a class) are the scenes' items
PER_CLASS = {'train': 510, 'test': 205}

pytestmark = pytest.mark.usefixtures('one_thread')


def _draw(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Clothes-like items: a bright striped rectangle of random extent in a dark frame (regular
    enough for gzip to write 7,000 of them in a fraction of a second)."""
    n, grid = len(labels), np.arange(28)
    (y0, x0), (y1, x1) = rng.integers(0, 8, (2, n)), rng.integers(20, 28, (2, n))
    rows = (grid >= y0[:, None]) & (grid < y1[:, None])
    cols = (grid >= x0[:, None]) & (grid < x1[:, None])
    stripes = 150 + 100 * (grid[None, :] // rng.integers(2, 6, n)[:, None] % 2)  # (n, 28): per row
    return (stripes[:, :, None] * (rows[:, :, None] & cols[:, None, :])).astype(np.uint8)


@pytest.fixture(scope='module')
def source(tmp_path_factory) -> Tuple[Path, Dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp('fashion-idx') / 'fashion'
    labels = write_fashion_idx(root, PER_CLASS, draw=_draw)
    return root, labels


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('INCUBATION_VIT_CACHE', str(tmp_path_factory.mktemp('cache')))
        yield


@pytest.fixture(scope='module')
def scenes(source, cache, tmp_path_factory) -> Path:
    return fs.write_fashion_scenes(str(tmp_path_factory.mktemp('scenes') / 'set'), num_train=16, num_val=8,
                                   data_root=str(source[0]))


def _files(root: Path) -> Dict[str, Tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob('*'))
            if p.is_file()}


# --- the generator ------------------------------------------------------------------------------


def test_coco_instances_and_semantic_map_agree_with_the_visible_masks(scenes: Path):
    import cv2
    from pycocotools import mask as mask_util
    from pycocotools.coco import COCO

    summary = json.loads((scenes / 'scenes.json').read_text())
    for split in ('training', 'validation'):
        coco = COCO(str(scenes / 'coco' / f'instances_{split}.json'))
        assert [(c['id'], c['name']) for c in coco.loadCats(coco.getCatIds())] == list(
            enumerate(fs.FASHION_CLASSES, start=1))
        assert len(coco.getImgIds()) == summary[split]['counts']['images'] == summary['params']['num'][split]
        assert len(coco.getAnnIds()) == summary[split]['counts']['instances'] > 0
        dropped = 0
        for image in coco.loadImgs(coco.getImgIds()):
            rgb = cv2.imread(str(scenes / 'images' / split / image['file_name']), cv2.IMREAD_UNCHANGED)
            semantic = cv2.imread(str(scenes / 'annotations' / split / image['file_name']), cv2.IMREAD_UNCHANGED)
            assert rgb.shape == (64, 64, 3) and semantic.shape == (64, 64) and semantic.dtype == np.uint8
            expected = np.zeros_like(semantic)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=image['id'])):
                mask = mask_util.decode(ann['segmentation']).astype(bool)
                ys, xs = np.nonzero(mask)
                x0, y0 = xs.min(), ys.min()
                assert ann['bbox'] == [x0, y0, xs.max() + 1 - x0, ys.max() + 1 - y0]  # tight to the visible mask
                assert ann['area'] == mask.sum() >= fs.MIN_VISIBLE_PX and ann['iscrowd'] == 0
                assert not expected[mask].any()  # visible masks never overlap
                expected[mask] = ann['category_id']
            # kept items' pixels are their class, the rest of the items ignored (255), the background 0
            assert np.array_equal(np.where(semantic == fs.IGNORE_INDEX, 0, semantic), expected)
            dropped += int((semantic == fs.IGNORE_INDEX).any())
        assert dropped <= summary[split]['counts']['dropped']


def test_later_items_hide_earlier_ones():
    rng = np.random.default_rng(0)
    items = [np.full((28, 28), 200, np.uint8)] * 6
    overlaps = 0
    for _ in range(5):
        image, owner, full = fs.render_scene(rng, items, 64)
        stacked = np.stack(full)  # (items, H, W): each item's whole pasted mask
        topmost = np.where(stacked.any(0), len(items) - 1 - np.argmax(stacked[::-1], axis=0), -1)
        assert np.array_equal(owner, topmost)  # every pixel shows the last item pasted there
        overlaps += int((stacked.sum(0) > 1).any())
    assert overlaps  # the check above was not vacuous


@pytest.mark.parametrize('style', fs.STYLES)
def test_scene_styles(style):
    """plain: Fashion-MNIST's look (grayscale items, black background); tinted: colour everywhere."""
    rng = np.random.default_rng(1)
    items = [np.tile(np.linspace(60, 255, 28, dtype=np.float32), (28, 1)).astype(np.uint8)] * 3
    image, owner, _ = fs.render_scene(rng, items, 64, style=style)
    background, item = image[owner < 0], image[owner >= 0]
    assert len(background) and len(item)
    gray = (image == image[..., :1]).all()
    if style == 'plain':
        assert gray and not background.any() and (item >= fs.THRESHOLD).all()
    else:
        assert not gray and background.mean() > 0


def test_items_are_outside_the_upstream_subsets_and_used_once(scenes: Path, source):
    from classification.fashion import subset_indices

    _, labels = source
    summary = json.loads((scenes / 'scenes.json').read_text())
    cfg = Config.fromfile(ROOT / 'classification' / 'configs' / '_base_' / 'datasets' / 'fashion_mnist.py')
    assert fs.UPSTREAM_SUBSETS == {'train': cfg.train_subset, 'test': cfg.val_subset}
    for split, source_split in fs.SOURCE_SPLIT.items():
        split_labels = torch.as_tensor(labels[source_split])
        seen = set(subset_indices(split_labels, fs.UPSTREAM_SUBSETS[source_split]))
        # the fashion-smoke preset's smaller subsets (same seed) lie inside the CPU configs' ones
        for per_class in (20, 10):
            assert set(subset_indices(split_labels, dict(per_class=per_class, seed=0))) <= seen
        used = [i for scene in summary[split]['items']['per_scene'] for i in scene]
        assert used and len(used) == len(set(used)) and not seen & set(used)
        annotated = {a['fashion_index'] for a in json.loads(
            (scenes / 'coco' / f'instances_{split}.json').read_text())['annotations']}
        assert annotated <= set(used)
        assert all(1 <= len(scene) <= 6 for scene in summary[split]['items']['per_scene'])


def test_generation_is_deterministic_cached_and_atomic(scenes: Path, source, cache, tmp_path, monkeypatch, capsys):
    from benchmarks.__main__ import main

    before = _files(scenes)
    assert fs.write_fashion_scenes(str(scenes), num_train=16, num_val=8, data_root=str(source[0])) == scenes
    assert main(['scenes', '--out', str(scenes), '--train', '16', '--val', '8', '--data-root', str(source[0])]) == 0
    assert _files(scenes) == before  # same parameters: nothing rewritten
    assert main(['scenes', '--out', str(tmp_path / 'tiny'), '--size', '16']) == 2  # one line, exit status 2
    assert 'at least 32 px' in capsys.readouterr().err
    again = fs.write_fashion_scenes(str(tmp_path / 'again'), num_train=16, num_val=8, data_root=str(source[0]))
    assert {k: v[1] for k, v in _files(again).items()} == {k: v[1] for k, v in before.items()}  # same bytes

    # other parameters: a clean rewrite, validation now 3 scenes, training scene 1 unchanged
    fs.write_fashion_scenes(str(again), num_train=16, num_val=3, data_root=str(source[0]))
    assert sorted(p.name for p in (again / 'images' / 'validation').iterdir()) == [f'{i:06d}.png' for i in (1, 2, 3)]
    assert (again / 'images' / 'training' / '000001.png').read_bytes() == before['images/training/000001.png'][1]
    assert fs.read_stamp(again)['num'] == dict(training=16, validation=3)

    # interrupted while writing validation: no folder that looks finished, no staging left
    def fail(*args, **kwargs):
        raise KeyboardInterrupt
    real = fs._write_split
    monkeypatch.setattr(fs, '_write_split', lambda root, split, *a: real(root, split, *a) if split == 'training'
                        else fail())
    with pytest.raises(KeyboardInterrupt):
        fs.write_fashion_scenes(str(tmp_path / 'broken'), num_train=2, num_val=2, data_root=str(source[0]))
    assert os.listdir(tmp_path) == ['again']

    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('mine')
    with pytest.raises(UserError, match='not a Fashion-MNIST scene set'):
        fs.write_fashion_scenes(str(foreign), num_train=2, num_val=2, data_root=str(source[0]))
    with pytest.raises(UserError, match='ask for fewer scenes'):
        fs.write_fashion_scenes(str(tmp_path / 'big'), num_train=200, num_val=2, data_root=str(source[0]))


# --- the configs --------------------------------------------------------------------------------

_PARSED: Dict[Path, Config] = {}


@pytest.fixture(scope='module', autouse=True)
def metafiles_read_once():
    """mmengine resolves every ``mmdet::`` / ``mmseg::`` base by first reading all ~200 model
    metafiles of the package (then falls back to the base's path): about a second a base. Read
    them once in this module; parse each config once."""
    from mmengine.config import utils
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(utils, 'load', functools.lru_cache(maxsize=None)(utils.load))
        yield
    _PARSED.clear()


def parsed(path: Path) -> Config:
    if path not in _PARSED:
        _PARSED[path] = Config.fromfile(path)
    return _PARSED[path]


def _label(path: Path) -> Tuple[int, str, str]:
    """(depth, method, schedule) from ``{model}_{method}_{schedule}_{dataset}``."""
    _, model, method, schedule, _ = path.stem.split('_')
    return int(model.rsplit('-d', 1)[1]), method, schedule


@pytest.mark.parametrize('path', DET_CONFIGS + SEG_CONFIGS, ids=lambda p: p.stem)
def test_config_states_its_recipe(path: Path):
    cfg = parsed(path)
    depth, method, schedule = _label(path)
    task = 'fashion-scenes-det' if path in DET_CONFIGS else 'fashion-scenes-seg'
    assert dict(cfg.benchmark) == dict(task=task, model=f'ViT-D{depth}-W64', method=method, schedule=schedule)
    assert cfg.randomness.seed == 0
    assert cfg.model.backbone.arch == f'vit_fashion_depth{depth}' and cfg.model.backbone.img_size == 64
    assert cfg.model.backbone.init_cfg.checkpoint == f'pretrained/vit-fashion-d{depth}_{method}_fashion.pth'
    # the patch embedding's lr factor rate ** (depth + 1) stays that of the ViT-B recipe (0.01 / 0.004)
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    assert rate ** (depth + 1) == pytest.approx(0.01 if task.endswith('det') else 0.004, rel=0.3)
    assert cfg.optim_wrapper.type == 'OptimWrapper' and cfg.train_dataloader.batch_size == 8
    if task.endswith('det'):
        assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval) == (int(schedule[:-1]),) * 2
        assert cfg.model.neck.in_channels == 64 and tuple(cfg.model.neck.scale_factors) == (1.0, 0.5, 0.25, 0.125)
    else:
        assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval) == (int(schedule[:-1]),) * 2
        assert cfg.model.decode_head.num_classes == 11


@pytest.mark.parametrize('incubation', [p for p in DET_CONFIGS + SEG_CONFIGS if '_incubation_' in p.name],
                         ids=lambda p: p.stem)
def test_e2e_and_incubation_differ_only_in_checkpoint(incubation: Path):
    e2e = incubation.with_name(incubation.name.replace('_incubation_', '_e2e_'))
    a, b = parsed(incubation).to_dict(), parsed(e2e).to_dict()
    ckpt_a = a['model']['backbone']['init_cfg'].pop('checkpoint')
    ckpt_b = b['model']['backbone']['init_cfg'].pop('checkpoint')
    assert ckpt_b == ckpt_a.replace('_incubation_', '_e2e_') != ckpt_a
    assert (a['benchmark'].pop('method'), b['benchmark'].pop('method')) == ('incubation', 'e2e')
    assert a == b


def _build(registry, cfg: Config, depth: int):
    """The model; the smallest depth for real (forward passes follow), the others on the meta device."""
    with torch.device('cpu' if depth == 8 else 'meta'):
        model = registry.build(cfg.model)
    assert model.backbone.vit.division.depth == depth and model.backbone.vit.patch_size == 4
    return model


@pytest.mark.parametrize('depth', [8, 16, 32])
def test_detector_builds_and_trains_on_the_scenes(depth: int, scenes: Path):
    """Every depth builds (the E2E twins differ only in the checkpoint); depth 8 computes the
    losses and a prediction through the config's own ``CocoDataset`` and pipelines."""
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    import detection  # noqa: F401
    import runtime.openmmlab  # noqa: F401

    register_all_modules(init_default_scope=False)
    (path,) = [p for p in DET_CONFIGS if _label(p)[:2] == (depth, 'incubation')]
    cfg = parsed(path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = _build(MODELS, cfg, depth)
        assert model.roi_head.bbox_head.num_classes == len(cfg.metainfo.classes) == 10
        assert cfg.metainfo.classes == fs.FASHION_CLASSES
        feats = model.extract_feat(torch.zeros(1, 3, 64, 64, device=model.backbone.vit.pos_embed.device))
        assert [f.shape[-1] for f in feats] == [16, 8, 4, 2, 1]  # strides 4-64
        if depth != 8:
            return
        squares = [wh[wh[:, 0] == wh[:, 1], 0] for wh in (a[:, 2:] - a[:, :2]
                                                         for a in model.rpn_head.prior_generator.base_anchors)]
        assert [float(s) for s in torch.cat(squares)] == [8, 16, 32, 64, 128]  # anchors for 12-32 px items
        samples = {}
        for loader in ('train_dataloader', 'test_dataloader'):
            dataset = cfg[loader].dataset.copy()
            dataset.data_root = f'{scenes}/'
            samples[loader] = DATASETS.build(dataset)[0]
        batch = model.data_preprocessor(pseudo_collate([samples['train_dataloader']]), training=True)
        assert len(batch['data_samples'][0].gt_instances) > 0
        losses = model.loss(batch['inputs'], batch['data_samples'])
        assert {'loss_rpn_cls', 'loss_bbox', 'loss_mask'} <= set(losses)
        assert all(torch.isfinite(sum(v) if isinstance(v, list) else v) for v in losses.values())
        model.eval()
        batch = model.data_preprocessor(pseudo_collate([samples['test_dataloader']]), training=False)
        with torch.no_grad():
            (pred,) = model.predict(batch['inputs'], batch['data_samples'])
        assert pred.pred_instances.masks.shape[-2:] == (64, 64)


@pytest.mark.parametrize('depth', [8, 16, 32])
def test_segmentor_builds_and_trains_on_the_scenes(depth: int, scenes: Path):
    """Every depth builds; depth 8 computes both losses and a prediction through the config's
    own ``FashionScenesDataset`` and pipelines, with background a class."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS, MODELS
    from mmseg.utils import register_all_modules

    import runtime.openmmlab  # noqa: F401
    import segmentation

    register_all_modules(init_default_scope=False)
    (path,) = [p for p in SEG_CONFIGS if _label(p)[:2] == (depth, 'incubation')]
    cfg = parsed(path)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = _build(MODELS, cfg, depth)
        assert model.backbone.out_indices == model.backbone.vit.division.last_blocks()
        feats = model.extract_feat(torch.zeros(1, 3, 64, 64, device=model.backbone.vit.pos_embed.device))
        assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]  # strides 4-32
        if depth != 8:
            return
        samples = {}
        for loader in ('train_dataloader', 'test_dataloader'):
            dataset = cfg[loader].dataset.copy()
            dataset.data_root = str(scenes)
            built = DATASETS.build(dataset)
            assert built.metainfo['classes'] == segmentation.FASHION_SCENES_CLASSES == ('background', *fs.FASHION_CLASSES)
            assert not built.reduce_zero_label and len(built) == (16 if loader.startswith('train') else 8)
            samples[loader] = built[0]
        batch = model.data_preprocessor(pseudo_collate([samples['train_dataloader']] * 2), training=True)
        labels = set(batch['data_samples'][0].gt_sem_seg.data.unique().tolist())
        assert 0 in labels and labels <= set(range(11)) | {255}  # background is class 0, not ignored
        losses = model.loss(batch['inputs'], batch['data_samples'])
        assert torch.isfinite(losses['decode.loss_ce']) and torch.isfinite(losses['aux.loss_ce'])
        model.eval()
        batch = model.data_preprocessor(pseudo_collate([samples['test_dataloader']]), training=False)
        with torch.no_grad():
            (pred,) = model.predict(batch['inputs'], batch['data_samples'])
        assert pred.pred_sem_seg.data.shape[-2:] == (64, 64)


# --- the transfer probe (python -m benchmarks probe) ----------------------------------------------


def test_probe_pools_each_instance_under_its_mask(scenes: Path):
    """One feature row per annotated instance, labelled with its class; the control is seeded;
    pooling reads the instance's tokens, not the whole scene."""
    from pycocotools.coco import COCO

    from benchmarks import transfer_probe as probe
    coco = COCO(str(scenes / 'coco' / 'instances_validation.json'))
    names = {c['id']: c['name'] for c in coco.loadCats(coco.getCatIds())}
    expected = [fs.FASHION_CLASSES.index(names[a['category_id']])
                for i in sorted(coco.getImgIds()) for a in coco.loadAnns(coco.getAnnIds(imgIds=i))]
    backbone = probe.build_backbone(8, 64, None, seed=0)
    feats, labels = probe.scene_features(backbone, str(scenes), 'validation', batch=3)
    windowed = probe.build_backbone('vit_fashion_canvas_depth8', 32, None, 0, window_size=8, pos_embed='tile')
    assert probe.scene_features(windowed, str(scenes), 'validation')[1].tolist() == expected
    assert labels.tolist() == expected and feats.shape == (len(expected), 64)
    again, _ = probe.scene_features(probe.build_backbone(8, 64, None, seed=0), str(scenes), 'validation')
    other, _ = probe.scene_features(probe.build_backbone(8, 64, None, seed=1), str(scenes), 'validation')
    np.testing.assert_allclose(again, feats, rtol=1e-5, atol=1e-6)
    assert not np.allclose(other, feats)
    # two instances of one scene differ (each is pooled under its own mask)
    per_image = [len(coco.getAnnIds(imgIds=i)) for i in sorted(coco.getImgIds())]
    first = int(np.argmax(np.array(per_image) > 1))
    start = sum(per_image[:first])
    assert not np.allclose(feats[start], feats[start + 1])
    # the probe itself: a separable toy problem is learnt, a shuffled one is not
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] > 0).astype(int)
    assert probe.probe_accuracy((x[:100], y[:100]), (x[100:], y[100:])) > 90
    assert probe.probe_accuracy((x[:100], rng.permutation(y[:100])), (x[100:], y[100:])) < 75


def test_probe_names_the_missing_upstream_checkpoint(scenes: Path, tmp_path: Path, capsys):
    from benchmarks.__main__ import main as cli
    assert cli(['probe', '--upstream-dir', str(tmp_path / 'nothing'), '--scenes-dir', str(scenes),
                '--depth', '8', '--seeds', '0']) == 2
    err = capsys.readouterr().err
    assert 'no e2e backbone for seed 0' in err and str(tmp_path / 'nothing') in err


def test_probe_summary_sets_scene_styles_side_by_side():
    from benchmarks import transfer_probe as probe

    def record(style, offset):
        runs = [dict(method=m, seed=s, sha256=None if m == probe.CONTROL else f'{s:02d}' * 32,
                     items=80.0 + s if m != probe.CONTROL else 66.0, scenes=offset + s)
                for s in (0, 1) for m in probe.METHODS]
        return dict(study=probe.STUDY, runs=runs, extra=dict(scenes=dict(style=style)))

    table = probe.summary_table([record('plain', 30.0), record('tinted', 15.0)])
    assert '| backbone | seeds | items (upstream task) | scenes (plain) | scenes (tinted) |' in table
    assert '| e2e | 0, 1 | 80.50 ± 0.71 | 30.50 ± 0.71 | 15.50 ± 0.71 | 00000000, 01010101 |' in table
    assert '| random init (control) | 0, 1 | 66.00 ± 0.00 |' in table


def test_dense_probe_labels_tokens_by_their_pixels_and_learns_what_is_there(scenes: Path):
    """DINOv2's linear segmentation protocol, scaled down: each token labelled with the majority
    label of its pixels (ignored pixels not voting), a linear classifier per token."""
    import cv2

    from benchmarks import transfer_probe as probe
    label_map = np.zeros((8, 8), np.uint8)
    label_map[:4, 4:] = 3
    label_map[4:, :4] = 255
    label_map[4:6, 4:] = 7  # three quarters of the bottom-right token are class 7, the rest background
    label_map[4:, 4:6] = 7
    assert probe.token_labels(label_map, 2).tolist() == [0, 3, -1, 7]
    # on generated scenes: one row per token that is not mostly ignored, labels as the annotation says
    backbone = probe.build_backbone('vit_fashion_canvas_depth8', 32, None, 0, window_size=8, pos_embed='tile')
    feats, labels = probe.scene_token_features(backbone, str(scenes), 'validation', batch=3)
    assert feats.shape == (len(labels), 64) and labels.min() >= 0 and labels.max() <= 10
    first = sorted((scenes / 'annotations' / 'validation').iterdir())[0]
    own = probe.token_labels(cv2.imread(str(first), cv2.IMREAD_UNCHANGED), 16)
    assert labels[:int((own >= 0).sum())].tolist() == own[own >= 0].tolist()
    # the classifiers: a separable problem is learnt, features that carry nothing are not
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 600)
    x = np.eye(4)[y] * 3 + rng.normal(size=(600, 4))
    good = probe.dense_probe((x[:400], y[:400]), (x[400:], y[400:]))
    noise = probe.dense_probe((rng.normal(size=(400, 4)), y[:400]), (rng.normal(size=(200, 4)), y[400:]))
    assert good['dense_items'] > 90 and good['dense_miou'] > 80
    assert noise['dense_items'] < 55 and noise['dense_miou'] < 40


def test_gate_warns_when_pretrained_does_not_separate_from_random():
    from benchmarks import transfer_probe as probe

    def runs(gap):
        return [dict(method=m, seed=s, dense_items=30.0 + s + (gap if m != probe.CONTROL else 0.0))
                for s in (0, 1, 2) for m in probe.METHODS]
    assert probe.gate_warning(runs(8.0)) is None
    sep = probe.separation(runs(8.0), 'dense_items')
    assert sep['e2e']['mean'] == pytest.approx(8.0) and sep['e2e']['separates']
    one_seed = [r for r in runs(8.0) if r['seed'] == 0]
    assert probe.gate_warning(one_seed) is None  # one seed ahead of random: no standard error, no warning
    assert probe.gate_warning([r for r in runs(-1.0) if r['seed'] == 0]) is not None
    warning = probe.gate_warning(runs(0.0))
    assert warning.startswith('the gate: the pretrained features do not separate') and 'e2e − random +0.00 (n=3)' in warning
