"""Runtime shared by every detection config: scope, imports, hooks, logging, cost accounting.

mmdet's ``configs/_base_/default_runtime.py`` with three changes:
  * ``custom_imports`` registers this repository's backbone, neck, ``LN2d``, the layer-decay
    constructor, the device-hours hook and the torch >= 2.6 resume fix, so the configs run
    from ``tools/train.py`` and from ``mim train mmdet`` (with ``PYTHONPATH`` at the repo root);
  * ``DeviceHoursHook`` logs ``cost/device_hours`` with every evaluation and writes
    ``WORK_DIR/cost.json`` (the benchmark tables read both);
  * the visualizer has no fixed ``name``: the runner names it after the experiment, so two
    runs in one process (tests) never share one instance and its save directory.
"""
default_scope = 'mmdet'
custom_imports = dict(imports=['runtime.openmmlab', 'backbones', 'detection'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='ResumableCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
custom_hooks = [dict(type='DeviceHoursHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
