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

If pretrained beats random on items but not on scenes, the features do not transfer to the
downstream images, and no downstream recipe can be expected to tell the backbones apart.

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

CONTROL = 'random'
SCENE_RECIPE = 'segmentation/configs/_base_/fashion_scenes_recipe.py'  # its data preprocessor normalises the scenes
STUDY = 'transfer-probe'
FEATURES = ('last block; items: mean over tokens; scenes: mean under each instance\'s visible mask, '
            'area-weighted on the token grid')
CLASSIFIER = 'scikit-learn StandardScaler + LogisticRegression(max_iter=2000)'
METHODS = ('e2e', 'incubation', CONTROL)


# --- features ----------------------------------------------------------------------------------


def build_backbone(depth: int, img_size: int, checkpoint: Optional[str], seed: int):
    """The dense backbone the downstream configs build, loaded strictly (or random with ``seed``)."""
    import torch

    from backbones.dense import IncubationViTBackbone
    torch.manual_seed(seed)
    init = dict(type='Pretrained', checkpoint=checkpoint) if checkpoint else None
    backbone = IncubationViTBackbone(arch=f'vit_fashion_depth{depth}', img_size=img_size, out_indices=None,
                                     init_cfg=init)
    backbone.init_weights()
    return backbone.eval()


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


def scene_features(backbone, scenes: str, split: str, batch: int = 32) -> Tuple[np.ndarray, np.ndarray]:
    """Per annotated instance: last-block tokens averaged under its visible mask; its class index."""
    import cv2
    import torch
    from pycocotools import mask as mask_util
    from pycocotools.coco import COCO

    from .fashion_scenes import FASHION_CLASSES
    ann_file = osp.join(scenes, 'coco', f'instances_{split}.json')
    if not osp.isfile(ann_file):
        raise UserError(f'{ann_file}: no scene annotations; write them with python -m benchmarks scenes --out {scenes}')
    coco = COCO(ann_file)
    mean, std, to_rgb = scene_normalisation()
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in (mean, std))
    names = {c['id']: c['name'] for c in coco.loadCats(coco.getCatIds())}
    feats, labels = [], []
    ids = sorted(coco.getImgIds())
    for start in range(0, len(ids), batch):
        infos = coco.loadImgs(ids[start:start + batch])
        pixels = np.stack([cv2.imread(osp.join(scenes, 'images', split, info['file_name'])) for info in infos])
        images = torch.from_numpy(pixels[..., ::-1].copy() if to_rgb else pixels).permute(0, 3, 1, 2).float()
        images = (images - mean) / std
        maps = _last_map(backbone, images)
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


def probe_accuracy(train: Tuple[np.ndarray, np.ndarray], test: Tuple[np.ndarray, np.ndarray]) -> float:
    """Top-1 (%) of a standardised logistic regression fit on ``train``, scored on ``test``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(*train)
    return float(100.0 * model.score(*test))


# --- the backbones -----------------------------------------------------------------------------


def upstream_backbones(upstream_dir: str, depth: int, seeds: Sequence[int], data_root: Optional[str]) -> List[Dict]:
    """(method, seed, checkpoint, upstream config) of the suite's ``fashion`` upstream runs, and a control per seed."""
    from .suite import PRESETS, _fashion_upstream
    preset = dict(PRESETS['fashion'], depth=depth)
    args = argparse.Namespace(seeds=list(seeds), data_root=data_root, threads=1)
    _, ups = _fashion_upstream(preset, args, osp.abspath(upstream_dir))
    rows = []
    for seed in seeds:
        mine = {u.method: u for u in ups if u.seed == seed}
        for method in ('e2e', 'incubation'):
            if not osp.isfile(mine[method].checkpoint):
                raise UserError(f'{mine[method].checkpoint}: no {method} backbone for seed {seed}; finish that upstream '
                                f'run (python -m benchmarks reproduce --preset fashion --depths {depth}) first')
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


