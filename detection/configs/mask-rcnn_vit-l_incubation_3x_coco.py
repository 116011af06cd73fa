"""Mask R-CNN, ViT-L/16 initialised from the incubation-trained ImageNet-1k model, COCO 3x.

``mask-rcnn_vit-l_incubation_1x_coco.py`` (recipe and sources there) trained three times as
long: 36 epochs at batch 16 (~264k iterations), the same 1000-iteration warm-up, lr x0.1 after
epochs 27 and 33 (3/4 and 11/12 of training, as the 1x steps after 8 and 11 of 12; mmdet's /
Detectron's 3x), evaluated every 3 epochs (12 points per run, as for 1x). Model, data and
optimiser are those of the 1x config.
"""
_base_ = './mask-rcnn_vit-l_incubation_1x_coco.py'

train_cfg = dict(max_epochs=36, val_interval=3)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=36, milestones=[27, 33], gamma=0.1),
]

benchmark = dict(schedule='3x')
