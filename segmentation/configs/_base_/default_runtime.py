"""Runtime shared by every segmentation config: scope, imports, cost accounting, logging, TTA model.

mmseg's ``configs/_base_/default_runtime.py`` with these changes:
  * ``custom_imports`` registers this repository's backbone, the layer-decay constructor, the
    device-hours hook and the torch >= 2.6 resume fix, so the configs run from
    ``tools/train.py`` and from ``mim train mmseg`` (with ``PYTHONPATH`` at the repo root);
  * ``DeviceHoursHook`` logs ``cost/device_hours`` with every evaluation and writes
    ``WORK_DIR/cost.json`` (the benchmark tables read both);
  * the visualizer has no fixed ``name``: the runner names it after the experiment, so two
    runs in one process (tests) never share one instance and its save directory.

``tta_model`` is what ``tools/test.py --tta`` wraps the model in (mmseg's ``tools/test.py
--tta`` does the same): ``SegTTAModel`` averages the softmax scores of the ``tta_pipeline``
views (see the dataset base).
"""
default_scope = 'mmseg'
custom_imports = dict(imports=['runtime.openmmlab', 'backbones', 'segmentation'], allow_failed_imports=False)

custom_hooks = [dict(type='DeviceHoursHook')]

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False

tta_model = dict(type='SegTTAModel')
