"""ViT-B/16 end-to-end baseline on ImageNet-1K: the DeiT recipe, 300 epochs, batch 2048
(256 x 8 GPUs; accumulation fills up on fewer). The paper reports 81.8 top-1 at 224.
"""
_base_ = ['_base_/models/vit_classifier.py', '_base_/datasets/imagenet_deit.py',
          '_base_/schedules/deit_adamw_300e.py', '_base_/default_runtime.py']
model = dict(arch='vit_base_patch16_224', arch_overrides=dict(drop_path_rate=0.1))
benchmark = dict(task='imagenet', model='ViT-B', method='e2e', variant='224')
