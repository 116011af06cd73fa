"""``python -m benchmarks probe``: do the upstream backbones' features carry the item classes into the scenes?

A linear probe, before any downstream run: for each upstream backbone of the suite's ``fashion``
preset (E2E and incubation, per seed) and for a random-init control of the same seed, fit a
logistic regression (scikit-learn) on frozen features of the last block and report its accuracy
on held-out data, twice:

* **items**: the upstream task's own inputs (the run's config's Fashion-MNIST datasets and
  transform, 16 x 16, one item per image), tokens mean-pooled; fit on the run's training subset,
  scored on its validation subset. The upstream features work here if pretrained beats random.
* **scenes**: the suite's Fashion-MNIST scenes (``python -m benchmarks scenes``), tokens pooled
  under each annotated instance's visible mask (area-weighted on the token grid); fit on the
  training scenes' instances, scored on the validation scenes'. This is what a detection RoI head
  or a segmentation head starts from.

* **dense** (DINOv2's linear segmentation protocol, scaled down): every token of the scenes'
  last-block map labelled with the majority label of its pixels (background or one of the ten
  classes; tokens that are mostly ignored pixels are left out), and two linear classifiers fit on
  the training scenes' tokens: an 11-way one, scored as token mIoU on the validation scenes, and
  a 10-way one on the item tokens alone, scored as item-class accuracy (chance 10%).

If pretrained beats random on items but not on scenes, the features do not transfer to the
downstream images, and no downstream recipe can be expected to tell the backbones apart. The
suite runs this probe as its gate (``--preset``: the suite preset whose upstream runs and
downstream backbone are probed; the scenes are read by the backbone of that preset's
segmentation config, windows included).

Writes ``OUT`` (JSON: one row per backbone with its checkpoint's sha256) and ``OUT``'s ``.md``
table (mean +- std over seeds).
"""
from __future__ import annotations

import argparse
import functools
import os
import os.path as osp
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from runtime.cli import UserError

# the records' table and the gate, in a module of their own so that the suite reads them without
# importing this one (which imports the suite); METHODS and separation are imported from here too
from .probe_table import (  # noqa: F401
    CLASSIFIER,
    CONTROL,
    DENSE,
    FEATURES,
    METHODS,
    gate_warning,
    separation,
    summary_table,
)
from .results import Context, Generated, ResultsError, generator, measured_on_each

SCENE_RECIPE = 'segmentation/configs/_base_/fashion_scenes_recipe.py'  # its data preprocessor normalises the scenes
STUDY = 'transfer-probe'
SCORES = ('items', 'scenes', 'dense_items', 'dense_miou')  # the record's numbers per backbone


# --- features ----------------------------------------------------------------------------------


def build_backbone(arch: Any, img_size: int, checkpoint: Optional[str], seed: int, **options: Any):
    """The dense backbone the downstream configs build, loaded strictly (or random with ``seed``).

    Args:
        arch: a preset name, or a depth of the 16x16 study's ``vit_fashion_depth<D>``.
        img_size: the size its position embedding is laid out for.
        checkpoint: an upstream checkpoint, or None for the seeded random-init control.
        seed: torch's seed before the network is built.
        **options: other arguments of ``IncubationViTBackbone`` (windows, ``pos_embed``).
    """
    import torch

    from backbones.dense import IncubationViTBackbone
    torch.manual_seed(seed)
    init = dict(type='Pretrained', checkpoint=checkpoint) if checkpoint else None
    arch = f'vit_fashion_depth{arch}' if isinstance(arch, int) else arch
    backbone = IncubationViTBackbone(arch=arch, img_size=img_size, out_indices=None, init_cfg=init, **options)
    backbone.init_weights()
    return backbone.eval()


def downstream_backbone(preset: str) -> Dict[str, Any]:
    """The backbone arguments (no checkpoint) of a suite preset's segmentation config."""
    from mmengine.config import Config

    from .suite import PRESETS, downstream_configs
    cfg = Config.fromfile(downstream_configs(PRESETS[preset])[('seg', 'e2e')]).model.backbone.to_dict()
    for key in ('type', 'init_cfg', 'out_indices', 'drop_path_rate', 'with_cp'):
        cfg.pop(key, None)
    return cfg


@functools.lru_cache(maxsize=None)
def scene_normalisation() -> Tuple[Tuple[float, ...], Tuple[float, ...], bool]:
    """(mean, std, bgr_to_rgb) of the downstream recipe's data preprocessor: the scenes' inputs as
    the detection and segmentation runs see them."""
    from mmengine.config import Config

    from .records import ROOT
    pre = Config.fromfile(osp.join(ROOT, SCENE_RECIPE)).model.data_preprocessor
    return tuple(pre.mean), tuple(pre.std), bool(pre.bgr_to_rgb)


