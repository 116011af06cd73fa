"""Tiny CPU UperNet: the ViT-B ADE20K recipe shrunk until it trains in seconds (tests, CPU demo).

Same bases and structure as ``upernet_vit-b_incubation_80k_ade20k-512x512.py`` (backbone from
an exported checkpoint, multi-level neck, UperNet + auxiliary FCN head, AdamW + layer decay,
``ADE20KDataset`` with ``reduce_zero_label``, sliding-window test, multi-scale + flip TTA,
``IoUMetric``, device-hours hook), scaled down:
  * backbone ``vit_tiny_test`` (width 32, 2 heads, patch 8, depths 2-2-2-2) at 64 x 64, features
    after blocks 2, 4, 6, 8 (the last of each module); 32-channel neck, 16 / 8-channel heads;
  * BN instead of SyncBN (no process group on one CPU), fp32 (no AMP on the CPU), gloo for
    ``tools/dist_train.sh`` on CPUs;
  * 64 x 64 crops from images resized to a shorter side of 64 x [0.5, 2.0]; test at shorter
    side 64 with 64 x 64 windows; TTA at the same six ratios of that scale, with flips;
  * 16 iterations (2 of warm-up; enough to learn the colour -> class map of the generated
    set well above chance), evaluation and checkpoint at the end, seed 0, no worker processes.
The data must have the ADE20K layout (``images/{training,validation}/*.jpg``,
``annotations/{training,validation}/*.png``, label 0 = ignored, 1..150 = classes), e.g. the
one tests/test_segmentation.py writes. Point the config at it and at a backbone checkpoint
(``backbones.export_timm`` of a ``vit_tiny_test`` network) with ``--cfg-options``:
``{train,val,test}_dataloader.dataset.data_root=DIR model.backbone.init_cfg.checkpoint=PATH``
(or ``model.backbone.init_cfg=None`` for a random backbone).
"""
_base_ = [
    './_base_/models/upernet_vit-b_mln.py',
    './_base_/datasets/ade20k_512x512.py',
    './_base_/schedules/schedule_80k.py',
    './_base_/default_runtime.py',
]

data_root = 'data/ade-synthetic'
crop_size = (64, 64)
short_side = 64
max_iters = 16
warmup_iters = 2
val_interval = 16
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=8)),
    backbone=dict(
        arch='vit_tiny_test',
        img_size=crop_size[0],
        out_indices=(1, 3, 5, 7),
        drop_path_rate=0.0,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-tiny-test_incubation.pth')),
    neck=dict(out_channels=32),  # in_channels [32] * 4 and scales (2, 1, 0.5, 0.25) follow the backbone
    decode_head=dict(in_channels=[32] * 4, channels=16, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=32, channels=8, norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(43, 43)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(layer_decay_rate=0.65))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(4 * short_side, short_side), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(4 * short_side, short_side), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=(int(4 * short_side * r), int(short_side * r)), keep_ratio=True)
             for r in [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]],
            [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
             dict(type='RandomFlip', prob=1.0, direction='horizontal')],
            [dict(type='LoadAnnotations', reduce_zero_label=True)],
            [dict(type='PackSegInputs')],
        ]),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=val_interval))

env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)

benchmark = dict(task='ade20k', model='ViT-tiny-test', method='incubation', schedule='test')
