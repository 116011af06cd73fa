"""Fashion-MNIST scenes: real clothes pasted on small canvases, for detection and segmentation.

``python -m benchmarks scenes --out DIR [--train N --val N --size 64 --seed 0 --style tinted]`` (or
:func:`write_fashion_scenes`) writes one image set with two annotation formats:

```
DIR/images/{training,validation}/NNNNNN.png       RGB scenes
DIR/annotations/{training,validation}/NNNNNN.png  semantic labels (uint8): 0 = background,
                                                  1..10 = the classes, 255 = ignored
DIR/coco/instances_{training,validation}.json      COCO instance segmentation (RLE masks)
DIR/scenes.json                                    parameters, counts, the items of every scene
```

A scene is a ``size`` x ``size`` canvas with 1-6 Fashion-MNIST items, each resized to 12-32 px
(uniform per item) and placed at a uniform position fully inside the canvas; items are pasted in
order, so later ones hide earlier ones where they overlap. An item's mask is its resized
grayscale image above :data:`THRESHOLD`, and it is pasted with exactly that mask, so the
visible masks are exact. Two styles (:data:`STYLES`):

* ``plain``: the items as Fashion-MNIST shows them, grayscale on black, so the scenes
  are in the domain the upstream runs trained on; only the class needs more than intensity.
* ``tinted`` (default): neither intensity nor colour tells items from background or classes from each
  other: the background is a random base colour with a smooth random variation and pixel noise,
  and each item is its grayscale texture tinted with a random colour (at least
  :data:`MIN_TINT_DISTANCE` away from the background's base colour in RGB, so it stays visible).
  A harder, out-of-domain set. At the ``fashion`` suite's budget nothing learned on either
  style: a random-init UperNet ends all background on plain scenes too.

* **COCO** (through pycocotools): each kept item's *visible* mask as compressed RLE
  (``mask.encode``), its bbox tight to that mask (``mask.toBbox``), area = the visible area,
  ``iscrowd`` 0, the ten Fashion-MNIST classes as categories 1..10. An item whose visible part
  is under :data:`MIN_VISIBLE_PX` pixels or under :data:`MIN_VISIBLE_FRACTION` of its own mask
  is dropped.
* **Semantic labels** agree with the instances: a kept item's visible pixels are its class
  (1..10), a dropped item's visible pixels are 255 (mmseg's ``ignore_index``: neither trained
  nor scored, since no annotation claims them), all else 0 = background, which is a class
  (``reduce_zero_label=False``).
* **Items no upstream run saw.** Training scenes draw from the train split *minus* the
  class-balanced subset the upstream CPU configs train on (:data:`UPSTREAM_SUBSETS`:
  ``per_class=500, seed=0``, ``classification/configs/_base_/datasets/fashion_mnist.py``; the
  smaller ``fashion-smoke`` subsets of the same seed lie inside it); validation scenes draw from
  the test split minus the upstream validation subset (``per_class=200, seed=0``). That leaves
  55,000 / 8,000 items; each is used at most once. The full-data GPU configs
  (``*_fashion-full.py``) train on all 60,000 train images: scenes are not disjoint from those.

Deterministic by ``seed``; scene ``i`` does not depend on how many scenes are written. Cached
and idempotent: ``DIR/scenes.json`` records the parameters, and a call with the same ones
rewrites nothing. Otherwise the set is written into a staging folder next to ``DIR`` and swapped
in whole, so an interrupted generation never looks complete.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from runtime.cli import UserError, run_cli
from runtime.fileio import atomic_write_json

FORMAT_VERSION = 1
STYLES = ('plain', 'tinted')
DEFAULT_STYLE = 'tinted'  # what the committed suite record was generated with
STAMP = 'scenes.json'
FASHION_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                   'Ankle boot')
# scene split -> Fashion-MNIST split it draws items from
SOURCE_SPLIT = {'training': 'train', 'validation': 'test'}
# The class-balanced subsets of classification/configs/_base_/datasets/fashion_mnist.py (train_subset,
# val_subset): what upstream training and evaluation read; scenes use only items outside them.
UPSTREAM_SUBSETS: Dict[str, Dict[str, int]] = {'train': dict(per_class=500, seed=0),
                                               'test': dict(per_class=200, seed=0)}
ITEMS_PER_SCENE = (1, 6)
ITEM_SIZE = (12, 32)  # classification.fashion.ITEM_SIZE (a test checks); the canvas pretraining shares it
THRESHOLD = 40  # grayscale (0-255) above which a resized item pixel belongs to the item
MIN_VISIBLE_PX = 20
MIN_VISIBLE_FRACTION = 0.25
MIN_TINT_DISTANCE = 80.0
IGNORE_INDEX = 255
# classification.fashion.DEFAULT_ROOT (a test checks), without importing torch for a cached call
DEFAULT_DATA_ROOT = '/usr/share/datasets/fashion-mnist'


def unseen_items(labels: Sequence[int], subset: Mapping[str, int]) -> np.ndarray:
    """Indices of the items outside a class-balanced ``subset`` (``classification.fashion.subset_indices``)."""
    import torch

    from classification.fashion import subset_indices
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    seen = np.asarray(subset_indices(labels, dict(subset)), dtype=np.int64)
    return np.setdiff1d(np.arange(len(labels)), seen)


def _background(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """A random base colour, a smooth random variation (bicubic 4x4 -> size) and pixel noise."""
    import cv2
    base = rng.uniform(0, 255, 3)
    smooth = cv2.resize(rng.normal(0, 1, (4, 4, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    canvas = base + smooth * rng.uniform(10, 50) + rng.normal(0, rng.uniform(2, 10), (size, size, 3))
    return np.clip(canvas, 0, 255), base


def _tint(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random RGB colour at least MIN_TINT_DISTANCE from the background's (a few redraws at most)."""
    for _ in range(20):
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - background) >= MIN_TINT_DISTANCE:
            break
    return colour


