"""Mask R-CNN, the 16-block width-64 Fashion-MNIST ViT from its E2E-trained upstream model, Fashion-MNIST scenes, 3 epochs.

The baseline of ``mask-rcnn_vit-fashion-d16_incubation_3e_fashion-scenes.py``: identical in everything
except the backbone's checkpoint.
"""
_base_ = './mask-rcnn_vit-fashion-d16_incubation_3e_fashion-scenes.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='pretrained/vit-fashion-d16_e2e_fashion.pth')))

benchmark = dict(method='e2e')
