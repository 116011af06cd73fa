"""COCO 2017 instance segmentation with large-scale jitter (LSJ) at 1024 x 1024.

Recipe: ViTDet (Li et al., ECCV 2022, Sec. 4 / App. A.2), as in mmdetection's
``projects/ViTDet/configs/lsj-100e_coco-instance.py``: resize to 1024 x [0.1, 2.0] keeping the
aspect ratio, random 1024 x 1024 crop, horizontal flip. The test image is resized to a longest
side of 1024. The model's data preprocessor pads every batch, training and test, to the
1024 x 1024 square (``pad_size_divisor=1024`` in the model bases): a plain ViT with an absolute
position embedding must see the same token grid at test time as in training (ViTDet's
``square_pad=1024``). Not a ``Pad`` transform in the test pipeline (as in mmdet's ViTDet
project): it sets ``img_shape`` to the padded size, so predicted boxes would be clipped to the
padding instead of the image.

Batch: 2 images x 8 GPUs = 16 (the 1x / 3x convention; see the schedules). Layout expected
under ``data/coco/`` (``docs/detection.md``): ``annotations/instances_{train,val}2017.json``,
``train2017/``, ``val2017/``.
"""
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
image_size = (1024, 1024)
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size, recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    # ground truth is not needed with an ann_file in the evaluator; kept for `--show` and mmdet tools
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric=['bbox', 'segm'],
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