def render_scene(rng: np.random.Generator, items: Sequence[np.ndarray], size: int,
                 item_size: Tuple[int, int] = ITEM_SIZE,
                 style: str = DEFAULT_STYLE) -> Tuple[np.ndarray, np.ndarray, List[np.ndarray]]:
    """One scene from 28x28 grayscale ``items``, pasted in order, in one of :data:`STYLES`.

    Returns:
        the RGB image ``(size, size, 3)`` uint8; ``owner``, the index of the item visible at
        each pixel (-1: background); and each item's full mask, as pasted, on the canvas.
    """
    from classification.fashion import place_item
    if style == 'tinted':
        canvas, base = _background(rng, size)
    else:
        canvas, base = np.zeros((size, size, 3)), None
    owner = np.full((size, size), -1, np.int64)
    full_masks = []
    for k, item in enumerate(items):
        gray, x, y = place_item(rng, item, size, item_size)
        side = gray.shape[0]
        mask = gray > THRESHOLD
        if base is None:
            patch = np.repeat(gray[..., None], 3, axis=2)
        else:
            patch = _tint(rng, base) * (0.25 + 0.75 * gray[..., None] / 255.0)
        canvas[y:y + side, x:x + side][mask] = patch[mask]
        owner[y:y + side, x:x + side][mask] = k
        full = np.zeros((size, size), bool)
        full[y:y + side, x:x + side] = mask
        full_masks.append(full)
    return np.round(canvas).astype(np.uint8), owner, full_masks


def is_kept(visible_px: int, full_px: int) -> bool:
    """Whether an item's visible part is large enough to be annotated."""
    return visible_px >= MIN_VISIBLE_PX and visible_px >= MIN_VISIBLE_FRACTION * full_px


