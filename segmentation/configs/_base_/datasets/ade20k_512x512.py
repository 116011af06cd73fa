"""ADE20K (SceneParsing, 150 classes), 512 x 512 crops; single-scale and multi-scale + flip test.

mmsegmentation's ADE20K base (``mmseg::_base_/datasets/ade20k.py``, the protocol of every
UperNet ADE20K number since PSPNet / UperNet, and of BEiT, MAE and the Deep Incubation paper),
used as it is:
  * train: resize to scale (2048, 512) x [0.5, 2.0], random 512 x 512 crop with at most 75 % of
    one class, horizontal flip, photometric distortion;
  * ``reduce_zero_label``: label 0 (``other``) becomes 255 and is ignored, 1..150 become 0..149;
  * single-scale test (``mIoU``): shorter side 512, longer side at most 2048, keeping the ratio;
  * ``IoUMetric`` (mIoU, mAcc and aAcc; the paper's table reports mAcc, mIoU and mIoU-ms).

Two changes:
  * 2 images per GPU instead of 4: x 8 GPUs = batch 16, mmseg's ViT-UperNet recipe;
  * the multi-scale + flip test (the paper's ``mIoU-ms``; ``tools/test.py --tta``) resizes at
    (2048, 512) x (0.5, 0.75, 1.0, 1.25, 1.5, 1.75), each also flipped; softmax scores are
    averaged by mmseg's ``SegTTAModel``. The ratios multiply the (2048, 512) *scale*, as in
    mmseg 0.x's ``MultiScaleFlipAug(img_ratios=...)`` that produced the published mIoU-ms
    numbers; mmseg 1.x's own ADE20K ``tta_pipeline`` multiplies the raw image size instead.

Layout expected under ``data_root`` (``data/ade/ADEChallengeData2016``, see docs/segmentation.md):
``images/{training,validation}/*.jpg`` and ``annotations/{training,validation}/*.png``.
"""
_base_ = ['mmseg::_base_/datasets/ade20k.py']

img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
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

train_dataloader = dict(batch_size=2)
