"""Runtime shared by every classification run: hooks, cost accounting, export, environment."""
default_scope = None
custom_imports = dict(imports=['runtime.openmmlab', 'backbones', 'classification'], allow_failed_imports=False)

default_hooks = dict(
    # the losses reach the host once per logging interval, not every iteration (no per-step sync)
    runtime_info=dict(type='DeferredRuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # last two epochs kept for resuming, plus the best by top-1
    checkpoint=dict(type='ResumableCheckpointHook', interval=1, max_keep_ckpts=2, save_best='accuracy/top1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [
    dict(type='DeviceHoursHook'),      # device-hours with every evaluation (benchmarks read it)
    dict(type='EffectiveBatchHook'),   # gradient accumulation so that the batch is effective_batch_size
    dict(type='ExportHook'),           # meta.pth / module_<i>.pth / model.{pth,safetensors} at the end
]
env_cfg = dict(cudnn_benchmark=True, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=False)
