"""Fashion-MNIST scenes (``python -m benchmarks scenes``), semantic segmentation at 64 x 64.

The ADE20K base (``ade20k_512x512.py``: the same folder layout, ``images/{training,validation}``
and ``annotations/{training,validation}``, mmseg's pipelines, ``IoUMetric`` for mIoU / mAcc /
aAcc, a multi-scale + flip ``tta_pipeline``) scaled to the scenes:
  * ``FashionScenesDataset`` (``segmentation/datasets.py``): PNG images, 11 classes with 0 =
    background a class, so ``reduce_zero_label=False`` (the data set's, which ``LoadAnnotations``
    takes when given none: mmseg warns about the argument there);
    255 (slivers of items too occluded to annotate, and padding) is ignored;
    default ``data/fashion-scenes``, what ``python -m benchmarks scenes`` writes by default;
  * train: mmseg's ADE20K augmentation at 1/8 the size: resize to a shorter side of
    64 x [0.5, 2.0], random 64 x 64 crop (at most 75 % one class), flip, photometric distortion;
  * test: the 64 x 64 scenes as they are (shorter side 64); TTA at the six ratios of that scale;
  * batch 8, validation in batches of 8, no worker processes (one CPU thread per run).
Point it at another folder with ``{train,val,test}_dataloader.dataset.data_root=DIR``.
"""
_base_ = ['./ade20k_512x512.py']

dataset_type = 'FashionScenesDataset'
data_root = 'data/fashion-scenes'
crop_size = (64, 64)
short_side = 64

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(4 * short_side, short_side), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(4 * short_side, short_side), keep_ratio=True),
    dict(type='LoadAnnotations'),
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
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ]),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type=dataset_type, data_root=data_root, reduce_zero_label=False, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type=dataset_type, data_root=data_root, reduce_zero_label=False, pipeline=test_pipeline))
test_dataloader = val_dataloader
