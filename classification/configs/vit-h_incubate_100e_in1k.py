"""Incubation of one ViT-H module in the fixed meta model: 100 epochs, batch 128 x 8 x 2, drop path 0.1.
Set model.role.module_idx and model.role.meta_checkpoint (see vit-b_incubate_100e_in1k.py).
"""
_base_ = ['./vit-b_incubate_100e_in1k.py']
model = dict(arch='vit_huge_patch14_224')
benchmark = dict(model='ViT-H')
