"""ViT-H end-to-end baseline on ImageNet-1K: the DeiT recipe (drop path: DeiT's default 0.1), 300 epochs,
batch 2048. The paper reports 81.6 top-1 at 224.
"""
_base_ = ['./vit-b_e2e_300e_in1k.py']
model = dict(arch='vit_huge_patch14_224')
benchmark = dict(model='ViT-H')
