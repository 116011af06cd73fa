"""Meta model of the digits ViT: 4 modules of one block, drop path 0."""
_base_ = ['_base_/digits_runtime.py']
model = dict(role=dict(type='meta', meta_depth=1), arch_overrides=dict(drop_path_rate=0.0))
benchmark = dict(task='digits', model='ViT-D16-W64', method='incubation', variant='16px', phase='meta')
