"""Fashion-MNIST from idx files: generated small files in the real format, and the real files if installed."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from conftest import write_fashion_idx
from mmengine.registry import DATASETS

import classification  # noqa: F401  (registers FashionMNISTDataset)
from classification.fashion import DEFAULT_ROOT, SPLITS, FashionMNISTDataset, FashionMNISTMissing

TRANSFORM = dict(input_size=16, is_training=False, interpolation='bicubic', crop_pct=1.0,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    monkeypatch.setenv('INCUBATION_VIT_CACHE', str(tmp_path / 'cache'))
    root = tmp_path / 'fashion'
    labels = write_fashion_idx(root, {'train': 6, 'test': 3})
    return root, labels


def test_reads_both_splits_as_the_image_folder_samples(fake_root):
    root, labels = fake_root
    train = DATASETS.build(dict(type='FashionMNISTDataset', data_root=str(root), split='train', transform=TRANSFORM))
    test = FashionMNISTDataset(str(root), split='test', transform=TRANSFORM)
    assert (len(train), len(test)) == (60, 30)
    assert train.metainfo['classes'][0] == 'T-shirt/top' and len(train.classes) == 10
    for i in (0, 17, 59):
        sample = train[i]
        assert set(sample) == {'inputs', 'data_samples'}
        assert sample['inputs'].shape == (3, 16, 16) and sample['inputs'].dtype == torch.float32
        label = int(labels['train'][i])
        assert int(sample['data_samples']) == label
        # pixel value label*20 normalised with mean = std = 0.5, on all three channels
        centre = sample['inputs'][:, 4:12, 4:12]
        assert torch.allclose(centre, torch.full_like(centre, (label * 20 / 255 - 0.5) / 0.5), atol=1e-2)


def _picked(dataset: FashionMNISTDataset) -> list:
    return dataset.images[:, 27, 27].tolist()   # the source index written into each image


@pytest.mark.parametrize('subset, size', [(dict(per_class=2, seed=0), 20), (dict(fraction=0.5, seed=1), 30)])
def test_class_balanced_subset_is_seeded(fake_root, subset, size):
    root, labels = fake_root
    a = FashionMNISTDataset(str(root), 'train', TRANSFORM, subset=subset)
    again = FashionMNISTDataset(str(root), 'train', TRANSFORM, subset=subset)
    other = FashionMNISTDataset(str(root), 'train', TRANSFORM, subset={**subset, 'seed': 7})
    assert len(a) == len(other) == size
    assert set(Counter(a.labels.tolist()).values()) == {size // 10}
    assert [int(labels['train'][i]) for i in _picked(a)] == a.labels.tolist()
    assert _picked(a) == _picked(again)
    assert _picked(a) != _picked(other)


@pytest.mark.parametrize('subset', [dict(per_class=7), dict(per_class=0), dict(per_class=2, fraction=0.5), dict(seed=1)])
def test_bad_subset_is_refused(fake_root, subset):
    root, _ = fake_root
    with pytest.raises(ValueError, match='subset'):
        FashionMNISTDataset(str(root), 'train', TRANSFORM, subset=subset)


def test_canvas_places_each_item_at_the_scenes_scale_anywhere(fake_root):
    """The canvas recipe: one item, resized to a side in the scenes' range, fully inside a black
    canvas; training draws a new place at every read (from torch's seed), validation a fixed one."""
    import numpy as np

    from benchmarks import fashion_scenes
    from classification.fashion import ITEM_SIZE, on_canvas
    assert ITEM_SIZE == fashion_scenes.ITEM_SIZE  # the scenes and the canvas pretraining share one scale range
    item = np.full((28, 28), 255, np.uint8)
    sides, corners = set(), set()
    for seed in range(60):
        canvas = on_canvas(np.random.default_rng(seed), item, 32)
        ys, xs = np.nonzero(canvas)
        side = ys.max() - ys.min() + 1
        assert canvas.shape == (32, 32) and ITEM_SIZE[0] <= side <= ITEM_SIZE[1] and side == xs.max() - xs.min() + 1
        sides.add(int(side))
        corners.add((int(ys.min()), int(xs.min())))
    assert len(sides) > 8 and len(corners) > 30, 'scales and places vary'
    root, _ = fake_root
    transform = dict(TRANSFORM, input_size=32)
    train = FashionMNISTDataset(str(root), transform=transform, canvas=dict(size=32, random=True))
    val = FashionMNISTDataset(str(root), transform=transform, canvas=dict(size=32, random=False, seed=0))
    assert train[0]['inputs'].shape == (3, 32, 32)
    torch.manual_seed(0)
    a = train[0]['inputs']
    torch.manual_seed(0)
    assert torch.equal(a, train[0]['inputs']) and not torch.equal(a, train[0]['inputs'])
    assert torch.equal(val[1]['inputs'], val[1]['inputs'])
    with pytest.raises(ValueError, match='canvas='):
        FashionMNISTDataset(str(root), transform=transform, canvas=dict(side=32))


def test_decompressed_once_into_the_cache(fake_root, tmp_path):
    root, _ = fake_root
    FashionMNISTDataset(str(root), 'test', TRANSFORM)
    raw = list((tmp_path / 'cache' / 'fashion-mnist').glob('*/FashionMNIST/raw/*'))
    assert sorted(p.name for p in raw) == sorted(n for pair in SPLITS.values() for n in pair)
    stamps = {p: p.stat().st_mtime_ns for p in raw}
    FashionMNISTDataset(str(root), 'train', TRANSFORM)
    assert {p: p.stat().st_mtime_ns for p in raw} == stamps
    assert not list((tmp_path / 'cache').rglob('*.tmp'))


def test_missing_files_name_the_folder_and_the_install(tmp_path, monkeypatch):
    monkeypatch.setenv('INCUBATION_VIT_CACHE', str(tmp_path / 'cache'))
    with pytest.raises(FashionMNISTMissing) as err:
        FashionMNISTDataset(str(tmp_path / 'nowhere'), 'train', TRANSFORM)
    message = str(err.value)
    assert '\n' not in message and str(tmp_path / 'nowhere') in message
    assert 'train-images-idx3-ubyte.gz' in message and 'tools/setup_data.sh' in message
    assert 'apt-get download dataset-fashion-mnist' in message


def test_damaged_file_is_named(fake_root):
    root, _ = fake_root
    (root / 't10k-images-idx3-ubyte.gz').write_bytes(b'not gzip')
    with pytest.raises(OSError, match='t10k-images-idx3-ubyte.gz'):
        FashionMNISTDataset(str(root), 'test', TRANSFORM)


def test_unknown_split_is_refused(fake_root):
    root, _ = fake_root
    with pytest.raises(ValueError, match="'val'"):
        FashionMNISTDataset(str(root), 'val', TRANSFORM)


@pytest.mark.skipif(not Path(DEFAULT_ROOT, 'train-images-idx3-ubyte.gz').is_file(),
                    reason=f'Fashion-MNIST is not installed in {DEFAULT_ROOT} (bash tools/setup_data.sh)')
def test_real_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv('INCUBATION_VIT_CACHE', str(tmp_path / 'cache'))
    test = FashionMNISTDataset(split='test', transform=TRANSFORM)
    assert len(test) == 10000 and Counter(test.labels.tolist()) == {c: 1000 for c in range(10)}
    assert test.images.shape == (10000, 28, 28) and test.images.dtype == torch.uint8
    train = FashionMNISTDataset(split='train', transform=TRANSFORM, subset=dict(per_class=100, seed=0))
    assert len(train) == 1000 and set(Counter(train.labels.tolist()).values()) == {100}
    assert train[0]['inputs'].shape == (3, 16, 16)
