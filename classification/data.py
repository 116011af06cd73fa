"""ImageNet-layout data: the folder data set, timm's DeiT transforms, subsets, repeated augmentation."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DATA_SAMPLERS, DATASETS
from PIL import Image, UnidentifiedImageError
from timm.data import create_transform
from timm.data.distributed_sampler import RepeatAugSampler as _TimmRepeatAugSampler
from torch.utils.data import Dataset

from runtime.errors import UserError

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff', '.ppm', '.pgm', '.JPEG')


class DataLayoutError(UserError, FileNotFoundError):
    """The data root is not in the ImageNet folder layout ``ROOT/SPLIT/<class>/<image>``."""


def scan_image_folder(folder: Path, classes: Optional[Sequence[str]] = None) -> Tuple[List[str], List[Tuple[str, int]]]:
    """Classes (sorted sub-folder names) and (path, label) samples of ``folder``; clear errors."""
    if not folder.is_dir():
        raise DataLayoutError(f'{folder}: no such folder; expected the ImageNet layout '
                              f'DATA_ROOT/{{train,val}}/<class>/<image>')
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not found:
        raise DataLayoutError(f'{folder}: no class folders inside; expected {folder}/<class>/<image>')
    if classes is not None and list(found) != list(classes):
        missing, extra = sorted(set(classes) - set(found)), sorted(set(found) - set(classes))
        raise DataLayoutError(f'{folder}: class folders differ from the training split '
                              f'(missing {missing[:5]}, extra {extra[:5]})')
    samples: List[Tuple[str, int]] = []
    for label, name in enumerate(found):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix in IMG_EXTENSIONS or
                       p.suffix.lower() in IMG_EXTENSIONS)
        if not files:
            raise DataLayoutError(f'{folder / name}: empty class folder (no image with extension '
                                  f'{", ".join(IMG_EXTENSIONS[:5])}, ...)')
        samples.extend((str(f), label) for f in files)
    return found, samples


def balanced_subset(samples: Sequence[Tuple[str, int]], fraction: float, seed: int) -> List[Tuple[str, int]]:
    """The same fraction of every class, chosen with a seeded generator (data-efficiency study)."""
    if not 0 < fraction <= 1:
        raise ValueError(f'subset fraction must be in (0, 1], got {fraction}')
    by_class: Dict[int, List[Tuple[str, int]]] = {}
    for sample in samples:
        by_class.setdefault(sample[1], []).append(sample)
    rng = random.Random(seed)
    chosen: List[Tuple[str, int]] = []
    for label in sorted(by_class):
        items = by_class[label]
        chosen.extend(rng.sample(items, max(1, round(fraction * len(items)))))
    return sorted(chosen)


@DATASETS.register_module()
class ImageFolderDataset(Dataset):
    """``DATA_ROOT/SPLIT/<class>/<image>`` with a timm transform.

    Args:
        data_root: folder holding the splits.
        split: sub-folder, ``train`` or ``val``.
        transform: keyword arguments of :func:`timm.data.create_transform` (``is_training``
            selects the DeiT training augmentation or the resize + centre-crop evaluation).
        subset: ``dict(fraction=0.25, seed=0)`` for a class-balanced subset.
        class_split: split whose class folders define the labels (defaults to ``train``), so
            that the validation labels are those of the training split.
        in_memory: decode every image once, when the data set is built, and keep it in memory
            (small data sets: the digits, CIFAR). Each item then costs only its transform: on the
            digits (64 images of 16x16 a batch, one CPU thread) 17 ms a batch instead of 34.
    """

    def __init__(self, data_root: str, split: str = 'train', transform: Optional[Dict[str, Any]] = None,
                 subset: Optional[Dict[str, Any]] = None, class_split: str = 'train', in_memory: bool = False) -> None:
        root = Path(data_root)
        if not root.is_dir():
            raise DataLayoutError(f'{root}: data root not found')
        classes = None
        if class_split != split and (root / class_split).is_dir():
            classes, _ = scan_image_folder(root / class_split)
        self.classes, self.samples = scan_image_folder(root / split, classes)
        if subset:
            self.samples = balanced_subset(self.samples, float(subset['fraction']), int(subset.get('seed', 0)))
        self.transform = create_transform(**(transform or {}))
        self.metainfo = dict(classes=tuple(self.classes))
        self.images: Optional[List[Image.Image]] = None
        if in_memory:  # an unreadable image fails here, before training, naming its file
            self.images = [_read_rgb(path) for path, _ in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        path, label = self.samples[idx]
        img = self.images[idx] if self.images is not None else _read_rgb(path)
        return dict(inputs=self.transform(img), data_samples=torch.tensor(label))


def _read_rgb(path: str) -> Image.Image:
    """The decoded RGB image at ``path``; an unreadable file is an ``OSError`` naming it."""
    try:
        with Image.open(path) as img:
            return img.convert('RGB')  # convert() loads the pixels: the file can be closed
    except (OSError, UnidentifiedImageError) as exc:
        raise OSError(f'{path}: unreadable image ({exc})') from exc


@DATA_SAMPLERS.register_module()
class RepeatAugSampler(_TimmRepeatAugSampler):
    """timm's (DeiT's) repeated-augmentation sampler, taking rank and world size from mmengine.

    ``selected_round`` (256 in DeiT) truncates each epoch to a multiple of it; set it to 0 for
    data sets smaller than a few thousand images.

    timm shuffles epoch ``e`` with a generator seeded by ``e`` alone; here by ``seed + e``
    (``seed`` as mmengine's ``DefaultSampler`` takes it), so the order follows the run's seed
    and, depending on nothing but the epoch, is the same after a resume.
    """

    def __init__(self, dataset: Dataset, shuffle: bool = True, num_repeats: int = 3, selected_round: int = 256,
                 selected_ratio: float = 0, seed: Optional[int] = None) -> None:
        rank, world_size = get_dist_info()
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, num_repeats=num_repeats,
                         selected_round=selected_round, selected_ratio=selected_ratio)
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(self.seed + epoch)  # timm seeds the shuffle with ``self.epoch``
