"""UperNet with a plain ViT-L/16: the ViT-B base (``upernet_vit-b_mln.py``) at width 1024, depth 24.

Changes from ViT-B and why:
  * features after blocks 6, 12, 18 and 24 (``out_indices=(5, 11, 17, 23)``: the last block of
    each of the K = 4 incubation modules, the same relative depths as ViT-B's 3, 6, 9, 12);
  * neck and head inputs 1024 wide (the neck keeps the backbone width, as mmseg's ViT-B does);
    UperNet itself stays at 512 channels, so B, L and H differ only in the backbone;
  * drop path 0.2 (mmseg's BEiT-L UperNet, ``configs/beit``).
The layer-wise lr decay for ViT-L (0.8) is set in the ViT-L configs: the optimiser is in the
schedule base.
"""
_base_ = ['./upernet_vit-b_mln.py']

model = dict(
    backbone=dict(
        arch='vit_large_patch16_224',
        out_indices=(5, 11, 17, 23),
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-l_incubation_in1k.pth')),
    neck=dict(out_channels=1024),  # in_channels [1024] * 4 follow the backbone
    decode_head=dict(in_channels=[1024] * 4),
    auxiliary_head=dict(in_channels=1024))
