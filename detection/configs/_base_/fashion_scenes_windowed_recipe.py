"""Mask R-CNN on the Fashion-MNIST scenes from canvas-pretrained backbones: the scenes recipe with
ViTDet's windows, a head learning rate the heads can learn with, and a score curve.

On top of ``fashion_scenes_recipe.py`` (64 x 64 scenes, 32-channel simple feature pyramid and
heads, anchors 8-128 px, AdamW lr 1e-3, batch 8), for E2E, incubation and the random-init
control alike:
  * backbone: a ``vit_fashion_canvas_*`` preset kept at its pretraining size (32 x 32, 8 x 8
    tokens) with window attention in 8 x 8-token windows and global attention in the last block
    of each incubation module (ViTDet's layout), the position embedding tiled per window;
  * neck and heads at the base lr, as in the 3-epoch recipe: an overfit check (16 fixed training
    scenes, 200 steps, random init) kept the RoI classification loss lower at 1x than at 10x
    (UperNet's heads, in contrast, learn faster at 10x); at this budget neither learnt to name
    the items (docs/suite.md);
  * schedule: ``max_epochs`` epochs, lr x0.1 for the last epoch (1x: steps after 8 and 11 of 12
    epochs), evaluated every epoch, so each run records its score along the schedule;
  * ``SceneCocoMetric``: box and mask AP (0 rather than missing when nothing is detected) and the
    masks' foreground IoU.
The leaves set the depth, the layer decay and the checkpoint; E2E, incubation and the random-init
control use one recipe.
"""
_base_ = ['./fashion_scenes_recipe.py']

max_epochs = 3
warmup_iters = 50

model = dict(
    backbone=dict(arch='vit_fashion_canvas_depth8', img_size=32, window_size=8, pos_embed='tile',
                  init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-fashion-canvas-d8_incubation.pth')))
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[max_epochs - 1], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=1))
val_evaluator = dict(type='SceneCocoMetric')
test_evaluator = val_evaluator
