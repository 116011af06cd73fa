"""ADE20K (SceneParsing, 150 classes), 512 x 512 crops; single-scale and multi-scale + flip test.

Source: mmsegmentation ``configs/_base_/datasets/ade20k.py`` (the protocol of every UperNet
ADE20K number since PSPNet / UperNet, and of BEiT, MAE and the Deep Incubation paper):
  * train: resize to scale (2048, 512) x [0.5, 2.0], random 512 x 512 crop with at most 75 % of
    one class, horizontal flip, photometric distortion; 2 images per GPU x 8 GPUs = batch 16;
  * ``reduce_zero_label``: label 0 (``other``) becomes 255 and is ignored, 1..150 become 0..149;
  * single-scale test (``mIoU``): shorter side 512, longer side at most 2048, keeping the ratio;
  * multi-scale + flip test (the paper's ``mIoU-ms``; ``tools/test.py --tta``): the same resize
    at (2048, 512) x (0.5, 0.75, 1.0, 1.25, 1.5, 1.75), each also flipped; softmax scores are
    averaged by mmseg's ``SegTTAModel``. The ratios multiply the (2048, 512) *scale*, as in
    mmseg 0.x's ``MultiScaleFlipAug(img_ratios=...)`` that produced the published mIoU-ms
    numbers (mmseg 1.x's own ADE20K ``tta_pipeline`` multiplies the raw image size instead).

Layout expected under ``data_root`` (``data/ade/ADEChallengeData2016``, see docs/segmentation.md):
``images/{training,validation}/*.jpg`` and ``annotations/{training,validation}/*.png``.
"""
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    # annotations after the resize: the metric compares at the original size
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=(int(2048 * r), int(512 * r)), keep_ratio=True) for r in img_ratios],
            [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
             dict(type='RandomFlip', prob=1.0, direction='horizontal')],
            [dict(type='LoadAnnotations', reduce_zero_label=True)],
            [dict(type='PackSegInputs')],
        ]),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mIoU, mAcc and aAcc (the paper's table reports mAcc, mIoU and mIoU-ms)
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
