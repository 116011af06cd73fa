"""UperNet, ViT-L/16 initialised from the incubation-trained (meta model -> K incubated modules -> assembly -> fine-tune) ImageNet-1k model, ADE20K 80k.

Recipe (mmsegmentation's ViT-UperNet ADE20K recipe with BEiT / MAE layer decay; the sources are
in the ``_base_`` files): 512 x 512 (32 x 32 patches), UperNet + multi-level neck + auxiliary
FCN head, SyncBN in the heads; AdamW lr 6e-5, weight decay 0.01, layer decay 0.8, drop path 0.2;
fp16 AMP; 80k iterations at batch 16 (2 x 8 GPUs), 1500-iteration linear warm-up, then poly
decay; sliding-window test, and multi-scale (0.5-1.75) + flip with ``tools/test.py --tta`` (the
paper's mIoU-ms).

This config and ``upernet_vit-l_e2e_80k_ade20k-512x512.py`` differ only in
``model.backbone.init_cfg.checkpoint`` (and the ``benchmark`` label). The checkpoint is any
whole-network ViT checkpoint ``backbones`` reads (exported, assembled, timm, or an mmengine
classifier checkpoint); override it with ``--cfg-options
model.backbone.init_cfg.checkpoint=PATH``.

Layer-wise lr decay 0.8 instead of ViT-B's 0.65: the lr factor of the patch embedding,
``rate ** (depth + 1)``, is then about what ViT-B gets (0.8 ** 25 = 0.65 ** 13 = 0.004); with
0.65 the first half of a 24-block network would be frozen in practice (mmseg's BEiT configs
likewise raise the rate with depth: 0.9 for B, 0.95 for L).

Paper reference (its ADE20K table): mAcc 60.8, mIoU 49.2, mIoU-ms 50.0 (pre-training 0.89K
GPU-hours).
"""
_base_ = [
    './_base_/models/upernet_vit-l_mln.py',
    './_base_/datasets/ade20k_512x512.py',
    './_base_/schedules/schedule_80k.py',
    './_base_/default_runtime.py',
]

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='pretrained/vit-l_incubation_in1k.pth')))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))

benchmark = dict(task='ade20k', model='ViT-L', method='incubation', schedule='80k')