def _last_map(backbone, images) -> Any:
    import torch
    with torch.no_grad():
        return backbone(images)[-1]


def item_features(backbone, dataset, batch: int = 250) -> Tuple[np.ndarray, np.ndarray]:
    """Mean-pooled last-block tokens and labels of a ``FashionMNISTDataset``."""
    import torch
    feats, labels = [], []
    for start in range(0, len(dataset), batch):
        samples = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
        images = torch.stack([s['inputs'] for s in samples])
        feats.append(_last_map(backbone, images).mean((2, 3)).numpy())
        labels.append(np.array([int(s['data_samples']) for s in samples]))
    return np.concatenate(feats), np.concatenate(labels)


def _scene_maps(backbone, scenes: str, split: str, batch: int):
    """Batches of (COCO api, image infos, last-block maps) of a scene split, normalised as the
    downstream recipe's data preprocessor does."""
    import cv2
    import torch
    from pycocotools.coco import COCO

    ann_file = osp.join(scenes, 'coco', f'instances_{split}.json')
    if not osp.isfile(ann_file):
        raise UserError(f'{ann_file}: no scene annotations; write them with python -m benchmarks scenes --out {scenes}')
    coco = COCO(ann_file)
    mean, std, to_rgb = scene_normalisation()
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in (mean, std))
    ids = sorted(coco.getImgIds())
    for start in range(0, len(ids), batch):
        infos = coco.loadImgs(ids[start:start + batch])
        pixels = np.stack([cv2.imread(osp.join(scenes, 'images', split, info['file_name'])) for info in infos])
        images = torch.from_numpy(pixels[..., ::-1].copy() if to_rgb else pixels).permute(0, 3, 1, 2).float()
        yield coco, infos, _last_map(backbone, (images - mean) / std)


def scene_features(backbone, scenes: str, split: str, batch: int = 32,
                   batches: Optional[Sequence] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Per annotated instance: last-block tokens averaged under its visible mask; its class index.
    ``batches``: the split's :func:`_scene_maps`, when another probe has already computed them."""
    import cv2
    import torch
    from pycocotools import mask as mask_util

    from .fashion_scenes import FASHION_CLASSES
    feats, labels = [], []
    for coco, infos, maps in batches if batches is not None else _scene_maps(backbone, scenes, split, batch):
        names = {c['id']: c['name'] for c in coco.loadCats(coco.getCatIds())}
        grid = maps.shape[-1]
        for info, fmap in zip(infos, maps):
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=info['id'])):
                mask = mask_util.decode(ann['segmentation']).astype(np.float32)
                weights = cv2.resize(mask, (grid, grid), interpolation=cv2.INTER_AREA)
                if weights.sum() <= 0:
                    continue
                w = torch.from_numpy(weights)
                feats.append(((fmap * w).sum((1, 2)) / w.sum()).numpy())
                labels.append(FASHION_CLASSES.index(names[ann['category_id']]))
    return np.stack(feats), np.array(labels)


def token_labels(label_map: np.ndarray, grid: int, ignore: int = 255) -> np.ndarray:
    """The majority label of each token's pixels (``grid x grid`` tokens), ignored pixels not voting;
    -1 where a token has more ignored pixels than any label."""
    size = label_map.shape[0]
    cell = size // grid
    blocks = label_map[:grid * cell, :grid * cell].reshape(grid, cell, grid, cell).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(grid, grid, cell * cell).astype(np.int64)
    counts = np.stack([(blocks == c).sum(-1) for c in range(max(int(label_map[label_map != ignore].max(initial=0)), 10) + 1)],
                      -1)
    labels = counts.argmax(-1)
    labels[counts.max(-1) < (blocks == ignore).sum(-1)] = -1
    return labels.reshape(-1)


