"""Mask R-CNN, ViT-L/16 from the incubation-trained ImageNet-1k model, COCO 1x, with ViTDet's window attention.

``mask-rcnn_vit-l_incubation_1x_coco.py`` (global attention in every block) with ViTDet's attention
layout (Li et al., ECCV 2022, Sec. 3): attention within 14 x 14-token windows (the ImageNet
pretraining grid of a 224 x 224 input at patch 16), global attention in the last block of each of
the K = 4 incubation modules (blocks 5, 11, 17, 23, ViTDet's choice), the
absolute position embedding interpolated from 14 x 14 to the 64 x 64 grid at every forward
(``pos_embed='interpolate'``; ``'tile'`` repeats it per window instead). The backbone keeps
``img_size=224``, so the checkpoint loads unresampled and exactly, with no added parameter:
ViTDet's relative position biases are left out (they are new parameters the upstream network
does not have). Everything else, the optimiser and the schedule included, is the global config's.
"""
_base_ = ['./mask-rcnn_vit-l_incubation_1x_coco.py']

model = dict(backbone=dict(img_size=224, window_size=14, pos_embed='interpolate'))

benchmark = dict(variant='vitdet-windows')
