"""UperNet on the Fashion-MNIST scenes: the ViT-B ADE20K recipe scaled to the depth-study backbones (CPU).

The four bases of ``upernet_vit-b_incubation_80k_ade20k-512x512.py`` (plain ViT, multi-level
neck, UperNet + auxiliary FCN head, AdamW + layer decay, sliding-window test, multi-scale +
flip TTA, IoUMetric), scaled down as the tiny test config does:
  * backbone: a ``vit_fashion_depth*`` preset (width 64, 4 heads, patch 4, K = 4; the leaf sets
    the depth, the layer decay and the checkpoint) at 64 x 64 (position embedding resampled
    from the upstream 4 x 4 grid to 16 x 16), features after the last block of each module
    (the backbone's default, as blocks 3-6-9-12 of ViT-B), drop path 0.1 as ViT-B;
  * neck: the patch-4 maps are stride 4, so scales (1, 1/2, 1/4, 1/8) give strides 4-32, as
    (4, 2, 1, 1/2) do for patch 16; width kept at the backbone's (64);
  * heads: UperNet 32 channels, auxiliary FCN 16 (ViT-B: 512 / 256), BN instead of SyncBN (one
    process), 11 classes (background + the ten clothes);
  * optimiser: AdamW lr 1e-3 (the small-model lr of the upstream recipe and the tiny configs),
    weight decay 0.01, fp32 (``OptimWrapper``: no AMP on the CPU); the leaf's layer decay keeps
    the patch embedding's factor ``rate ** (depth + 1)`` near ViT-B's 0.65 ** 13 = 0.004;
  * schedule: 500 iterations at batch 8 (4 passes over the 1,000 training scenes; sized for the
    suite's ``fashion`` preset, docs/segmentation.md), 50-iteration linear warm-up then poly
    decay to 0, evaluation and one checkpoint at the end only (the reports keep the last
    result; no best-mIoU copy);
  * gloo for ``tools/dist_train.sh`` on CPUs; seed 0 (``randomness``, from the runtime base).
"""
_base_ = [
    './models/upernet_vit-b_mln.py',
    './datasets/fashion-scenes_64x64.py',
    './schedules/schedule_80k.py',
    './default_runtime.py',
]

crop_size = (64, 64)
num_classes = 11
width = 64
max_iters = 500
warmup_iters = 50
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    # the upstream Fashion-MNIST recipe's normalisation (timm mean = std = 0.5), not ImageNet's
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=4), mean=[127.5] * 3, std=[127.5] * 3,
                           bgr_to_rgb=True),
    backbone=dict(
        arch='vit_fashion_depth32',
        img_size=crop_size[0],
        out_indices=None,  # the last block of each incubation module
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-fashion-d32_incubation_fashion.pth')),
    neck=dict(in_channels=[width] * 4, out_channels=width, scales=[1, 0.5, 0.25, 0.125]),
    decode_head=dict(in_channels=[width] * 4, channels=32, num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=width, channels=16, num_classes=num_classes, norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(43, 43)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(layer_decay_rate=0.85))

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))

env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
