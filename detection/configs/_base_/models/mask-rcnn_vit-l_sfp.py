"""Mask R-CNN with a plain ViT-L/16: the ViT-B model base with ViTDet's ViT-L settings.

Source: ViTDet (Li et al., ECCV 2022), App. A.2: for ViT-L, drop path 0.4 (ViT-B: 0.1) and
layer-wise lr decay 0.8 (set in the ViT-L configs, since the optimiser is in the schedule base);
everything else as ``mask-rcnn_vit-b_sfp.py`` (the neck's 1024 input channels follow the
backbone). Activation checkpointing is on (24 blocks of
global attention over 64 x 64 tokens, 2 images per GPU): it recomputes each block's
activations in the backward pass, trading compute for memory, and changes no result; turn it
off with ``model.backbone.with_cp=False`` on large-memory GPUs.
"""
_base_ = './mask-rcnn_vit-b_sfp.py'

model = dict(
    backbone=dict(arch='vit_large_patch16_224', drop_path_rate=0.4, with_cp=True))