def scene_token_features(backbone, scenes: str, split: str, batch: int = 32,
                         batches: Optional[Sequence] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Every token of the split's last-block maps and its label (:func:`token_labels` of the
    semantic annotation); tokens labelled -1 are dropped. ``batches``: as :func:`scene_features`."""
    import cv2
    feats, labels = [], []
    for _, infos, maps in batches if batches is not None else _scene_maps(backbone, scenes, split, batch):
        grid = maps.shape[-1]
        for info, fmap in zip(infos, maps):
            label_map = cv2.imread(osp.join(scenes, 'annotations', split, info['file_name']), cv2.IMREAD_UNCHANGED)
            y = token_labels(label_map, grid)
            x = fmap.permute(1, 2, 0).reshape(-1, fmap.shape[0]).numpy()
            feats.append(x[y >= 0])
            labels.append(y[y >= 0])
    return np.concatenate(feats), np.concatenate(labels)


def linear_fit_predict(train: Tuple[np.ndarray, np.ndarray], test_x: np.ndarray, classes: int,
                       steps: int = 100, seed: int = 0) -> np.ndarray:
    """Predictions on ``test_x`` of a linear classifier (standardised inputs, small weight decay,
    cross-entropy, full-batch L-BFGS) fit on ``train``; labels ``0..classes-1``."""
    import torch
    torch.manual_seed(seed)
    x, y = torch.from_numpy(train[0]).float(), torch.from_numpy(train[1]).long()
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / std
    layer = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=steps, history_size=20, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x), y) + 1e-4 * layer.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        return layer((torch.from_numpy(test_x).float() - mean) / std).argmax(1).numpy()


def miou(pred: np.ndarray, truth: np.ndarray, classes: int) -> float:
    """Mean IoU (%) over the classes present in ``truth`` or ``pred``."""
    ious = []
    for c in range(classes):
        union = np.sum((pred == c) | (truth == c))
        if union:
            ious.append(np.sum((pred == c) & (truth == c)) / union)
    return float(100.0 * np.mean(ious))


def dense_probe(train: Tuple[np.ndarray, np.ndarray], test: Tuple[np.ndarray, np.ndarray]) -> Dict[str, float]:
    """Token mIoU of an 11-way linear classifier, and item-class accuracy (%) of a 10-way one fit on
    the item tokens alone (labels 1..10)."""
    classes = int(max(train[1].max(), test[1].max())) + 1
    pred = linear_fit_predict(train, test[0], classes)
    item_train, item_test = train[1] > 0, test[1] > 0
    item_pred = linear_fit_predict((train[0][item_train], train[1][item_train] - 1), test[0][item_test], classes - 1)
    return dict(dense_miou=miou(pred, test[1], classes),
                dense_items=float(100.0 * np.mean(item_pred == test[1][item_test] - 1)))


def probe_accuracy(train: Tuple[np.ndarray, np.ndarray], test: Tuple[np.ndarray, np.ndarray]) -> float:
    """Top-1 (%) of a standardised logistic regression fit on ``train``, scored on ``test``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(*train)
    return float(100.0 * model.score(*test))


# --- the backbones -----------------------------------------------------------------------------


def upstream_backbones(upstream_dir: str, depth: Optional[int], seeds: Sequence[int], data_root: Optional[str],
                       preset: str = 'fashion') -> List[Dict]:
    """(method, seed, checkpoint, upstream config) of a suite preset's upstream runs, and a control per seed."""
    from .suite import PRESETS, _fashion_upstream
    chosen = dict(PRESETS[preset], **({'depth': depth} if depth else {}))
    args = argparse.Namespace(seeds=list(seeds), data_root=data_root, threads=1)
    _, ups = _fashion_upstream(chosen, args, osp.abspath(upstream_dir))
    rows = []
    for seed in seeds:
        mine = {u.method: u for u in ups if u.seed == seed}
        for method in ('e2e', 'incubation'):
            if not osp.isfile(mine[method].checkpoint):
                raise UserError(f'{mine[method].checkpoint}: no {method} backbone for seed {seed}; finish that upstream '
                                f'run (python -m benchmarks suite --preset {preset}) first')
        # the items probe reads the E2E run's data config (the same subsets for every method)
        data_from = mine['e2e'].node.work_dir
        for method in ('e2e', 'incubation'):
            rows.append(dict(method=method, seed=seed, checkpoint=mine[method].checkpoint,
                             work_dir=mine[method].node.work_dir, data_from=data_from))
        rows.append(dict(method=CONTROL, seed=seed, checkpoint=None, work_dir=None, data_from=data_from))
    return rows


def _run_config(work_dir: str):
    from mmengine.config import Config
    configs = sorted(f for f in os.listdir(work_dir) if f.endswith('.py'))
    if not configs:
        raise UserError(f'{work_dir}: no dumped config; is it a finished E2E upstream run?')
    return Config.fromfile(osp.join(work_dir, configs[0]))


def item_datasets(work_dir: str):
    """The upstream run's own training and validation subsets, both with its evaluation transform."""
    from classification.fashion import FashionMNISTDataset
    cfg = _run_config(work_dir)
    val = dict(cfg.val_dataloader.dataset)
    train = dict(cfg.train_dataloader.dataset)
    for d in (val, train):
        d.pop('type', None)
    train['transform'] = val['transform']
    return FashionMNISTDataset(**train), FashionMNISTDataset(**val)


