"""Mask R-CNN with a plain ViT-B/16 and a simple feature pyramid, and its optimiser (ViTDet recipe).

Source: ViTDet, Li, Mao, Girshick, He, "Exploring Plain Vision Transformer Backbones for Object
Detection" (ECCV 2022), Sec. 3-4 and App. A.2, and its mmdet port
(mmdetection ``projects/ViTDet/configs/vitdet_mask-rcnn_vit-b-mae_lsj-100e.py``):
  * backbone: the plain ViT-B/16, input 1024 x 1024 (position embedding resampled from the
    ImageNet 14 x 14 grid to 64 x 64 when the checkpoint is loaded), drop path 0.1; global
    attention in every block (ViTDet's window attention and relative positions are left out:
    the backbone is exactly the incubated ImageNet network, so E2E vs incubation compares the
    pre-training and nothing else);
  * neck: simple feature pyramid from the last block's stride-16 map to strides 4-32, plus a
    max-pooled stride 64 for the RPN, 256 channels, LayerNorm ("LN2d") after every conv;
  * heads: RPN with 2 convs, box head with 4 convs + 1 fc and LayerNorm, mask head with
    LayerNorm; everything else is mmdet's Mask R-CNN (``mask-rcnn_r50_fpn.py``);
  * optimiser: AdamW, lr 1e-4, betas (0.9, 0.999), weight decay 0.1 (none on norms, biases,
    position embedding, class token), layer-wise lr decay 0.7 for ViT-B (0.8 for ViT-L),
    fp16 AMP with dynamic loss scaling. No gradient clipping.

The optimiser lives here, not in ``schedules/``, because layer decay and drop path are set
per model size (ViTDet App. A.2). The 1024 x 1024 pad (``pad_size_divisor``) is the model's
half of the LSJ data base ``coco_instance_lsj-1024.py`` (mmengine allows a key in only one of
several bases, and the data preprocessor is part of ``model``).

The backbone returns pre-norm block outputs, as ViTDet does; it keeps the ImageNet model's
final ``vit.norm`` frozen, so every trainable parameter gets a gradient and DDP runs without
``find_unused_parameters``.
"""
norm_cfg = dict(type='LN2d', eps=1e-6, requires_grad=True)

model = dict(
    type='MaskRCNN',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        # ImageNet statistics in RGB: what the DeiT / timm training of the backbone used
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_mask=True,
        # Pads every batch, training and test, to the 1024 x 1024 square (LSJ crops and test
        # images are at most 1024 a side) with 0 after normalisation. Padding here, rather than
        # with a Pad transform, keeps `img_shape` the real image size, so boxes are clipped to
        # the image and not to the padding.
        pad_size_divisor=1024),
    backbone=dict(
        type='IncubationViTBackbone',
        arch='vit_base_patch16_224',
        img_size=1024,
        drop_path_rate=0.1,
        with_cp=False),  # init_cfg: set by the leaf configs (E2E or incubation checkpoint)
    neck=dict(
        type='SimpleFeaturePyramid',
        in_channels=768,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        in_index=-1,
        num_outs=5,
        norm_cfg=norm_cfg),
    rpn_head=dict(
        type='RPNHead',
        in_channels=256,
        feat_channels=256,
        num_convs=2,
        anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0],
                              strides=[4, 8, 16, 32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
                        target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    roi_head=dict(
        type='StandardRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=80,
            norm_cfg=norm_cfg,
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
                            target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=4,
            in_channels=256,
            conv_out_channels=256,
            num_classes=80,
            norm_cfg=norm_cfg,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1,
                         add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        rpn_proposal=dict(nms_pre=2000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                          min_bbox_size=0),
        rcnn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1,
                         add_gt_as_proposals=True),
            mask_size=28,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0),
        rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100,
                  mask_thr_binary=0.5)))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=0.7))

