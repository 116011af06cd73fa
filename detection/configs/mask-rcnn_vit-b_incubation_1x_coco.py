"""Mask R-CNN, ViT-B/16 initialised from the incubation-trained ImageNet-1k model, COCO 1x.

Recipe (ViTDet: Li, Mao, Girshick, He, ECCV 2022, Sec. 4 and App. A.2; mmdetection
``projects/ViTDet``), with the Deep Incubation paper's 1x schedule length:
  * plain ViT-B/16 at 1024 x 1024, global attention, drop path 0.1;
    simple feature pyramid (strides 4-64), RPN 2 convs, 4conv1fc box head and mask head with LayerNorm;
  * large-scale jitter 1024, scale [0.1, 2.0], flip; test at 1024 (square-padded);
  * AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.1, layer-wise lr decay 0.7, fp16 AMP;
  * 12 epochs at batch 16 (2 x 8 GPUs), 1000-iteration linear warm-up, lr x0.1 after epochs 8 and 11.
E2E and incubation configs differ only in ``model.backbone.init_cfg.checkpoint`` (and the
``benchmark`` label); override the path with
``--cfg-options model.backbone.init_cfg.checkpoint=PATH``. The paper's numbers are in
docs/detection.md.
"""
_base_ = [
    './_base_/models/mask-rcnn_vit-b_sfp.py',
    './_base_/datasets/coco_instance_lsj-1024.py',
    './_base_/schedules/schedule_1x.py',
    './_base_/default_runtime.py',
]

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-b_incubation_in1k.pth')))

benchmark = dict(task='coco', model='ViT-B', method='incubation', schedule='1x')
