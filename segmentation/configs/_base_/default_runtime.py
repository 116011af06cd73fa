"""Runtime shared by every segmentation config: scope, imports, cost accounting, logging, TTA model.

mmsegmentation's runtime (``mmseg::_base_/default_runtime.py``, with its ``SegTTAModel`` as
the ``tta_model`` that ``tools/test.py --tta`` wraps the model in, averaging the softmax scores
of the ``tta_pipeline`` views) with these changes:
  * ``custom_imports`` applies this repository's mmengine compatibility fixes and registers
    its backbone, the layer-decay constructor and the device-hours hook, so the configs run
    from ``tools/train.py`` and from ``mim train mmseg`` (with ``PYTHONPATH`` at the repo root);
  * ``DeviceHoursHook`` logs ``cost/device_hours`` with every evaluation and writes
    ``WORK_DIR/cost.json`` (the benchmark tables read both);
  * ``BackboneProvenanceHook`` records the backbone's checkpoint (sha256, size), the upstream run it
    comes from and what was loaded, resampled and dropped, in ``WORK_DIR/backbone.json`` and the log;
  * the visualizer has no fixed ``name``: the runner names it after the experiment, so two
    runs in one process (tests) never share one instance and its save directory.
"""
_base_ = ['mmseg::_base_/default_runtime.py']

custom_imports = dict(imports=['runtime.openmmlab', 'backbones', 'segmentation'], allow_failed_imports=False)

custom_hooks = [dict(type='DeviceHoursHook'), dict(type='BackboneProvenanceHook')]

visualizer = dict(_delete_=True, type='SegLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
