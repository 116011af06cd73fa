"""Incubation of one module (model.role.module_idx) of the 128-block Fashion-MNIST ViT, 14 epochs:
what the E2E run's training FLOPs leave after the meta model and the fine-tuning; evaluated at the end."""
_base_ = ['_base_/fashion_runtime.py']
model = dict(arch='vit_fashion_depth128', role=dict(type='hybrid', module_idx=0, meta_checkpoint=None))
train_cfg = dict(max_epochs=14, val_interval=14)
default_hooks = dict(checkpoint=dict(interval=14))
benchmark = dict(task='fashion', model='ViT-D128-W64', variant='16px-5k', method='incubation', phase='incubate')
