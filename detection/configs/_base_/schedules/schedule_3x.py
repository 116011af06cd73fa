"""3x schedule: 36 epochs at batch 16, lr x0.1 after epochs 27 and 33 (mmdet's / Detectron's 3x).

Same warm-up, optimiser and data as the 1x schedule (``schedule_1x.py``); only the length and
the steps (at 3/4 and 11/12 of training) change, so 1x and 3x runs differ in nothing else.
Evaluated every 3 epochs (12 points per run, as for 1x).
"""
max_epochs = 36
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[27, 33], gamma=0.1),
]

auto_scale_lr = dict(enable=False, base_batch_size=16)
