"""1x schedule with ViTDet's optimiser: 12 epochs at batch 16, lr x0.1 after epochs 8 and 11.

mmdet's 1x (``mmdet::_base_/schedules/schedule_1x.py``: 12 epochs of COCO train2017 at a
total batch of 16, about 88k iterations, steps after epochs 8 and 11, evaluation every epoch,
``auto_scale_lr`` base batch 16 for ``tools/train.py --auto-scale-lr``) with two changes:
  * linear warm-up over 1000 iterations instead of 500: the 16k images of ViTDet's
    250-iteration warm-up at batch 64;
  * ViTDet's optimiser (App. A.2) instead of SGD: AdamW, lr 1e-4, betas (0.9, 0.999), weight
    decay 0.1 (none on norms, biases, position embedding, class token), layer-wise lr decay
    0.7 (ViT-B's; the ViT-L configs set 0.8), fp16 AMP with dynamic loss scaling, no gradient
    clipping.

The Deep Incubation paper reports COCO Mask R-CNN at 1x and 3x; the 3x configs are their 1x
config with the schedule made three times longer.
"""
_base_ = ['mmdet::_base_/schedules/schedule_1x.py']

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=12, milestones=[8, 11], gamma=0.1),
]

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=0.7))
