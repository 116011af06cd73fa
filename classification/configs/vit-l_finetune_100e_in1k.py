"""Fine-tuning of the assembled ViT-L: 100 epochs, batch 64 x 8 x 4, no warmup, clip 1.0, drop path 0.5.
The paper reports 83.9 top-1 at 224.
"""
_base_ = ['./vit-b_finetune_100e_in1k.py']
model = dict(arch='vit_large_patch16_224', arch_overrides=dict(drop_path_rate=0.5))
benchmark = dict(model='ViT-L')
