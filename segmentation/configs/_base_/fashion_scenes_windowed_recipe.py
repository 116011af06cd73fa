"""UperNet on the Fashion-MNIST scenes from canvas-pretrained backbones: the scenes recipe with
ViTDet's windows, a head learning rate the heads can learn with, and a score curve.

On top of ``fashion_scenes_recipe.py`` (64 x 64 crops, multi-level neck to strides 4-32,
32-channel UperNet and 16-channel FCN heads with BN, AdamW lr 1e-3, batch 8):
  * backbone: a ``vit_fashion_canvas_*`` preset kept at its pretraining size (32 x 32, 8 x 8
    tokens) with window attention in 8 x 8-token windows, the pretraining grid, and global
    attention in the last block of each incubation module (ViTDet's layout); the position
    embedding is tiled per window (``pos_embed='tile'``), so each window sees the embedding the
    upstream run was trained with;
  * heads at 10x the base lr (``head_lr_mult``): at 1x, a random-init UperNet fit only 41 % of the
    item pixels of 8 fixed scenes after 150 steps, at 10x 93 % (the backbone keeps its layer
    decay, the same for every backbone);
  * schedule: ``max_iters`` with a 50-iteration warm-up and poly decay, evaluated every
    ``val_interval`` iterations, so each run records its score along the schedule;
  * ``ForegroundIoUMetric``: mIoU with foreground IoU, the background-only floor and per-class IoU.
The leaves set the depth, the layer decay and the checkpoint; E2E, incubation and the random-init
control use one recipe.
"""
_base_ = ['./fashion_scenes_recipe.py']

max_iters = 500
val_interval = 100
warmup_iters = 50

model = dict(
    backbone=dict(arch='vit_fashion_canvas_depth8', img_size=32, window_size=8, pos_embed='tile',
                  init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-fashion-canvas-d8_incubation.pth')))
optim_wrapper = dict(paramwise_cfg=dict(head_lr_mult=10.0))
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=1, save_best=None))
val_evaluator = dict(type='ForegroundIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
