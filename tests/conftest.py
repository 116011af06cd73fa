"""Shared fixtures: tiny real data (scikit-learn digits) and how to run the repository's tools."""
from __future__ import annotations

import ast
import gzip
import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CLS_CONFIGS = ROOT / 'classification' / 'configs'

# A 4-module ViT small enough for a few CPU iterations per phase on 16x16 digits.
TINY_DIGITS_OPTIONS = {
    'model.arch': 'vit_tiny_test',
    'model.arch_overrides.img_size': 16,
    'model.arch_overrides.patch_size': 4,
    'train_dataloader.batch_size': 16,
    'effective_batch_size': 16,
    'train_cfg.val_interval': 1,
    'default_hooks.checkpoint.interval': 1,
    'default_hooks.logger.interval': 1,
}


def cfg_words(options: dict) -> list:
    """``--cfg-options KEY=VALUE`` words for a command line (lists as ``[a,b]``, which mmengine's
    DictAction parses back into a list)."""
    words = []
    for key, value in options.items():
        if isinstance(value, (list, tuple)):
            value = '[' + ','.join(str(v) for v in value) + ']'
        words.append(f'{key}={value}')
    return words


def tool_env(threads: int = 1) -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = str(ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    env['OMP_NUM_THREADS'] = str(threads)
    return env


def run_tool(*args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python tools/<args>`` from the repository root, as a user would."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=tool_env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


@pytest.fixture(scope='session')
def digits_root(tmp_path_factory) -> Path:
    """Real handwritten digits in the ImageNet layout: 8 train and 4 val images per class."""
    from classification.digits import write_digits
    return write_digits(str(tmp_path_factory.mktemp('data') / 'digits'), limit_per_class=8)


def data_options(root: Path) -> dict:
    return {f'{loader}.dataset.data_root': str(root) for loader in ('train_dataloader', 'val_dataloader',
                                                                   'test_dataloader')}


@pytest.fixture(scope='module')
def one_thread():
    """Tiny models run one small op after another: a second intra-op thread only adds
    synchronisation, and on a busy 2-core machine each parallel region waits for a descheduled
    thread (measured: a tiny step took 3-10 s with 2 threads, 0.1-0.3 s with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def exported(tmp_path_factory) -> Dict[str, Any]:
    """A ``vit_tiny_test`` network exported like an assembled incubation model (.pth + .safetensors)."""
    import backbones
    torch.manual_seed(0)
    model = backbones.build_model('vit_tiny_test')
    paths = backbones.export_timm(backbones.network_checkpoint(model), tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    return dict(state=model.state_dict(), **paths)


def load_tool(name: str):
    """``tools/NAME.py`` as a module (its ``_bootstrap`` import needs tools/ on the path)."""
    tools = str(ROOT / 'tools')
    if tools not in sys.path:
        sys.path.append(tools)
    spec = importlib.util.spec_from_file_location(f'_tools_{name}', ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def built_config(path: Path):
    """A config as the tools build it: loaded, and its model dict checked and completed
    (``runtime.configs.prepare_model_config``: strict keys, the neck fitted to the backbone)."""
    from mmengine.config import Config

    from runtime.configs import prepare_model_config
    cfg = Config.fromfile(path)
    prepare_model_config(cfg.model)
    return cfg


def config_base_of(path: Path) -> List[str]:
    """The ``_base_`` a config file names, as written (not resolved)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, 'id', None) for t in node.targets] == ['_base_']:
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


def without_scope(x: Any) -> Any:
    """A resolved config without the ``_scope_`` keys mmengine adds to what ``mmdet::`` / ``mmseg::`` bring."""
    if isinstance(x, dict):
        return {k: without_scope(v) for k, v in x.items() if k != '_scope_'}
    if isinstance(x, (list, tuple)):
        return type(x)(without_scope(v) for v in x)
    return x


def _write_idx(path: Path, array: np.ndarray) -> None:
    """The idx format: 0x00 0x00, type 0x08 (uint8), the rank, big-endian int32 sizes, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f'>{array.ndim}i', *array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_idx(root: Path, per_class: dict, draw=None) -> dict:
    """Fashion-MNIST's four idx files, generated: image ``i`` is filled with its label x 20 and
    has ``i`` in its last pixel, or is ``draw(rng, labels)[i]`` (``N x 28 x 28`` uint8). Returns
    each split's labels."""
    from classification.fashion import SPLITS

    root.mkdir(parents=True)
    labels_of = {}
    for split, (images_name, labels_name) in SPLITS.items():
        rng = np.random.default_rng(len(split))
        labels = rng.permutation(np.repeat(np.arange(10), per_class[split]))
        if draw is None:
            images = np.broadcast_to((labels * 20)[:, None, None], (len(labels), 28, 28)).copy()
            images[:, 27, 27] = np.arange(len(labels))
        else:
            images = draw(rng, labels)
        _write_idx(root / f'{images_name}.gz', images)
        _write_idx(root / f'{labels_name}.gz', labels)
        labels_of[split] = labels
    return labels_of


# The files whose tests take longest, in that order, before the rest: pytest-xdist (--dist loadfile)
# hands the files to its workers in collection order, and a long file handed out last is the
# whole run's tail (make test is CPU-bound on 2 cores).
LONG_FILES = ('test_suite.py', 'test_fashion_preset.py', 'test_slurm_pipeline.py', 'test_classification.py',
              'test_fault_injection.py', 'test_pipeline_reliability.py')


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))  # stable: each file keeps its order
