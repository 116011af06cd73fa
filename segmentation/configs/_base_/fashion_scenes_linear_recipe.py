"""Linear segmentation on a frozen backbone (the frozen protocol): what the upstream features
carry, not what a head can learn on top of them in minutes.

DINOv2's linear segmentation protocol (Oquab et al., 2023: a linear layer on the frozen patch
tokens of the last layers, concatenated), scaled down, on top of
``fashion_scenes_windowed_recipe.py`` (64 x 64 scenes, ViTDet windows, AdamW lr 1e-3 with the
heads at 10x, batch 8):
  * backbone: every block and the embeddings frozen (``frozen_stages`` = the depth, set by the
    leaf), kept in eval mode: no drop path, no gradient;
  * head: mmseg's ``FCNHead`` with no conv (``num_convs=0``): one 1 x 1 convolution, a linear
    classifier per token, on the concatenated outputs of the last block of each incubation
    module (``resize_concat``, 4 x 64 channels); no neck, no auxiliary head;
  * schedule: 2,000 iterations (16 passes over the 1,000 training scenes; a linear head
    converges slowly), 50-iteration warm-up, poly decay, evaluated every 250.
Why: UperNet fine-tuned (the ``fashion-canvas`` preset) or on a frozen backbone reaches the same
mIoU from random weights as from pretrained ones given 2,000 iterations (docs/studies/suite.md):
its 32-channel PPM + FPN head learns what these small scenes need from any features. A linear
head can only use what the features already separate.
"""
_base_ = ['./fashion_scenes_windowed_recipe.py']

max_iters = 2000
val_interval = 250
warmup_iters = 50
width = 64
num_classes = 11

model = dict(
    backbone=dict(drop_path_rate=0.0),
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=[width] * 4,
        in_index=[0, 1, 2, 3],
        input_transform='resize_concat',
        channels=4 * width,
        num_convs=0,
        concat_input=False,
        dropout_ratio=0.0,
        num_classes=num_classes,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=1, save_best=None))
