"""UperNet with a plain ViT-B/16, a multi-level neck and an auxiliary FCN head, and its optimiser.

Source: mmsegmentation's ViT + UperNet recipe (``configs/_base_/models/upernet_vit-b16_ln_mln.py``
and ``configs/vit/vit_vit-b16_mln_upernet_8xb2-80k_ade20k-512x512.py``; UperNet: Xiao et al.,
ECCV 2018), with layer-wise lr decay as in the BEiT / MAE UperNet recipes (mmseg
``configs/beit``, ``configs/mae``):
  * backbone: the incubated (or E2E) ImageNet ViT-B/16 as it is (global attention, class token,
    no extra norms), position embedding resampled from 14 x 14 to 32 x 32 when the checkpoint
    is loaded; features after blocks 3, 6, 9 and 12 (the last block of each of the K = 4
    incubation modules, mmseg's ``out_indices=(2, 5, 8, 11)``), all stride 16; drop path 0.1;
  * neck: ``MultiLevelNeck`` resamples the four stride-16 maps by (4, 2, 1, 0.5) to the strides
    4-32 that UperNet expects; 1 x 1 lateral + 3 x 3 conv per level, width kept at 768;
  * decode head: UperNet (PPM pool scales 1, 2, 3, 6 + FPN), 512 channels, SyncBN, dropout 0.1;
    auxiliary head: FCN (1 conv, 256 channels) on the stride-32 level, loss weight 0.4;
  * data preprocessor: ImageNet mean / std in RGB (what the DeiT-recipe ImageNet training of
    the backbone used), training batches padded to the 512 x 512 crop (label 255 = ignored),
    test images padded to a multiple of the patch size (the backbone needs whole patches);
  * test: sliding window 512 x 512, stride 341 (the BEiT / MAE protocol, mmseg ``configs/mae``);
  * optimiser: AdamW, lr 6e-5, betas (0.9, 0.999), weight decay 0.01 (mmseg's ViT-UperNet
    values; none on norms, biases, position embedding, class token), layer-wise lr decay 0.65
    (MAE / mmseg ``configs/mae`` for ViT-B: lr x 0.65 per block towards the input), fp16 AMP
    with dynamic loss scaling (``dtype='bfloat16'`` works too on Ampere and newer).

The optimiser lives here, not in ``schedules/``, because the layer-decay rate is set per model
size (see the ViT-L and ViT-H bases). Every trainable parameter gets a gradient, so DDP needs
no ``find_unused_parameters``: the last of ``out_indices`` is the last block, and the backbone
freezes the ImageNet model's final norm, which it keeps for the checkpoint but does not use
(it returns pre-norm block outputs, as mmseg's ViT does by default).
"""
norm_cfg = dict(type='SyncBN', requires_grad=True)

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512),
    test_cfg=dict(size_divisor=16))

model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='IncubationViTBackbone',
        arch='vit_base_patch16_224',
        img_size=512,
        out_indices=(2, 5, 8, 11),
        drop_path_rate=0.1,
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-b_incubation_in1k.pth')),
    neck=dict(
        type='MultiLevelNeck',
        in_channels=[768] * 4,
        out_channels=768,
        scales=[4, 2, 1, 0.5]),
    decode_head=dict(
        type='UPerHead',
        in_channels=[768] * 4,
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=768,
        in_index=3,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(layer_decay_rate=0.65))
