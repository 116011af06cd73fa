"""Mask R-CNN on the Fashion-MNIST scenes: the ViT-B 1x recipe scaled to the depth-study backbones (CPU).

The four bases of ``mask-rcnn_vit-b_incubation_1x_coco.py`` (plain ViT + simple feature
pyramid + LayerNorm heads, LSJ-style data, AdamW + layer decay, CocoMetric for bbox and segm),
scaled down as the tiny test config does:
  * backbone: a ``vit_fashion_depth*`` preset (width 64, 4 heads, patch 4, K = 4; the leaf sets
    the depth, the layer decay and the checkpoint) at 64 x 64 (position embedding resampled
    from the upstream 4 x 4 grid to 16 x 16), features of the last block; drop path 0.1 as ViT-B;
  * neck: the patch-4 map is stride 4, so scale factors (1, 1/2, 1/4, 1/8) give strides 4-32
    (+ 64 pooled), as (4, 2, 1, 1/2) do for patch 16; 32 channels (at 64 the neck and heads
    took ~700 ms of a 1,074 ms depth-16 step on one core, at 32 about half);
  * anchors: scale 2 instead of 8, so the five levels' square anchors are 8, 16, 32, 64, 128 px
    for 12-32 px items in 64 x 64 scenes (mmdet's 32-512 px fit COCO at 1024); the RoI
    extractors keep mmdet's mapping (every RoI under 112 px reads the stride-4 level);
  * heads: 32-channel RPN, 4conv1fc box head (fc 128) and mask head, ten classes; 200 / 100
    proposals per image before / after NMS, 64 sampled RoIs per image; at most 20 detections
    per image at test time (a scene has at most 6 items; mmdet's 100 are for COCO's crowds, and
    their masks took half of the evaluation time of an untrained model);
  * optimiser: AdamW lr 1e-3 (the small-model lr of the upstream recipe and the tiny configs;
    1e-4 is ViTDet's for ViT-B at batch 64), weight decay 0.1, fp32 (``OptimWrapper``: no AMP
    on the CPU); the leaf's layer decay keeps the patch embedding's factor
    ``rate ** (depth + 1)`` near ViT-B's 0.7 ** 13 = 0.01;
  * schedule: 3 epochs at batch 8 (375 iterations of the 1,000 training scenes; sized for the
    suite's ``fashion`` preset, docs/detection.md), 50-iteration linear warm-up, lr x0.1 for the
    last epoch (1x steps after 8 and 11 of 12 epochs; at 3 epochs both fall after epoch 2: one
    step), evaluation and one checkpoint at the end only (the reports keep the last-epoch result);
  * seed 0 (``randomness``, from the runtime base).
"""
_base_ = [
    './models/mask-rcnn_vit-b_sfp.py',
    './datasets/fashion-scenes_instance-64.py',
    './schedules/schedule_1x.py',
    './default_runtime.py',
]

image_size = (64, 64)
channels = 32
num_classes = 10
max_epochs = 3
warmup_iters = 50

model = dict(
    # the upstream Fashion-MNIST recipe's normalisation (timm mean = std = 0.5), not ImageNet's
    data_preprocessor=dict(pad_size_divisor=image_size[0], mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True),
    backbone=dict(
        arch='vit_fashion_depth32',
        img_size=image_size[0],
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-fashion-d32_incubation_fashion.pth')),
    neck=dict(in_channels=64, out_channels=channels, scale_factors=(1.0, 0.5, 0.25, 0.125)),
    rpn_head=dict(in_channels=channels, feat_channels=channels, anchor_generator=dict(scales=[2])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, conv_out_channels=channels, fc_out_channels=128,
                       num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels, num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100), rcnn=dict(max_per_img=20)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=0.87))

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[2], gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
