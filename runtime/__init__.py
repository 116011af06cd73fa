"""Runtime pieces every task uses: atomic writes, cost accounting, layer decay, mmengine compat.

Importing this package changes nothing outside it. The mmengine patches are applied by an
explicit call, :func:`runtime.compat.apply` (from ``tools/_bootstrap.py``), or by naming
:mod:`runtime.openmmlab` in a config's ``custom_imports``, which also registers the hook and
the optimizer constructor below with mmengine.
"""
from typing import Any

_LAZY = {'DeviceHoursHook': 'runtime.hooks', 'LayerDecayOptimWrapperConstructor': 'runtime.optim'}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    # lazy, so that the torch-free modules (fileio, the run record) import without torch
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
