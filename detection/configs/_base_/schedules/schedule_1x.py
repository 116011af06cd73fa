"""1x schedule: 12 epochs at batch 16, lr x0.1 after epochs 8 and 11 (mmdet's / Detectron's 1x).

The Deep Incubation paper reports COCO Mask R-CNN at 1x and 3x; this is the standard meaning
of those names (12 / 36 epochs of COCO train2017 at a total batch of 16 = ~88k / ~264k iterations).
Linear warm-up over the first 1000 iterations: the 16k images of ViTDet's 250-iteration warm-up
at batch 64. The optimiser (AdamW + layer decay, AMP) is per model size and lives in the
model bases. ``auto_scale_lr`` (``tools/train.py --auto-scale-lr``) rescales the lr linearly
for another total batch.
"""
max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[8, 11], gamma=0.1),
]

auto_scale_lr = dict(enable=False, base_batch_size=16)
