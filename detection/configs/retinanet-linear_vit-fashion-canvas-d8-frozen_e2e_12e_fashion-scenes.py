"""A linear detection probe on the frozen 8-block canvas-recipe Fashion-MNIST ViT from its
E2E-trained upstream model: the baseline of
``retinanet-linear_vit-fashion-canvas-d8-frozen_incubation_12e_fashion-scenes.py``, identical in
everything except the backbone's checkpoint."""
_base_ = './retinanet-linear_vit-fashion-canvas-d8-frozen_incubation_12e_fashion-scenes.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='pretrained/vit-fashion-canvas-d8_e2e.pth')))

benchmark = dict(method='e2e')
