"""UperNet, ViT-H/14 initialised from the end-to-end (E2E) trained ImageNet-1k model, ADE20K 80k.

The baseline of ``upernet_vit-h_incubation_80k_ade20k-512x512.py``: identical in everything
(recipe and sources in that file's docstring) except the backbone's checkpoint.

Paper reference (its ADE20K table): mAcc 58.2, mIoU 46.5, mIoU-ms 47.2 (pre-training 4.79K GPU-hours).
"""
_base_ = './upernet_vit-h_incubation_80k_ade20k-512x512.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='pretrained/vit-h_e2e_in1k.pth')))

benchmark = dict(method='e2e')
