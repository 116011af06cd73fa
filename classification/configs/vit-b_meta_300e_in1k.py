"""Meta model of ViT-B/16 (K = 4 modules of one block each): 300 epochs, batch 256 x 8, drop path 0.

Produces ``WORK_DIR/meta.pth``, the meta checkpoint every incubation run loads.
"""
_base_ = ['_base_/models/vit_classifier.py', '_base_/datasets/imagenet_deit.py',
          '_base_/schedules/deit_adamw_300e.py', '_base_/default_runtime.py']
model = dict(arch='vit_base_patch16_224', role=dict(type='meta', meta_depth=1),
             arch_overrides=dict(drop_path_rate=0.0))
benchmark = dict(task='imagenet', model='ViT-B', method='incubation', variant='224', phase='meta')
