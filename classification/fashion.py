"""Fashion-MNIST (70,000 real 28x28 grayscale images, 10 classes) read from its idx files.

The files are Debian's package ``dataset-fashion-mnist`` (``tools/setup_data.sh`` installs it):
``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``. They are
read by torchvision's :class:`~torchvision.datasets.FashionMNIST`, which wants them decompressed
in ``ROOT/FashionMNIST/raw/``: they are decompressed once into a cache folder
(``$INCUBATION_VIT_CACHE`` or ``~/.cache/incubation-vit``, one sub-folder per source), each file
written atomically, and held in memory as one uint8 tensor per split.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.registry import DATASETS
from PIL import Image
from timm.data import create_transform
from torch.utils.data import Dataset

from runtime.errors import UserError
from runtime.fileio import atomic_write

from .data import balanced_subset

DEFAULT_ROOT = '/usr/share/datasets/fashion-mnist'
# An item's side when pasted on a canvas (uniform, pixels): the Fashion-MNIST scenes' range, which
# the canvas pretraining recipe shares so that upstream items have the scale of downstream ones.
ITEM_SIZE = (12, 32)
SPLITS = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
          'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
INSTALL_HINT = ('install it with `bash tools/setup_data.sh` (as root), or without root: '
                '`apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb DIR` and set '
                'data_root to DIR/usr/share/datasets/fashion-mnist')


def place_item(rng: np.random.Generator, item: np.ndarray, size: int,
               item_size: Tuple[int, int] = ITEM_SIZE) -> Tuple[np.ndarray, int, int]:
    """Resize a 28x28 grayscale item to a uniform side in ``item_size`` and pick a uniform place
    for it fully inside a ``size`` x ``size`` canvas.

    Returns:
        the resized item (float32, ``side x side``, OpenCV's area interpolation) and its top-left
        corner ``(x, y)``.
    """
    import cv2
    side = int(rng.integers(item_size[0], item_size[1] + 1))
    if side > size:
        raise ValueError(f'item side {side} does not fit a {size}x{size} canvas')
    x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
    return cv2.resize(item.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA), x, y


def on_canvas(rng: np.random.Generator, item: np.ndarray, size: int,
              item_size: Tuple[int, int] = ITEM_SIZE) -> np.ndarray:
    """One item at a random scale and place on a black ``size`` x ``size`` canvas (uint8)."""
    gray, x, y = place_item(rng, item, size, item_size)
    canvas = np.zeros((size, size), np.float32)
    canvas[y:y + gray.shape[0], x:x + gray.shape[1]] = gray
    return np.round(canvas).astype(np.uint8)


class FashionMNISTMissing(UserError, FileNotFoundError):
    """The idx files of Fashion-MNIST are not in the data root."""


def cache_dir() -> Path:
    """Where decompressed copies go: ``$INCUBATION_VIT_CACHE`` or ``~/.cache/incubation-vit``."""
    if os.environ.get('INCUBATION_VIT_CACHE'):
        return Path(os.environ['INCUBATION_VIT_CACHE'])
    return Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'incubation-vit'


def _sources(data_root: Path) -> List[Path]:
    names = [f'{name}.gz' for pair in SPLITS.values() for name in pair]
    missing = [n for n in names if not (data_root / n).is_file()]
    if missing:
        raise FashionMNISTMissing(f'{data_root}: Fashion-MNIST not found (missing {", ".join(missing)}); '
                                  f'{INSTALL_HINT}')
    return [data_root / n for n in names]


def _decompress(src: Path, dst: Path) -> None:
    def write(tmp: str) -> None:
        with gzip.open(src, 'rb') as fin, open(tmp, 'wb') as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    try:
        atomic_write(dst, write)
    except (OSError, EOFError, zlib.error) as exc:
        raise OSError(f'{src}: not a readable gzip file ({exc}); reinstall Fashion-MNIST ({INSTALL_HINT})') from exc


def prepare_raw(data_root: str) -> Path:
    """Decompress the idx files of ``data_root`` into the cache (once); the torchvision root.

    The cache folder is keyed by the source folder and its files' sizes and times, so changed
    or other files get their own copy; concurrent runs each write whole files (atomic rename).
    """
    root = Path(data_root).expanduser().resolve()
    sources = _sources(root)
    key = hashlib.sha1(str(root).encode())
    for src in sources:
        stat = src.stat()
        key.update(f'{src.name}:{stat.st_size}:{stat.st_mtime_ns}'.encode())
    tv_root = cache_dir() / 'fashion-mnist' / key.hexdigest()[:16]
    raw = tv_root / 'FashionMNIST' / 'raw'
    for src in sources:
        dst = raw / src.name[:-len('.gz')]
        if not dst.is_file():
            _decompress(src, dst)
    return tv_root


def load_split(data_root: str, split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """(images ``N x 28 x 28`` uint8, labels ``N`` int64) of ``split`` (``train`` or ``test``)."""
    from torchvision.datasets import FashionMNIST
    if split not in SPLITS:
        raise ValueError(f'Fashion-MNIST split {split!r}: expected one of {", ".join(SPLITS)}')
    tv_root = prepare_raw(data_root)
    try:
        data = FashionMNIST(str(tv_root), train=split == 'train', download=False)
    except (AssertionError, RuntimeError, ValueError) as exc:
        raise OSError(f'{data_root}: unreadable Fashion-MNIST {split} idx files ({exc}); '
                      f'reinstall them ({INSTALL_HINT})') from exc
    return data.data, data.targets.long()


def subset_indices(labels: torch.Tensor, subset: Dict[str, Any]) -> List[int]:
    """Indices of a class-balanced subset: ``dict(per_class=N)`` or ``dict(fraction=F)``, with ``seed``;
    ``dict(per_class=N, within=M)`` draws the N a class from the ``per_class=M`` subset of the same
    seed (the data-efficiency cells: 25% and 50% of the study's 5,000 images, not of all 60,000)."""
    seed = int(subset.get('seed', 0))
    if subset.get('within') is not None:
        within, per_class = int(subset['within']), int(subset.get('per_class', 0))
        if not 0 < per_class <= within:
            raise ValueError(f'subset={subset}: per_class must be in 1..within ({within})')
        pool = subset_indices(labels, dict(per_class=within, seed=seed))
        picked = subset_indices(labels[torch.tensor(pool, dtype=torch.long)], dict(per_class=per_class, seed=seed))
        return sorted(pool[i] for i in picked)
    samples = [(i, int(label)) for i, label in enumerate(labels.tolist())]
    if ('per_class' in subset) == ('fraction' in subset):
        raise ValueError(f'subset={subset}: give exactly one of per_class=N or fraction=F (with an optional seed)')
    if 'fraction' in subset:
        return [i for i, _ in balanced_subset(samples, float(subset['fraction']), seed)]
    per_class = int(subset['per_class'])
    by_class: Dict[int, List[Tuple[int, int]]] = {}
    for sample in samples:
        by_class.setdefault(sample[1], []).append(sample)
    smallest = min(len(items) for items in by_class.values())
    if not 0 < per_class <= smallest:
        raise ValueError(f'subset per_class={per_class}: must be in 1..{smallest} (the smallest class)')
    chosen: List[int] = []
    for label, items in sorted(by_class.items()):
        # one class at a time, so every class gets exactly per_class images
        picked = balanced_subset(items, per_class / len(items), seed * 1000 + label)
        chosen.extend(i for i, _ in picked)
    return sorted(chosen)


@DATASETS.register_module()
class FashionMNISTDataset(Dataset):
    """Fashion-MNIST with a timm transform, samples like :class:`~classification.data.ImageFolderDataset`.

    Args:
        data_root: folder holding the four ``*-ubyte.gz`` idx files (Debian's location by default).
        split: ``train`` (60,000 images) or ``test`` (10,000).
        transform: keyword arguments of :func:`timm.data.create_transform`; the grayscale
            images are given to it as RGB, so the ImageNet-shaped models and norms apply.
        subset: a class-balanced subset, ``dict(per_class=500, seed=0)`` or
            ``dict(fraction=0.1, seed=0)``.
        canvas: paste each item on a black canvas first, ``dict(size=32, item_size=(12, 32),
            random=True, seed=0)``: resized to a uniform side in ``item_size`` at a uniform place
            (:func:`on_canvas`, as the scenes place their items). ``random=True`` draws a new
            scale and place at every read (from torch's generator, so the run's seed fixes
            them); ``random=False`` fixes them per image by ``seed`` (a validation set).
    """

    def __init__(self, data_root: str = DEFAULT_ROOT, split: str = 'train', transform: Optional[Dict[str, Any]] = None,
                 subset: Optional[Dict[str, Any]] = None, canvas: Optional[Dict[str, Any]] = None) -> None:
        from torchvision.datasets import FashionMNIST
        images, labels = load_split(data_root, split)
        if subset:
            index = torch.tensor(subset_indices(labels, subset), dtype=torch.long)
            images, labels = images[index], labels[index]
        self.images, self.labels = images.contiguous(), labels
        self.classes = list(FashionMNIST.classes)
        self.transform = create_transform(**(transform or {}))
        self.metainfo = dict(classes=tuple(self.classes))
        self.canvas = dict(canvas) if canvas else None
        if self.canvas is not None:
            unknown = set(self.canvas) - {'size', 'item_size', 'random', 'seed'}
            if unknown or 'size' not in self.canvas:
                raise ValueError(f'canvas={canvas}: expected dict(size=S[, item_size=(LO, HI), random=True, seed=0])')

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        pixels = self.images[idx].numpy()
        if self.canvas is not None:
            if self.canvas.get('random', True):
                rng = np.random.default_rng(int(torch.randint(2 ** 62, ())))
            else:
                rng = np.random.default_rng([int(self.canvas.get('seed', 0)), idx])
            pixels = on_canvas(rng, pixels, int(self.canvas['size']), tuple(self.canvas.get('item_size', ITEM_SIZE)))
        img = Image.fromarray(pixels, mode='L').convert('RGB')
        return dict(inputs=self.transform(img), data_samples=self.labels[idx].clone())
