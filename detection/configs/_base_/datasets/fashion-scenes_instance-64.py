"""Fashion-MNIST scenes (``python -m benchmarks scenes``), COCO instance segmentation at 64 x 64.

The LSJ COCO base (``coco_instance_lsj-1024.py``: mmdet's ``CocoDataset``, ``CocoMetric`` for
bbox and segm, LSJ-style resize + crop + flip, every batch padded to the square by the model)
scaled to the scenes:
  * data: ``DATA_ROOT/images/{training,validation}/*.png`` with
    ``DATA_ROOT/coco/instances_{training,validation}.json`` (RLE masks, the ten Fashion-MNIST
    classes as ``metainfo``); default ``data/fashion-scenes/``, what ``python -m benchmarks
    scenes`` writes by default;
  * train: resize to 64 x [0.8, 1.25] and a random 64 x 64 crop (LSJ's [0.1, 2.0] would shrink
    the 12-32 px items to a few pixels), flip; test: the 64 x 64 scenes as they are;
  * batch 8, no worker processes (one CPU thread per run), validation in batches of 8.
Point it at another folder with ``{train,val,test}_dataloader.dataset.data_root=DIR/`` and
``{val,test}_evaluator.ann_file=DIR/coco/instances_validation.json``.
"""
_base_ = ['./coco_instance_lsj-1024.py']

image_size = (64, 64)
data_root = 'data/fashion-scenes/'
metainfo = dict(classes=('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
                         'Bag', 'Ankle boot'))

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
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='coco/instances_training.json',
        data_prefix=dict(img='images/training/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='coco/instances_validation.json',
        data_prefix=dict(img='images/validation/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'coco/instances_validation.json')
test_evaluator = val_evaluator
