"""UperNet, the 8-block width-64 Fashion-MNIST ViT from its E2E-trained upstream model, Fashion-MNIST scenes, 500 iterations.

The baseline of ``upernet_vit-fashion-d8_incubation_500i_fashion-scenes-64x64.py``: identical in
everything except the backbone's checkpoint.
"""
_base_ = './upernet_vit-fashion-d8_incubation_500i_fashion-scenes-64x64.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='pretrained/vit-fashion-d8_e2e_fashion.pth')))

benchmark = dict(method='e2e')