def _write_split(root: Path, split: str, num: int, size: int, seed: int, images: np.ndarray, labels: np.ndarray,
                 pool: np.ndarray, style: str = DEFAULT_STYLE) -> Dict[str, Any]:
    """Scenes of one split: images, label maps, COCO annotations; returns the counts and items used."""
    import cv2
    from pycocotools import mask as mask_util

    split_index = list(SOURCE_SPLIT).index(split)
    rng = np.random.default_rng([seed, split_index])
    order = rng.permutation(pool)
    (root / 'images' / split).mkdir(parents=True)
    (root / 'annotations' / split).mkdir(parents=True)
    coco_images: List[Dict[str, Any]] = []
    annotations: List[Dict[str, Any]] = []
    used: List[List[int]] = []
    dropped = 0
    next_item = 0
    for image_id in range(1, num + 1):
        count = int(rng.integers(ITEMS_PER_SCENE[0], ITEMS_PER_SCENE[1] + 1))
        if next_item + count > len(order):
            raise UserError(f'{num} {split} scenes need more than the {len(order)} {SOURCE_SPLIT[split]}-split '
                            f'items no upstream run saw; ask for fewer scenes')
        chosen = [int(i) for i in order[next_item:next_item + count]]
        next_item += count
        image, owner, full_masks = render_scene(rng, [images[i] for i in chosen], size, style=style)
        semantic = np.zeros((size, size), np.uint8)
        for k, index in enumerate(chosen):
            visible = owner == k
            if not is_kept(int(visible.sum()), int(full_masks[k].sum())):
                semantic[visible] = IGNORE_INDEX
                dropped += 1
                continue
            category = int(labels[index]) + 1
            semantic[visible] = category
            rle = mask_util.encode(np.asfortranarray(visible.astype(np.uint8)))
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=category, iscrowd=0,
                bbox=[float(v) for v in mask_util.toBbox(rle)], area=float(mask_util.area(rle)),
                segmentation=dict(size=[int(s) for s in rle['size']], counts=rle['counts'].decode('ascii')),
                fashion_index=index))
        name = f'{image_id:06d}.png'
        cv2.imwrite(str(root / 'images' / split / name), image[..., ::-1])  # RGB -> cv2's BGR
        cv2.imwrite(str(root / 'annotations' / split / name), semantic)
        coco_images.append(dict(id=image_id, file_name=name, width=size, height=size))
        used.append(chosen)
    categories = [dict(id=i + 1, name=name, supercategory='clothing') for i, name in enumerate(FASHION_CLASSES)]
    atomic_write_json(root / 'coco' / f'instances_{split}.json',
                      dict(images=coco_images, annotations=annotations, categories=categories))
    return dict(counts=dict(images=num, instances=len(annotations), dropped=dropped),
                items=dict(source_split=SOURCE_SPLIT[split], excluded_subset=UPSTREAM_SUBSETS[SOURCE_SPLIT[split]],
                           pool=int(len(pool)), per_scene=used))


def scene_params(num_train: int, num_val: int, size: int, seed: int, data_root: str,
                 style: str = DEFAULT_STYLE) -> Dict[str, Any]:
    """What a scene set is a function of: the stamp compared on every call."""
    params = dict(version=FORMAT_VERSION, num=dict(training=num_train, validation=num_val), size=size, seed=seed,
                  data_root=str(Path(data_root).expanduser().resolve()), style=style,
                  items_per_scene=list(ITEMS_PER_SCENE), item_size=list(ITEM_SIZE), threshold=THRESHOLD,
                  min_visible_px=MIN_VISIBLE_PX, min_visible_fraction=MIN_VISIBLE_FRACTION,
                  excluded_subsets=UPSTREAM_SUBSETS)
    if style == 'tinted':
        params['min_tint_distance'] = MIN_TINT_DISTANCE
    return params


def read_stamp(out_dir: Path) -> Optional[Dict[str, Any]]:
    """The ``params`` of a finished scene set in ``out_dir``, else None."""
    try:
        return json.loads((out_dir / STAMP).read_text())['params']
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_scenes(out: Path) -> List[str]:
    """What is wrong with a finished scene set: one line per image or label map that its COCO
    files name and that is missing or does not decode (a truncated PNG), and per unreadable COCO file."""
    from PIL import Image

    problems: List[str] = []
    for split in SOURCE_SPLIT:
        ann = out / 'coco' / f'instances_{split}.json'
        try:
            names = [image['file_name'] for image in json.loads(ann.read_text())['images']]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f'{ann}: unreadable ({exc})')
            continue
        for name in names:
            for path in (out / 'images' / split / name, out / 'annotations' / split / name):
                try:
                    with Image.open(path) as image:
                        image.load()
                except (OSError, SyntaxError) as exc:
                    problems.append(f'{path}: {exc}')
    return problems


