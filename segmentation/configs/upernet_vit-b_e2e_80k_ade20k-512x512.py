"""UperNet, ViT-B/16 initialised from the end-to-end (E2E) trained ImageNet-1k model, ADE20K 80k.

The baseline of ``upernet_vit-b_incubation_80k_ade20k-512x512.py``: identical in everything
(recipe and sources in that file's docstring) except the backbone's checkpoint.

Paper reference: none (the paper reports ADE20K for ViT-L and ViT-H only).
"""
_base_ = './upernet_vit-b_incubation_80k_ade20k-512x512.py'

model = dict(backbone=dict(init_cfg=dict(checkpoint='pretrained/vit-b_e2e_in1k.pth')))

benchmark = dict(method='e2e')
