"""RetinaNet on a frozen backbone (the frozen protocol) on the Fashion-MNIST scenes.

mmdet's RetinaNet (``mmdet::_base_/models/retinanet_r50_fpn.py``: focal loss, 9 anchors a
place, every anchor a classification example) instead of Mask R-CNN, whose RoI classifier does
not learn to name the items at a CPU budget from any backbone, frozen or fine-tuned
(docs/studies/suite.md). On the scenes data, schedule and optimiser of
``fashion_scenes_recipe.py`` (64 x 64 scenes, AdamW lr 1e-3, batch 8):
  * backbone: a ``vit_fashion_canvas_*`` preset at its pretraining size (32 x 32) with ViTDet's
    windows (8 x 8 tokens, global attention at the module ends, the position embedding tiled),
    every block and the embeddings frozen (``frozen_stages`` = the depth, set by the leaf);
  * neck: the simple feature pyramid of the Mask R-CNN configs (strides 4-64, 32 channels);
  * head: RetinaHead with 2 stacked 32-channel convs (mmdet's 4 x 256 are for COCO), ten
    classes; anchors 8-128 px (octave base scale 2 on strides 4-64, three scales an octave) for
    12-32 px items; mmdet's assigner, focal loss and test settings;
  * schedule: mmdet's 1x, 12 epochs (1,500 iterations), lr x0.1 after epochs 8 and 11, a
    50-iteration warm-up; evaluated every 2 epochs (box AP only: RetinaNet has no masks).
"""
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    './datasets/fashion-scenes_instance-64.py',
    './schedules/schedule_1x.py',
    './default_runtime.py',
]

image_size = (64, 64)
channels = 32
num_classes = 10
max_epochs = 12
val_interval = 2
warmup_iters = 50

model = dict(
    # the upstream Fashion-MNIST recipe's normalisation (timm mean = std = 0.5), not ImageNet's
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True, pad_size_divisor=image_size[0]),
    backbone=dict(
        _delete_=True,
        type='IncubationViTBackbone',
        arch='vit_fashion_canvas_depth8',
        img_size=32,
        window_size=8,
        pos_embed='tile',
        drop_path_rate=0.0,
        init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-fashion-canvas-d8_incubation.pth')),
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        in_channels=None,   # the ViT's width and the scales for strides 4-32 follow the backbone
        out_channels=channels,
        scale_factors=None,
        in_index=-1,
        num_outs=5,
        norm_cfg=dict(type='LN2d', eps=1e-6, requires_grad=True)),
    bbox_head=dict(num_classes=num_classes, in_channels=channels, stacked_convs=2, feat_channels=channels,
                   anchor_generator=dict(octave_base_scale=2, strides=[4, 8, 16, 32, 64])))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=1.0))  # the backbone is frozen: nothing to decay

train_cfg = dict(max_epochs=max_epochs, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[8, 11], gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=val_interval, max_keep_ckpts=1))
val_evaluator = dict(type='SceneCocoMetric', metric=['bbox'])
test_evaluator = val_evaluator

env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
