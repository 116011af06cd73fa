"""Tiny CPU Mask R-CNN: the ViT-B 1x recipe shrunk until it trains in seconds (tests, CPU demo).

Same structure as ``mask-rcnn_vit-b_incubation_1x_coco.py`` (backbone, simple feature pyramid,
LayerNorm heads, LSJ, AdamW + layer decay, CocoMetric for bbox and segm), scaled down:
  * backbone ``vit_tiny_test`` (width 32, 2 heads, patch 8, depths 2-2-2-2) at 64 x 64; its
    stride-8 map gives strides 4-32 with scale factors (2, 1, 0.5, 0.25), + 64 by pooling (the
    neck derives both from the backbone: ``model.backbone.arch=vit_digits_depth16``, patch 4,
    width 64, gives (1, 0.5, 0.25, 0.125) and 64 input channels);
  * 32-channel neck and heads, 64 RoIs per image, LSJ at 64 x 64, fp32 (no AMP on the CPU),
    a few iterations, no worker processes;
  * data: a COCO-format set of 2 classes (``square``, ``triangle``) with polygon masks, e.g.
    the one tests/test_detection.py writes. Point it elsewhere with ``--cfg-options``:
    ``{train,val,test}_dataloader.dataset.data_root=DIR {val,test}_evaluator.ann_file=FILE``;
  * the backbone starts from an exported checkpoint (``backbones.export_timm``):
    ``model.backbone.init_cfg.checkpoint=PATH`` (or ``model.backbone.init_cfg=None``).
"""
_base_ = [
    './_base_/models/mask-rcnn_vit-b_sfp.py',
    './_base_/datasets/coco_instance_lsj-1024.py',
    './_base_/default_runtime.py',
]

image_size = (64, 64)
data_root = 'data/coco-synthetic/'
metainfo = dict(classes=('square', 'triangle'))
max_iters = 4
channels = 32

model = dict(
    data_preprocessor=dict(pad_size_divisor=image_size[0]),
    backbone=dict(
        arch='vit_tiny_test',
        img_size=image_size[0],
        drop_path_rate=0.0,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-tiny-test_incubation.pth')),
    neck=dict(out_channels=channels),  # in_channels 32, scale_factors (2, 1, 0.5, 0.25): from the backbone
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, conv_out_channels=channels, fc_out_channels=64,
                       num_classes=len(metainfo['classes'])),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels, num_classes=len(metainfo['classes']))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100)))

optim_wrapper = dict(  # no schedule base: the whole optimiser is here
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=0.7))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size, recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2)]

default_hooks = dict(
    logger=dict(interval=1, log_metric_by_epoch=False),  # metrics at their iteration, not epoch 0
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)  # reproducible CPU runs

benchmark = dict(task='coco', model='ViT-tiny-test', method='incubation', schedule='test')
