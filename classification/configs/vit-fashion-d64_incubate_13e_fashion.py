"""Incubation of one module (model.role.module_idx) of the 64-block Fashion-MNIST ViT, 13 epochs:
what the E2E run's training FLOPs leave after the meta model and the fine-tuning; evaluated at the end."""
_base_ = ['_base_/fashion_runtime.py']
model = dict(arch='vit_fashion_depth64', role=dict(type='hybrid', module_idx=0, meta_checkpoint=None))
train_cfg = dict(max_epochs=13, val_interval=13)
default_hooks = dict(checkpoint=dict(interval=13))
benchmark = dict(task='fashion', model='ViT-D64-W64', variant='16px-5k', method='incubation', phase='incubate')