def probe_rows(rows: Sequence[Dict], depth: int, scenes: str, log=print) -> List[Dict]:
    from runtime.record import fingerprint
    out = []
    datasets: Dict[str, Tuple[Any, Any]] = {}
    for row in rows:
        if row['data_from'] not in datasets:
            datasets[row['data_from']] = item_datasets(row['data_from'])
        items_train, items_val = datasets[row['data_from']]
        on_items = build_backbone(depth, 16, row['checkpoint'], row['seed'])
        on_scenes = build_backbone(depth, 64, row['checkpoint'], row['seed'])
        result = dict(row)
        result['sha256'] = fingerprint(row['checkpoint'])['sha256'] if row['checkpoint'] else None
        result['items'] = probe_accuracy(item_features(on_items, items_train), item_features(on_items, items_val))
        result['scenes'] = probe_accuracy(scene_features(on_scenes, scenes, 'training'),
                                          scene_features(on_scenes, scenes, 'validation'))
        log(f'[probe] {row["method"]} seed {row["seed"]}: items {result["items"]:.1f}  scenes {result["scenes"]:.1f}')
        out.append(result)
    return out


def _mean_std(values: Sequence[float]) -> str:
    from .analysis import mean_std
    from .render import format_mean_std
    return format_mean_std(mean_std(values), 'metric')


def summary_table(records: Sequence[Dict[str, Any]]) -> str:
    """One row per backbone kind over several probe records (one per scene style): the items probe
    (the same for every record, so from the first) and each record's scenes probe."""
    styles = [((r.get('extra') or {}).get('scenes') or {}).get('style', '?') for r in records]
    head = ['backbone', 'seeds', 'items (upstream task)'] + [f'scenes ({s})' for s in styles] + ['checkpoints (sha256)']
    lines = ['| ' + ' | '.join(head) + ' |', '|---|---|' + '---:|' * (1 + len(styles)) + '---|']
    for method in METHODS:
        per_record = [[r for r in rec['runs'] if r['method'] == method] for rec in records]
        first = per_record[0]
        if not first:
            continue
        hashes = ', '.join(r['sha256'][:8] for r in first if r.get('sha256')) or '(random init, seeded)'
        cells = [method if method != CONTROL else 'random init (control)', ', '.join(str(r['seed']) for r in first),
                 _mean_std([r['items'] for r in first])] + [_mean_std([r['scenes'] for r in rows]) for rows in per_record]
        lines.append('| ' + ' | '.join(cells + [hashes]) + ' |')
    notes = ['', f'- Linear probe: {CLASSIFIER}, on frozen features ({FEATURES}); top-1 (%) on held-out data, '
             'mean ± std over seeds. Items: the upstream runs\' own training and validation subsets at 16 x 16. '
             'Scenes: fit on the training scenes\' instances, scored on the validation scenes\' (10 classes, '
             'chance 10%).']
    return '\n'.join(lines + notes) + '\n'


def _rel(path: Optional[str], root: str) -> Optional[str]:
    return osp.relpath(path, root) if path else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--upstream-dir', required=True, help='the depth study\'s work dir (the suite\'s --upstream-dir)')
    parser.add_argument('--scenes-dir', required=True, help='a scene set (python -m benchmarks scenes --out DIR)')
    parser.add_argument('--depth', type=int, default=32)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--data-root', help='the Fashion-MNIST idx files (default: the configs\' Debian path)')
    parser.add_argument('--out', default='work_dirs/probe/probe.json', help='the record (default: %(default)s)')


def run(args: argparse.Namespace) -> int:
    import torch
    torch.set_num_threads(1)
    from .fashion_scenes import read_stamp
    from .records import command_line, write_record
    rows = upstream_backbones(args.upstream_dir, args.depth, args.seeds, args.data_root)
    results = probe_rows(rows, args.depth, osp.abspath(args.scenes_dir))
    rows = [dict(r, **{k: _rel(r[k], args.upstream_dir) for k in ('work_dir', 'checkpoint', 'data_from')})
            for r in results]
    record = write_record(args.out, STUDY, command_line(), rows, seeds=args.seeds,
                          extra=dict(depth=args.depth, upstream_dir=args.upstream_dir,
                                     scenes=read_stamp(Path(args.scenes_dir)), features=FEATURES,
                                     classifier=CLASSIFIER))
    table = summary_table([record])
    with open(osp.splitext(args.out)[0] + '.md', 'w') as f:
        f.write(table)
    print(table, end='')
    return 0
