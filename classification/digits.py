"""scikit-learn's handwritten digits (1,797 real 8x8 scans) written in the ImageNet folder layout.

This is the real data behind ``make demo`` and the tests: no download, the images ship in the
scikit-learn wheel. A fixed, seeded, class-stratified split of 1,437 train / 360 val images.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

VAL_SIZE = 360


def write_digits(root: str, size: int = 16, seed: int = 0, limit_per_class: int = 0) -> Path:
    """Write ``root/{train,val}/<digit>/<index>.png`` (upsampled to ``size``); idempotent.

    ``limit_per_class`` > 0 keeps only that many images per class and split (for fast tests).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    root_path = Path(root)
    stamp = dict(size=size, seed=seed, limit_per_class=limit_per_class, val_size=VAL_SIZE)
    marker = root_path / 'digits.json'
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return root_path
    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    index = np.arange(len(images))
    train_idx, val_idx = train_test_split(index, test_size=VAL_SIZE, stratify=digits.target, random_state=seed)
    root_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix='.digits-', dir=root_path.parent))
    for split, chosen in (('train', train_idx), ('val', val_idx)):
        counts = {}
        for i in sorted(chosen):
            label = int(digits.target[i])
            if limit_per_class and counts.get(label, 0) >= limit_per_class:
                continue
            counts[label] = counts.get(label, 0) + 1
            folder = staging / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i], mode='L').resize((size, size), Image.BICUBIC).save(folder / f'{i:04d}.png')
    (staging / 'digits.json').write_text(json.dumps(stamp))
    # Swap the finished folder in whole: an interrupted write never looks complete.
    if root_path.exists():
        shutil.rmtree(root_path)
    os.replace(staging, root_path)
    return root_path
