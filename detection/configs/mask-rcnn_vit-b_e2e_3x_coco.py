"""Mask R-CNN, ViT-B/16 initialised from the E2E-trained ImageNet-1k model, COCO 3x.

The baseline of ``mask-rcnn_vit-b_incubation_3x_coco.py``: identical in everything (recipe and sources in
that file's docstring) except the backbone's checkpoint.
"""
_base_ = './mask-rcnn_vit-b_incubation_3x_coco.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='pretrained/vit-b_e2e_in1k.pth')))

benchmark = dict(method='e2e')
