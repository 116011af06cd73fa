"""UperNet with a plain ViT-B/16, a multi-level neck and an auxiliary FCN head.

mmsegmentation's ViT + UperNet model (``mmseg::_base_/models/upernet_vit-b16_ln_mln.py``, as
``configs/vit/vit_vit-b16_mln_upernet_8xb2-80k_ade20k-512x512.py`` uses it; UperNet: Xiao et
al., ECCV 2018) with these changes:
  * backbone: the incubated (or E2E) ImageNet ViT-B/16 as it is (global attention, class
    token, no extra norms) instead of mmseg's ``VisionTransformer``; position embedding
    resampled from 14 x 14 to 32 x 32 when the checkpoint is loaded; features after blocks 3,
    6, 9 and 12 (the last block of each of the K = 4 incubation modules, mmseg's
    ``out_indices=(2, 5, 8, 11)``), all stride 16; drop path 0.1. The checkpoint is the
    backbone's ``init_cfg``, so the segmentor's ``pretrained`` is unset;
  * heads: 150 classes (ADE20K) instead of 19; mmseg's neck (``MultiLevelNeck``, scales
    (4, 2, 1, 0.5) to strides 4-32, width kept at 768; its input channels and scales are
    derived from the backbone when the config is built), UperNet decode head (PPM 1-2-3-6 + FPN,
    512 channels, SyncBN, dropout 0.1) and auxiliary FCN head (1 conv, 256 channels, on the
    stride-32 level, loss weight 0.4) stay as they are;
  * data preprocessor: training batches padded to the 512 x 512 crop (label 255 = ignored),
    test images padded to a multiple of the patch size (the backbone needs whole patches);
    mmseg's ImageNet mean / std in RGB are what the DeiT-recipe training of the backbone used;
  * test: sliding window 512 x 512, stride 341 (the BEiT / MAE protocol, mmseg ``configs/mae``)
    instead of the whole image.

The optimiser is in ``schedules/schedule_80k.py``; the ViT-L and ViT-H configs change its layer
decay. Every trainable parameter gets a gradient, so DDP needs no ``find_unused_parameters``:
the last of ``out_indices`` is the last block, and the backbone freezes the ImageNet model's
final norm, which it keeps for the checkpoint but does not use (it returns pre-norm block
outputs, as mmseg's ViT does by default).
"""
_base_ = ['mmseg::_base_/models/upernet_vit-b16_ln_mln.py']

data_preprocessor = dict(size=(512, 512), test_cfg=dict(size_divisor=16))

model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='IncubationViTBackbone',
        arch='vit_base_patch16_224',
        img_size=512,
        out_indices=(2, 5, 8, 11),
        drop_path_rate=0.1,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-b_incubation_in1k.pth')),
    # in_channels ([768] * 4) and scales ((4, 2, 1, 0.5): strides 4-32) follow the backbone
    # (backbones/pyramid.py), so another backbone needs no neck edits
    neck=dict(in_channels=None, scales=None),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
