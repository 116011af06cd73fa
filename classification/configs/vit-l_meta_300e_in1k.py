"""Meta model of ViT-L (K = 4 modules of one block each): 300 epochs, batch 256 x 8, drop path 0."""
_base_ = ['./vit-b_meta_300e_in1k.py']
model = dict(arch='vit_large_patch16_224')
benchmark = dict(model='ViT-L')
