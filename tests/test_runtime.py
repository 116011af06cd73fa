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


PROBE = '''import os, sys
print('preloaded', 'torch' in sys.modules)
import torch
print('threads', torch.get_num_threads(), 'cwd', os.getcwd(), 'env', os.environ.get('PROBE_VALUE'), 'argv', sys.argv[1:])
print('script folder first on the path', sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
sys.exit(int(sys.argv[1]))
'''


def test_preloaded_backend_runs_a_script_as_a_fresh_interpreter_would(tmp_path):
    """runtime.launch.PreloadedBackend: the pipeline's phases fork from one process that imported
    torch, timm and mmengine; each still runs with its own log, environment, folder, thread count
    and exit code, and can be stopped, like a `python SCRIPT` child."""
    import signal

    from runtime.launch import Command, ForkedJob, LocalBackend, PreloadedBackend, python_argv, torchrun_argv

    script = tmp_path / 'probe.py'
    script.write_text(PROBE)
    env = dict(tool_env(), PROBE_VALUE='two words', OMP_NUM_THREADS='1')  # the server's torch has 2 threads here
    preloaded, logs = PreloadedBackend(), {}
    for name, backend in (('forked', preloaded), ('fresh', LocalBackend())):
        log = tmp_path / f'{name}.out'
        log.write_text('an earlier session\n')
        job = backend.start(Command(python_argv(str(script), '3', 'a b'), str(log), env=env, cwd=str(tmp_path)))
        assert job.wait() == 3
        assert isinstance(job, ForkedJob) == (name == 'forked')
        logs[name] = log.read_text()
    assert logs['fresh'] == ("an earlier session\npreloaded False\nthreads 1 cwd %s env two words argv ['3', 'a b']\n"
                             'script folder first on the path True\n' % tmp_path)
    assert logs['forked'] == logs['fresh'].replace('preloaded False', 'preloaded True')
    assert preloaded.preload_seconds > 0

    crash = tmp_path / 'crash.py'
    crash.write_text('raise ValueError("bad value 42")\n')
    job = preloaded.start(Command(python_argv(str(crash)), str(tmp_path / 'crash.out'), append=False))
    assert job.wait() == 1 and 'ValueError: bad value 42' in (tmp_path / 'crash.out').read_text()
    sleeper = tmp_path / 'sleeper.py'
    sleeper.write_text('import time\ntime.sleep(120)\n')
    job = preloaded.start(Command(python_argv(str(sleeper)), str(tmp_path / 'sleeper.out')))
    assert job.poll() is None
    job.stop(grace=10)
    assert job.poll() == -signal.SIGTERM

    # what is not a plain `python SCRIPT.py` with its output in its log runs as a child process
    assert not preloaded.forkable(Command(python_argv('-c', 'pass'), 'x.out'))
    assert not preloaded.forkable(Command(torchrun_argv(str(script), nproc=2, port=29600), 'x.out'))
    assert not preloaded.forkable(Command(python_argv(str(script)), 'x.out', echo='[x] '))


def test_device_hours_hook_leaves_a_test_runs_train_loop_unbuilt(tmp_path):
    """After ``tools/test.py`` the hook must not touch ``runner.train_loop``: that property builds
    the loop and its training data set, which a test-only run need not have."""
    from runtime.hooks import DeviceHoursHook

    class TestOnlyRunner:
        work_dir = str(tmp_path)

        @property
        def train_loop(self):
            raise AssertionError('the training loop was built')

    DeviceHoursHook().after_run(TestOnlyRunner())
    assert not (tmp_path / 'cost.json').exists()
