"""UperNet, the 16-block width-64 Fashion-MNIST ViT from its incubation-trained upstream model, Fashion-MNIST scenes, 500 iterations.

The recipe (``_base_/fashion_scenes_recipe.py``: 64 x 64 crops, multi-level neck to strides 4-32,
32-channel UperNet and 16-channel FCN heads with BN, background a class, AdamW lr 1e-3, batch 8,
500 iterations) with this depth's backbone, ``vit_fashion_depth16`` (features after blocks
4, 8, 12, 16: the last of each module), and layer decay 0.72 (0.72 ** 17 = 0.004 at the patch
embedding). The suite passes the upstream run's final checkpoint with ``--cfg-options
model.backbone.init_cfg.checkpoint=PATH`` (``model.backbone.init_cfg=None``: the random-init
control); the E2E twin differs only in that path.
"""
_base_ = ['./_base_/fashion_scenes_recipe.py']

model = dict(backbone=dict(arch='vit_fashion_depth16',
                           init_cfg=dict(checkpoint='pretrained/vit-fashion-d16_incubation_fashion.pth')))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.72))

benchmark = dict(task='fashion-scenes-seg', model='ViT-D16-W64', method='incubation', schedule='500i')
