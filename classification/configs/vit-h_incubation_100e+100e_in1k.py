"""The whole Deep Incubation recipe for ViT-H on ImageNet-1K (meta 300 e, 4 x 100 e incubation, 100 e
fine-tune), for tools/incubate.py; see vit-b_incubation_100e+100e_in1k.py.
"""
_base_ = ['./vit-b_incubation_100e+100e_in1k.py']
pipeline = dict(
    meta=dict(config='vit-h_meta_300e_in1k.py'),
    incubate=dict(config='vit-h_incubate_100e_in1k.py'),
    finetune=dict(config='vit-h_finetune_100e_in1k.py'),
)
benchmark = dict(model='ViT-H')
