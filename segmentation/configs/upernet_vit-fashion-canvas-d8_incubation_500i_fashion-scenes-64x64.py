"""UperNet, the 8-block width-64 canvas-recipe Fashion-MNIST ViT from its incubation-trained upstream
model, Fashion-MNIST scenes, 500 iterations, ViTDet windows (``_base_/fashion_scenes_windowed_recipe.py``).

Layer decay 0.55 (0.55 ** 9 = 0.005 at the patch embedding, as the other depths). The suite passes
the upstream run's final checkpoint with ``--cfg-options model.backbone.init_cfg.checkpoint=PATH``
(``model.backbone.init_cfg=None``: the random-init control); the E2E twin differs only in that path.
"""
_base_ = ['./_base_/fashion_scenes_windowed_recipe.py']

model = dict(backbone=dict(arch='vit_fashion_canvas_depth8',
                           init_cfg=dict(checkpoint='pretrained/vit-fashion-canvas-d8_incubation.pth')))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.55))

benchmark = dict(task='fashion-scenes-seg', model='ViT-D8-W64', method='incubation', schedule='500i')
