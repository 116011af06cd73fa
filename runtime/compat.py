"""mmengine 0.10 on torch >= 2.6: patches applied by an explicit, idempotent :func:`apply`.

Nothing here runs on import. ``tools/_bootstrap.py`` calls :func:`apply`, and the configs name
:mod:`runtime.openmmlab` in ``custom_imports`` (which calls it too) so that ``mim train`` and
any other OpenMMLab entry point get the same behaviour. Each patch is gated on the versions
that need it.

1. Resume. torch >= 2.6 loads with ``weights_only=True`` and refuses the few non-tensor types
   that mmengine puts into its own checkpoints (the message hub's ``HistoryBuffer`` and the
   numpy arrays and scalars inside it): ``Unsupported global: GLOBAL
   mmengine.logging.history_buffer.HistoryBuffer`` (open-mmlab/mmengine#1650, #1655). We do
   *not* turn ``weights_only`` off: we allow exactly those types, so every other file,
   pretrained weights from anywhere included, still loads with the safe unpickler. The buffer
   also pickles its statistics functions as ``getattr(HistoryBuffer, 'min')`` (protocol 2);
   rather than allowing ``getattr`` itself, a stand-in registered under that name returns
   only those functions.
2. Atomic writes. mmengine writes checkpoints with a plain ``open(path, 'wb')``; a run killed
   mid-write leaves a torn file behind (and ``save_best`` removes the old best first). Local
   writes now go through :func:`runtime.fileio.atomic_write_bytes`.
3. Safe loading whatever the environment says. mmengine calls ``torch.load`` without
   ``weights_only``, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (a common workaround for the
   error in 1.) makes ``--resume`` and ``load_from`` unpickle arbitrary code. Local files and
   URLs now load with ``weights_only=True`` passed explicitly, which that variable cannot
   override; an unreadable file raises an error naming it.
4. Resume. ``resume=True`` without a path continues from
   :func:`runtime.checkpoint.find_resume_checkpoint` (the newest checkpoint in the work dir
   that loads) instead of trusting ``last_checkpoint``, which a kill can leave stale.
5. Distributed training on CPUs (torchrun, gloo). mmengine calls ``torch.cuda.set_device`` in
   ``init_dist`` and gives DDP ``device_ids=[LOCAL_RANK]`` whatever the device; both fail on a
   machine without GPUs. Without CUDA the process group starts directly (``nccl`` falls back
   to ``gloo``, with a warning), and a CPU module is wrapped with ``device_ids=None``.

6. Speed. ``Config.pretty_text`` formats the whole config with yapf on every call, and a run
   calls it about seven times (the environment log, the config dumps, the message hub, and
   every checkpoint's ``meta``): ~0.3 s each on a CPU core, seconds per short run. The
   formatter is memoised on its exact input, so the text is what it was, computed once.

And one outside mmengine: RandAugment's ``inc1`` posterize reaches 0 bits at magnitude 10;
Pillow >= 13 raises there (``bits must be between or equal to 1 and 8``) where older Pillow
returned a black image, so a data worker of the DeiT recipe could crash mid-epoch.
"""
from __future__ import annotations

import functools
import pickle
import warnings
from collections import OrderedDict
from typing import Any, Callable, Tuple

import mmengine
import mmengine.config.config as mm_config
import mmengine.dist.utils as mm_dist_utils
import mmengine.runner.checkpoint as mm_checkpoint
import mmengine.runner.runner as mm_runner
import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.fileio.backends import LocalBackend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model.wrappers import MMDistributedDataParallel
from packaging.version import Version
from timm.data.auto_augment import posterize as _timm_posterize

from .checkpoint import find_resume_checkpoint, load_weights_only
from .fileio import atomic_write_bytes


def _numpy_globals() -> list:
    """The numpy reconstruction helpers and dtype classes pickled with arrays and scalars."""
    core = getattr(np, '_core', None) or np.core
    found = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:  # numpy >= 1.25 pickles dtypes by class
        found += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return found


def _history_buffer_getattr(obj, name: str):
    """``getattr`` as mmengine checkpoints use it: a statistics function of HistoryBuffer, nothing else."""
    # the four built-in statistics, and any registered with HistoryBuffer.register_statistics
    if obj is HistoryBuffer and name in {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}:
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint')


MMENGINE_CHECKPOINT_GLOBALS = [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'), *_numpy_globals()]


def allow_mmengine_checkpoint_types() -> None:
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)


def _atomic_put(self: LocalBackend, obj: bytes, filepath) -> None:
    atomic_write_bytes(filepath, obj)


