"""COCO 2017 instance segmentation with large-scale jitter (LSJ) at 1024 x 1024.

mmdet's COCO instance base (``mmdet::_base_/datasets/coco_instance.py``: ``data/coco/`` with
``annotations/instances_{train,val}2017.json``, ``train2017/``, ``val2017/``, 2 images per GPU,
CocoMetric for bbox and segm) with ViTDet's LSJ augmentation (Li et al., ECCV 2022, Sec. 4 /
App. A.2, as in mmdetection's ``projects/ViTDet/configs/lsj-100e_coco-instance.py``):
  * train: resize to 1024 x [0.1, 2.0] keeping the aspect ratio, random 1024 x 1024 crop,
    horizontal flip, instead of mmdet's fixed 1333 x 800 resize;
  * test: resized to a longest side of 1024;
  * no ``AspectRatioBatchSampler``: every LSJ crop is the same square, so grouping images by
    their original aspect ratio would only change which images share a batch; 4 loader workers.

The model's data preprocessor pads every batch, training and test, to the 1024 x 1024 square
(``pad_size_divisor=1024`` in the model bases): a plain ViT with an absolute position
embedding must see the same token grid at test time as in training (ViTDet's
``square_pad=1024``). Not a ``Pad`` transform in the test pipeline (as in mmdet's ViTDet
project): it sets ``img_shape`` to the padded size, so predicted boxes would be clipped to the
padding instead of the image. Batch: 2 images x 8 GPUs = 16 (the 1x / 3x convention).
"""
_base_ = ['mmdet::_base_/datasets/coco_instance.py']

image_size = (1024, 1024)
backend_args = None  # as mmdet's base: files on the local disk

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

train_dataloader = dict(num_workers=4, batch_sampler=None, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
