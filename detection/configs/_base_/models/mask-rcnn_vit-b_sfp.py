"""Mask R-CNN with a plain ViT-B/16 and a simple feature pyramid (ViTDet recipe).

mmdet's Mask R-CNN (``mmdet::_base_/models/mask-rcnn_r50_fpn.py``) with what ViTDet (Li, Mao,
Girshick, He, "Exploring Plain Vision Transformer Backbones for Object Detection", ECCV 2022,
Sec. 3-4 and App. A.2; mmdetection ``projects/ViTDet``) changes in it:
  * backbone: the plain ViT-B/16 instead of the ResNet-50, input 1024 x 1024 (position
    embedding resampled from the ImageNet 14 x 14 grid to 64 x 64 when the checkpoint is
    loaded), drop path 0.1; global attention in every block (ViTDet's window attention and
    relative positions are left out: the backbone is exactly the incubated ImageNet network,
    so E2E vs incubation compares the pre-training and nothing else);
  * neck: simple feature pyramid instead of the FPN, from the last block's stride-16 map to
    strides 4-32, plus a max-pooled stride 64 for the RPN, 256 channels, LayerNorm ("LN2d")
    after every conv; its input channels and scale factors are derived from the backbone when
    the config is built (``backbones/pyramid.py``), so another backbone needs no neck edits;
  * heads: RPN with 2 convs instead of 1; box head with 4 shared convs + 1 fc and LayerNorm
    instead of 2 fc; mask head with LayerNorm. Anchors, RoI extractors, losses, assigners,
    samplers and test settings stay mmdet's;
  * data preprocessor: every batch, training and test, padded to the 1024 x 1024 square
    (``pad_size_divisor=1024``; LSJ crops and test images are at most 1024 a side) with 0
    after normalisation. Padding here, rather than with a Pad transform, keeps ``img_shape``
    the real image size, so boxes are clipped to the image and not to the padding. It is the
    model's half of the LSJ data base ``coco_instance_lsj-1024.py``.

The optimiser (AdamW + layer decay, AMP) is in ``schedules/schedule_1x.py``, as mmdet keeps it;
the ViT-L configs change its layer decay. The backbone returns pre-norm block outputs, as
ViTDet does; it keeps the ImageNet model's final ``vit.norm`` frozen, so every trainable
parameter gets a gradient and DDP runs without ``find_unused_parameters``.
"""
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']

norm_cfg = dict(type='LN2d', eps=1e-6, requires_grad=True)

model = dict(
    # mmdet's mean / std are the ImageNet statistics in RGB that the backbone was trained with
    data_preprocessor=dict(pad_size_divisor=1024),
    backbone=dict(
        _delete_=True,
        type='IncubationViTBackbone',
        arch='vit_base_patch16_224',
        img_size=1024,
        drop_path_rate=0.1,
        with_cp=False),  # init_cfg: set by the leaf configs (E2E or incubation checkpoint)
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        # in_channels and scale_factors follow the backbone (backbones/pyramid.py): the ViT's width
        # and patch / stride for the anchor strides 4-32, here 768 and (4, 2, 1, 0.5)
        in_channels=None,
        out_channels=256,
        scale_factors=None,
        in_index=-1,
        num_outs=5,
        norm_cfg=norm_cfg),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