def write_fashion_scenes(out_dir: str, num_train: int = 1000, num_val: int = 200, size: int = 64, seed: int = 0,
                         data_root: Optional[str] = None, style: str = DEFAULT_STYLE) -> Path:
    """Write the scene set (layout in the module docstring) unless ``out_dir`` already holds it.

    Args:
        out_dir: the set's folder; replaced only if it holds a scene set with other parameters
            (or is empty); any other existing folder is refused.
        num_train, num_val: scenes in ``training`` and ``validation``.
        size: canvas side in pixels (at least the largest item, 32).
        seed: the only source of randomness.
        data_root: Fashion-MNIST's idx files (default: Debian's ``/usr/share/datasets/fashion-mnist``).
        style: one of :data:`STYLES` (module docstring).

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.
    """
    out = Path(out_dir).expanduser().absolute()
    if size < ITEM_SIZE[1]:
        raise UserError(f'--size {size}: scenes must be at least {ITEM_SIZE[1]} px, the largest item')
    if num_train < 1 or num_val < 1:
        raise UserError(f'--train {num_train} --val {num_val}: both splits need at least one scene')
    if style not in STYLES:
        raise UserError(f'--style {style}: choose one of {", ".join(STYLES)}')
    params = scene_params(num_train, num_val, size, seed, data_root or DEFAULT_DATA_ROOT, style)
    if read_stamp(out) == params:
        problems = check_scenes(out)
        if not problems:
            return out
        # generated data: the same parameters write the same set again
        print(f'{out}: {len(problems)} damaged or missing file(s) ({problems[0]}{", ..." if len(problems) > 1 else ""}); '
              'writing the scene set again', flush=True)
    if out.exists() and (not out.is_dir() or (read_stamp(out) is None and any(out.iterdir()))):
        raise UserError(f'{out}: exists and is not a Fashion-MNIST scene set (no readable {STAMP}); '
                        f'choose another --out or remove it')
    from classification.fashion import load_split  # torch: only when there is something to write

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.tmp', dir=out.parent))
    try:
        summary: Dict[str, Any] = dict(params=params, classes=list(FASHION_CLASSES), ignore_index=IGNORE_INDEX)
        for split, source in SOURCE_SPLIT.items():
            images, labels = load_split(params['data_root'], source)
            labels = labels.numpy()
            pool = unseen_items(labels, UPSTREAM_SUBSETS[source])
            summary[split] = _write_split(staging, split, params['num'][split], size, seed, images.numpy(), labels,
                                          pool, style)
        atomic_write_json(staging / STAMP, summary)  # last: a folder without it is not a finished set
        _swap_in(staging, out, params)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def _swap_in(staging: Path, out: Path, params: Dict[str, Any]) -> None:
    """Replace ``out`` by the finished ``staging`` folder (two renames; the old set is removed after)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.old', dir=out.parent))
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except OSError:
        if read_stamp(out) != params:  # not a concurrent writer of the same set: a real failure
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# --- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--out', default='data/fashion-scenes', help='the scene set\'s folder (default: %(default)s)')
    parser.add_argument('--train', type=int, default=1000, help='training scenes (default: %(default)s)')
    parser.add_argument('--val', type=int, default=200, help='validation scenes (default: %(default)s)')
    parser.add_argument('--size', type=int, default=64, help='canvas side in pixels (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--data-root', help='Fashion-MNIST idx files (default: /usr/share/datasets/fashion-mnist)')
    parser.add_argument('--style', choices=STYLES, default=DEFAULT_STYLE,
                        help='plain: grayscale on black, as Fashion-MNIST; tinted: coloured items on noisy colour '
                             '(default: %(default)s)')


def run(args: argparse.Namespace) -> int:
    def main() -> None:
        out = write_fashion_scenes(args.out, num_train=args.train, num_val=args.val, size=args.size, seed=args.seed,
                                   data_root=args.data_root, style=args.style)
        summary = json.loads((out / STAMP).read_text())
        counts = ', '.join(f'{split}: {summary[split]["counts"]["images"]} scenes, '
                           f'{summary[split]["counts"]["instances"]} instances' for split in SOURCE_SPLIT)
        print(f'{out} ({counts})')
    return run_cli(main, debug=getattr(args, 'debug', False))
