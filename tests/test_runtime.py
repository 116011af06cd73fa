"""The runtime package: importing it patches nothing, compat.apply() is explicit and idempotent,
and the one atomic writer never leaves a torn or half-written file."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, tool_env

from runtime.fileio import atomic_write, atomic_write_json


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=tool_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_importing_packages_patches_nothing_until_apply():
    out = _python(
        'import mmengine.fileio as f, mmengine.dist.utils as d\n'
        'original = (f.LocalBackend.put, d._init_dist_pytorch)\n'
        'import runtime, runtime.hooks, runtime.optim, backbones, segmentation, detection, classification\n'
        'print(f.LocalBackend.put is original[0], d._init_dist_pytorch is original[1])\n'
        'import runtime.compat as c\n'
        'print(c.apply(), c.apply(), f.LocalBackend.put.__module__, f.LocalBackend.put is original[0])\n'
        'put = f.LocalBackend.put\n'
        'import runtime.openmmlab\n'
        'print(f.LocalBackend.put is put)\n')
    assert out.splitlines() == ['True True', 'True True runtime.compat False', 'True']


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / 'record.json'
    atomic_write_json(target, {'a': 1})

    def torn(tmp: str) -> None:
        with open(tmp, 'w') as f:
            f.write('{"a": ')
        raise KeyboardInterrupt  # a kill in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, torn)
    assert json.loads(target.read_text()) == {'a': 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['record.json']  # no temporary file left


def test_randaugment_posterize_at_zero_bits_gives_black_not_an_error():
    """The DeiT recipe's ``rand-m9-mstd0.5-inc1`` can draw magnitude 10: posterize to 0 bits."""
    import numpy as np
    from PIL import Image
    from timm.data.auto_augment import AugmentOp

    import runtime.compat
    runtime.compat.apply()
    op = AugmentOp('PosterizeIncreasing', prob=1.0, magnitude=10, hparams={'magnitude_std': 0})
    image = Image.fromarray(np.full((8, 8, 3), 200, dtype=np.uint8))
    assert np.asarray(op(image)).max() == 0
    assert np.asarray(AugmentOp('PosterizeIncreasing', prob=1.0, magnitude=5)(image)).max() > 0


def test_config_text_is_formatted_once_and_unchanged():
    """``Config.pretty_text`` (called ~7 times a run) runs yapf once per distinct text."""
    out = _python(
        'import mmengine.config.config as m\n'
        'from mmengine.config import Config\n'
        'cfg = Config.fromfile("classification/configs/vit-digits-d16_e2e_60e_digits.py")\n'
        'before = cfg.pretty_text\n'
        'import runtime.compat as c\n'
        'c.apply()\n'
        'calls = []\n'
        'inner = m.FormatCode.__wrapped__\n'
        'm.FormatCode = c._memoised_format_code(lambda *a, **k: calls.append(1) or inner(*a, **k))\n'
        'texts = [cfg.pretty_text for _ in range(5)]\n'
        'cfg.merge_from_dict({"train_cfg.max_epochs": 3})\n'
        'changed = cfg.pretty_text\n'
        'print(all(t == before for t in texts), len(calls), "max_epochs=3" in changed)\n')
    assert out == 'True 2 True'
