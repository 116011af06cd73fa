"""Runtime shared by every detection config: scope, imports, hooks, logging, cost accounting.

mmdet's runtime (``mmdet::_base_/default_runtime.py``) with these changes:
  * ``custom_imports`` applies this repository's mmengine compatibility fixes and registers
    its backbone, neck, ``LN2d``, the layer-decay constructor and the device-hours hook, so
    the configs run from ``tools/train.py`` and from ``mim train mmdet`` (with ``PYTHONPATH``
    at the repo root);
  * ``runner_type='CheckedRunner'`` (``runtime/configs.py``): the model dict is checked and
    completed before it is built, under every entry point: the backbone's unknown keys are
    refused in one line, and the neck follows the backbone (``backbones/pyramid.py``);
  * ``DeviceHoursHook`` logs ``cost/device_hours`` with every evaluation and writes
    ``WORK_DIR/cost.json`` (the benchmark tables read both);
  * ``BackboneProvenanceHook`` records the backbone's checkpoint (sha256, size), the upstream run it
    comes from and what was loaded, resampled and dropped, in ``WORK_DIR/backbone.json`` and the log;
  * the last 3 checkpoints are kept (a ViT-L checkpoint with its optimiser state is ~4 GB);
  * the visualizer has no fixed ``name``: the runner names it after the experiment, so two
    runs in one process (tests) never share one instance and its save directory;
  * ``randomness.seed`` 0 (mmengine's default draws a random seed per run): the head
    initialisation and the data order are the same for every backbone, so E2E and incubation
    runs differ only in the checkpoint; seeds for a spread: ``--cfg-options randomness.seed=N``.
"""
_base_ = ['mmdet::_base_/default_runtime.py']

custom_imports = dict(imports=['runtime.openmmlab', 'backbones', 'detection'], allow_failed_imports=False)

default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook', max_keep_ckpts=3))
# builds the model from the checked config (runtime/configs.py): unknown backbone keys refused,
# the neck fitted to the backbone, also under `mim train` and mmdet's / mmseg's own tools
runner_type = 'CheckedRunner'
custom_hooks = [dict(type='DeviceHoursHook'), dict(type='BackboneProvenanceHook')]

visualizer = dict(_delete_=True, type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')])

randomness = dict(seed=0)
