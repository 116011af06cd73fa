"""Incubation of one module of the digits ViT inside its meta model (model.role.module_idx)."""
_base_ = ['_base_/digits_runtime.py']
model = dict(role=dict(type='hybrid', module_idx=0, meta_checkpoint=None))
train_cfg = dict(max_epochs=30)
benchmark = dict(task='digits', model='ViT-D16-W64', method='incubation', variant='16px', phase='incubate')
