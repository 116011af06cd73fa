"""A linear detection probe (RetinaNet, no stacked convolutions, a linear neck) on the frozen
8-block canvas-recipe Fashion-MNIST ViT from its incubation-trained upstream model
(``_base_/fashion_scenes_frozen_linear_recipe.py``).

The suite passes the upstream run's final checkpoint with ``--cfg-options
model.backbone.init_cfg.checkpoint=PATH`` (``model.backbone.init_cfg=None``: the random-init
control, as frozen as the others); the E2E twin differs only in that path.
"""
_base_ = ['./_base_/fashion_scenes_frozen_linear_recipe.py']

model = dict(backbone=dict(frozen_stages=8, out_indices=[7],
                           init_cfg=dict(checkpoint='pretrained/vit-fashion-canvas-d8_incubation.pth')))

benchmark = dict(task='fashion-scenes-det', model='ViT-D8-W64', method='incubation', schedule='12e-frozen-linear')
