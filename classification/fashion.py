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

import torch
from mmengine.registry import DATASETS
from PIL import Image
from timm.data import create_transform
from torch.utils.data import Dataset

from runtime.fileio import atomic_write

from .data import balanced_subset

DEFAULT_ROOT = '/usr/share/datasets/fashion-mnist'
SPLITS = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
          'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
INSTALL_HINT = ('install it with `bash tools/setup_data.sh` (as root), or without root: '
                '`apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb DIR` and set '
                'data_root to DIR/usr/share/datasets/fashion-mnist')


class FashionMNISTMissing(FileNotFoundError):
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
    """

    def __init__(self, data_root: str = DEFAULT_ROOT, split: str = 'train', transform: Optional[Dict[str, Any]] = None,
                 subset: Optional[Dict[str, Any]] = None) -> None:
        from torchvision.datasets import FashionMNIST
        images, labels = load_split(data_root, split)
        if subset:
            index = torch.tensor(subset_indices(labels, subset), dtype=torch.long)
            images, labels = images[index], labels[index]
        self.images, self.labels = images.contiguous(), labels
        self.classes = list(FashionMNIST.classes)
        self.transform = create_transform(**(transform or {}))
        self.metainfo = dict(classes=tuple(self.classes))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        img = Image.fromarray(self.images[idx].numpy(), mode='L').convert('RGB')
        return dict(inputs=self.transform(img), data_samples=self.labels[idx].clone())
