"""Mask R-CNN, the 8-block width-64 Fashion-MNIST ViT from its incubation-trained upstream model, Fashion-MNIST scenes, 3 epochs.

The recipe (``_base_/fashion_scenes_recipe.py``: 64 x 64 scenes, 32-channel simple feature pyramid
and heads, anchors 8-128 px, AdamW lr 1e-3, batch 8, 3 epochs) with this depth's backbone,
``vit_fashion_depth8``, and layer decay 0.6 (0.6 ** 9 = 0.010 at the patch embedding).
The suite passes the upstream run's final checkpoint with ``--cfg-options
model.backbone.init_cfg.checkpoint=PATH`` (``model.backbone.init_cfg=None``: the random-init
control); the E2E twin differs only in that path.
"""
_base_ = ['./_base_/fashion_scenes_recipe.py']

model = dict(backbone=dict(arch='vit_fashion_depth8',
                           init_cfg=dict(checkpoint='pretrained/vit-fashion-d8_incubation_fashion.pth')))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.6))

benchmark = dict(task='fashion-scenes-det', model='ViT-D8-W64', method='incubation', schedule='3e')
