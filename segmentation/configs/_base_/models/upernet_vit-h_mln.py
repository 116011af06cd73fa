"""UperNet with a plain ViT-H/14: the ViT-B base (``upernet_vit-b_mln.py``) at width 1280, depth 32.

Changes from ViT-B and why:
  * patch 14: 512 is not a multiple of 14, so the network sees 518 x 518 (37 x 37 patches).
    The data are exactly those of ViT-B/L: the same 512 x 512 training crops, which the data
    preprocessor pads to 518 x 518 (padding at the bottom / right, label 255 = ignored, so it
    adds no loss); test images are padded to a multiple of 14 and read with 518 x 518 sliding
    windows; predictions are cropped back to the image before scoring. Resizing the crops to
    518 or cropping 518 would change the data protocol between model sizes instead;
  * features after blocks 8, 16, 24 and 32 (``out_indices=(7, 15, 23, 31)``: the last block
    of each of the K = 4 incubation modules); the neck's scales, the powers of two nearest to
    14 / (4, 8, 16, 32) (``backbones/pyramid.py``), are (4, 2, 1, 0.5): strides 3.5 to 28 from
    the stride-14 maps, which UperNet accepts (it resizes between levels);
  * neck and head inputs 1280 wide; UperNet itself stays at 512 channels;
  * drop path 0.3 (BEiT-L's 0.2 for 24 blocks, raised with depth as in the ImageNet
    fine-tuning recipe: 0.1 / 0.5 / 0.6 for B / L / H);
  * ``--cfg-options model.backbone.with_cp=True`` (activation checkpointing in the backbone)
    trades a second forward pass of every block for memory on smaller GPUs; off by default.
The layer-wise lr decay for ViT-H (0.85) is set in the ViT-H configs: the optimiser is in the
schedule base.
"""
_base_ = ['./upernet_vit-b_mln.py']

model = dict(
    data_preprocessor=dict(size=(518, 518), test_cfg=dict(size_divisor=14)),
    backbone=dict(
        arch='vit_huge_patch14_224',
        img_size=518,
        out_indices=(7, 15, 23, 31),
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-h_incubation_in1k.pth')),
    neck=dict(out_channels=1280),  # in_channels [1280] * 4, scales (4, 2, 1, 0.5) follow the backbone
    decode_head=dict(in_channels=[1280] * 4),
    auxiliary_head=dict(in_channels=1280),
    test_cfg=dict(crop_size=(518, 518)))
