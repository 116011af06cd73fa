"""Fine-tuning of the assembled ViT-H: 100 epochs, batch 64 x 8 x 4, no warmup, clip 1.0, drop path 0.6.
The paper reports 84.3 top-1 at 224.
"""
_base_ = ['./vit-b_finetune_100e_in1k.py']
model = dict(arch='vit_huge_patch14_224', arch_overrides=dict(drop_path_rate=0.6))
benchmark = dict(model='ViT-H')