def _load_from_local(filename, map_location=None):
    return load_weights_only(filename, map_location=map_location)


def _load_url(url, model_dir=None, map_location=None, progress=True, **kwargs):
    return torch.hub.load_state_dict_from_url(url, model_dir=model_dir, map_location=map_location,
                                              progress=progress, weights_only=True)


def load_weights_only_everywhere() -> None:
    """mmengine's loaders of local files and URLs (``load_from``, ``resume``, ``init_cfg``)."""
    mm_checkpoint.CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)
    mm_checkpoint.load_url = _load_url


_init_dist_pytorch = mm_dist_utils._init_dist_pytorch


def _init_dist_pytorch_cpu_aware(backend, init_backend='torch', **kwargs) -> None:
    if torch.cuda.is_available() or init_backend != 'torch':
        return _init_dist_pytorch(backend, init_backend=init_backend, **kwargs)
    if backend == 'nccl':
        warnings.warn('no CUDA device: NCCL cannot run, using the gloo backend', stacklevel=2)
        backend = 'gloo'
    torch_dist.init_process_group(backend=backend, **kwargs)


_ddp_init = MMDistributedDataParallel.__init__


def _ddp_init_cpu_aware(self, module, detect_anomalous_params: bool = False, **kwargs) -> None:
    on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
    if on_cpu and kwargs.get('device_ids') is not None:
        kwargs['device_ids'] = None  # DDP requires None for CPU modules
    _ddp_init(self, module=module, detect_anomalous_params=detect_anomalous_params, **kwargs)


def _memoised_format_code(format_code: Callable[..., Tuple[str, bool]], size: int = 16) -> Callable:
    """``format_code`` (yapf's ``FormatCode``) answering a repeated call from a cache keyed on
    its exact arguments (an unhashable style is keyed by its ``repr``)."""
    cache: 'OrderedDict[Tuple[str, str], Tuple[str, bool]]' = OrderedDict()

    @functools.wraps(format_code)
    def format_once(text: str, *args: Any, **kwargs: Any) -> Tuple[str, bool]:
        key = (text, repr((args, sorted(kwargs.items()))))
        if key not in cache:
            cache[key] = format_code(text, *args, **kwargs)
            if len(cache) > size:
                cache.popitem(last=False)
        return cache[key]

    return format_once


def _posterize(img, bits_to_keep, **kwargs):
    """timm's posterize, also for 0 bits: Pillow >= 13 refuses ``bits=0``, which older Pillow
    turned into a black image (what RandAugment's ``inc1`` variant asks for at magnitude 10)."""
    if bits_to_keep <= 0:
        from PIL import Image
        return Image.new(img.mode, img.size)
    return _timm_posterize(img, bits_to_keep, **kwargs)


def patch_timm_posterize() -> None:
    """Route timm's RandAugment posterize ops through :func:`_posterize` (idempotent)."""
    from timm.data import auto_augment
    for name, op in list(auto_augment.NAME_TO_OP.items()):
        if op is _timm_posterize:
            auto_augment.NAME_TO_OP[name] = _posterize


# The newest releases known to need each patch; a later release is assumed to have fixed it.
MMENGINE_NEEDS_PATCHES = Version('0.10.7')
TORCH_WEIGHTS_ONLY_DEFAULT = Version('2.6')

_applied = False


def _version(module) -> Version:
    return Version(module.__version__.split('+')[0])


def needed() -> bool:
    """Whether the installed mmengine is one these patches were written for."""
    return _version(mmengine) <= MMENGINE_NEEDS_PATCHES


def apply() -> bool:
    """Apply the patches this mmengine / torch pair needs; calling it again does nothing.

    Returns:
        True if the mmengine patches are in force after the call.
    """
    global _applied
    if _applied:
        return True
    patch_timm_posterize()  # a timm / Pillow matter, whatever the mmengine version
    if not needed():
        warnings.warn(f'runtime.compat: mmengine {mmengine.__version__} is newer than '
                      f'{MMENGINE_NEEDS_PATCHES}; no patch applied', stacklevel=2)
        return False
    if _version(torch) >= TORCH_WEIGHTS_ONLY_DEFAULT:
        allow_mmengine_checkpoint_types()
    LocalBackend.put = _atomic_put
    load_weights_only_everywhere()
    mm_runner.find_latest_checkpoint = find_resume_checkpoint
    mm_dist_utils._init_dist_pytorch = _init_dist_pytorch_cpu_aware
    MMDistributedDataParallel.__init__ = _ddp_init_cpu_aware
    mm_config.FormatCode = _memoised_format_code(mm_config.FormatCode)
    _applied = True
    return True
