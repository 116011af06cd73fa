"""ViT-L end-to-end baseline on ImageNet-1K: the DeiT recipe (drop path: DeiT's default 0.1), 300 epochs,
batch 2048. The paper reports 81.4 top-1 at 224.
"""
_base_ = ['./vit-b_e2e_300e_in1k.py']
model = dict(arch='vit_large_patch16_224')
benchmark = dict(model='ViT-L')
