"""Runtime pieces every task imports: checkpoint compatibility, cost accounting, layer decay.

Importing this package applies :mod:`runtime.compat` (mmengine 0.10 on torch >= 2.6).
"""
from . import compat  # noqa: F401  (applies the patches)
from .hooks import DeviceHoursHook
from .optim import LayerDecayOptimWrapperConstructor

__all__ = ['DeviceHoursHook', 'LayerDecayOptimWrapperConstructor']
