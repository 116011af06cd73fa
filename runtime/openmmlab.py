"""What an OpenMMLab config needs from this package, named in its ``custom_imports``.

Importing this module is the explicit opt-in: it applies :func:`runtime.compat.apply` (resume
on torch >= 2.6, atomic checkpoint writes, CPU DDP) and registers ``DeviceHoursHook`` and
``LayerDecayOptimWrapperConstructor`` with mmengine, so that ``tools/train.py``, ``mim train``
and any other entry point that reads the config behave the same. ``ResumableCheckpointHook`` (the
configs' ``default_hooks.checkpoint``) is registered here too.
"""
from . import compat
from .checkpoint import ResumableCheckpointHook
from .fastpaths import AutocastOptimWrapper, CompileNetworkHook, DeferredRuntimeInfoHook, FastOptimWrapperConstructor
from .hooks import BackboneProvenanceHook, DeviceHoursHook
from .optim import LayerDecayOptimWrapperConstructor

compat.apply()

__all__ = ['ResumableCheckpointHook', 'DeviceHoursHook', 'BackboneProvenanceHook',
           'LayerDecayOptimWrapperConstructor', 'AutocastOptimWrapper',
           'CompileNetworkHook', 'DeferredRuntimeInfoHook', 'FastOptimWrapperConstructor']
