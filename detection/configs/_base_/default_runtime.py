"""Runtime shared by every detection config: scope, imports, hooks, logging, cost accounting.

mmdet's runtime (``mmdet::_base_/default_runtime.py``) with these changes:
  * ``custom_imports`` applies this repository's mmengine compatibility fixes and registers
    its backbone, neck, ``LN2d``, the layer-decay constructor and the device-hours hook, so
    the configs run from ``tools/train.py`` and from ``mim train mmdet`` (with ``PYTHONPATH``
    at the repo root);
  * ``DeviceHoursHook`` logs ``cost/device_hours`` with every evaluation and writes
    ``WORK_DIR/cost.json`` (the benchmark tables read both);
  * ``BackboneProvenanceHook`` records the backbone's checkpoint (sha256, size), the upstream run it
    comes from and what was loaded, resampled and dropped, in ``WORK_DIR/backbone.json`` and the log;
  * the last 3 checkpoints are kept (a ViT-L checkpoint with its optimiser state is ~4 GB);
  * the visualizer has no fixed ``name``: the runner names it after the experiment, so two
    runs in one process (tests) never share one instance and its save directory.
"""
_base_ = ['mmdet::_base_/default_runtime.py']

custom_imports = dict(imports=['runtime.openmmlab', 'backbones', 'detection'], allow_failed_imports=False)

default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook', max_keep_ckpts=3))
custom_hooks = [dict(type='DeviceHoursHook'), dict(type='BackboneProvenanceHook')]

visualizer = dict(_delete_=True, type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
