"""UperNet, ViT-L/16 initialised from the end-to-end (E2E) trained ImageNet-1k model, ADE20K 80k.

Recipe (mmsegmentation's ViT-UperNet ADE20K recipe with BEiT / MAE layer decay; the sources are
in the ``_base_`` files): 512 x 512 (32 x 32 patches), UperNet + multi-level neck + auxiliary
FCN head, SyncBN in the heads; AdamW lr 6e-5, weight decay 0.01, layer decay 0.8, drop path 0.2;
fp16 AMP; 80k iterations at batch 16 (2 x 8 GPUs), 1500-iteration linear warm-up, then poly
decay; sliding-window test, and multi-scale (0.5-1.75) + flip with ``tools/test.py --tta`` (the
paper's mIoU-ms).

This config and ``upernet_vit-l_incubation_80k_ade20k-512x512.py`` differ only in
``model.backbone.init_cfg.checkpoint`` (and the ``benchmark`` label). The checkpoint is any
whole-network ViT checkpoint ``backbones`` reads (exported, assembled, timm, or an mmengine
classifier checkpoint); override it with ``--cfg-options
model.backbone.init_cfg.checkpoint=PATH``.

Paper reference (PAPER.md, "Downstream"): mAcc 58.5, mIoU 47.0, mIoU-ms 47.8 (pre-training 1.09K
GPU-hours).
"""
_base_ = [
    './_base_/models/upernet_vit-l_mln.py',
    './_base_/datasets/ade20k_512x512.py',
    './_base_/schedules/schedule_80k.py',
    './_base_/default_runtime.py',
]

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-l_e2e_in1k.pth')))

benchmark = dict(task='ade20k', model='ViT-L', method='e2e', schedule='80k')
