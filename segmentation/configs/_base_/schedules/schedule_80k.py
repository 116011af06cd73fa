"""80k iterations at batch 16 (2 images x 8 GPUs), poly lr decay after a 1500-iteration linear warm-up.

Source: mmsegmentation ``configs/_base_/schedules/schedule_80k.py`` (80k iterations, poly
power 1.0, evaluation and checkpoint every 8k) with the warm-up of its ViT / BEiT / MAE UperNet
configs (``LinearLR`` from 1e-6 x lr over 1500 iterations, then ``PolyLR`` to 0). The
optimiser (AdamW, layer decay per model size, AMP) lives in the model bases.

Checkpoints keep only the last two and the best mIoU: a ViT-H checkpoint with its optimiser
state is about 8 GB.
"""
max_iters = 80000
val_interval = 8000

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=1500, end=max_iters),
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='ResumableCheckpointHook', by_epoch=False, interval=val_interval, max_keep_ckpts=2,
                    save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))

# ``tools/train.py --auto-scale-lr`` rescales the lr linearly for another total batch
auto_scale_lr = dict(enable=False, base_batch_size=16)