def probe_rows(rows: Sequence[Dict], backbone: Dict[str, Any], scenes: str, log=print) -> List[Dict]:
    """Every probe of every backbone row; ``backbone``: the downstream backbone's arguments
    (:func:`downstream_backbone`), whose ``arch`` also reads the items at the upstream size."""
    from runtime.record import fingerprint
    out = []
    datasets: Dict[str, Tuple[Any, Any]] = {}
    options = dict(backbone)
    arch, img_size = options.pop('arch'), options.pop('img_size', 64)
    for row in rows:
        if row['data_from'] not in datasets:
            datasets[row['data_from']] = item_datasets(row['data_from'])
        items_train, items_val = datasets[row['data_from']]
        item_size = int(items_val[0]['inputs'].shape[-1])
        on_items = build_backbone(arch, item_size, row['checkpoint'], row['seed'])
        on_scenes = build_backbone(arch, img_size, row['checkpoint'], row['seed'], **options)
        result = dict(row)
        result['sha256'] = fingerprint(row['checkpoint'])['sha256'] if row['checkpoint'] else None
        result['items'] = probe_accuracy(item_features(on_items, items_train), item_features(on_items, items_val))
        # one forward pass over each split serves the instance probe and the dense probe
        maps = {split: list(_scene_maps(on_scenes, scenes, split, 32)) for split in ('training', 'validation')}
        result['scenes'] = probe_accuracy(*(scene_features(on_scenes, scenes, split, batches=maps[split])
                                            for split in ('training', 'validation')))
        result.update(dense_probe(*(scene_token_features(on_scenes, scenes, split, batches=maps[split])
                                    for split in ('training', 'validation'))))
        log(f'[probe] {row["method"]} seed {row["seed"]}: items {result["items"]:.1f}  scenes {result["scenes"]:.1f}  '
            f'dense: item tokens {result["dense_items"]:.1f}, token mIoU {result["dense_miou"]:.1f}')
        out.append(result)
    return out


def _rel(path: Optional[str], root: str) -> Optional[str]:
    return osp.relpath(path, root) if path else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--upstream-dir', required=True, help='the preset\'s upstream work dir (the suite\'s --upstream-dir)')
    parser.add_argument('--scenes-dir', required=True, help='a scene set (python -m benchmarks scenes --out DIR)')
    parser.add_argument('--preset', default='fashion', help='the suite preset whose backbones are probed '
                        '(default: %(default)s; fashion-canvas: the canvas recipe with windows)')
    parser.add_argument('--depth', type=int, help='override the preset\'s depth')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--data-root', help='the Fashion-MNIST idx files (default: the configs\' Debian path)')
    parser.add_argument('--out', default='work_dirs/probe/probe.json', help='the record (default: %(default)s)')


def probe(upstream_dir: str, scenes_dir: str, out: str, seeds: Sequence[int], preset: str = 'fashion',
          depth: Optional[int] = None, data_root: Optional[str] = None, command: Optional[List[str]] = None,
          log=print) -> Dict[str, Any]:
    """Probe a preset's backbones, write the record ``out`` and its table (``out``'s ``.md``); the record."""
    import torch
    torch.set_num_threads(1)
    from .fashion_scenes import read_stamp
    from .records import command_line, write_record
    from .suite import PRESETS
    if preset not in PRESETS or PRESETS[preset].get('kind') != 'fashion':
        raise UserError(f'--preset {preset}: the probe reads a fashion suite preset '
                        f'({", ".join(k for k, v in PRESETS.items() if v.get("kind") == "fashion")})')
    backbone = downstream_backbone(preset)
    if depth:
        backbone['arch'] = f'vit_fashion_depth{depth}'
    rows = upstream_backbones(upstream_dir, depth, seeds, data_root, preset)
    results = probe_rows(rows, backbone, osp.abspath(scenes_dir), log=log)
    rows = [dict(r, **{k: _rel(r[k], upstream_dir) for k in ('work_dir', 'checkpoint', 'data_from')})
            for r in results]
    record = write_record(out, STUDY, command or command_line(), rows, seeds=list(seeds),
                          extra=dict(preset=preset, depth=depth or PRESETS[preset]['depth'], upstream_dir=upstream_dir,
                                     backbone=backbone, scenes=read_stamp(Path(scenes_dir)), features=FEATURES,
                                     classifier=CLASSIFIER, dense=DENSE))
    with open(osp.splitext(out)[0] + '.md', 'w') as f:
        f.write(summary_table([record]))
    return record


def run(args: argparse.Namespace) -> int:
    record = probe(args.upstream_dir, args.scenes_dir, args.out, args.seeds, args.preset, args.depth, args.data_root)
    print(summary_table([record]), end='')
    warning = gate_warning(record['runs'])
    if warning:
        print(f'[probe] warning: {warning}')
    return 0


# --- the generated blocks of its page (python -m benchmarks results) ---------------------------


@generator('probe-table')
def probe_block(ctx: Context) -> Generated:
    for source, rec in zip(ctx.sources, ctx.records):
        if rec.get('study') != STUDY:
            raise ResultsError(f'probe-table: {source} is a {rec.get("study")!r} record, not a {STUDY!r} one')
    return Generated(summary_table(ctx.records) + measured_on_each(ctx))
