"""ViT-B/16 E2E on a class-balanced 50% subset of ImageNet-1K (seeded; data-efficiency study).
The paper reports E2E 74.7 -> incubation 78.6 top-1.
"""
_base_ = ['./vit-b_e2e_300e_in1k.py']
train_dataloader = dict(dataset=dict(subset=dict(fraction=0.50, seed=0)))
benchmark = dict(variant='224-subset50')
