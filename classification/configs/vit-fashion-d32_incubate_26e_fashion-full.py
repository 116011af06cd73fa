"""Incubation of one module (model.role.module_idx) of the 32-block Fashion-MNIST ViT, 26 epochs:
what the E2E run's training FLOPs leave after the meta model and the fine-tuning; evaluated at the end."""
_base_ = ['_base_/fashion_full_runtime.py']
model = dict(arch='vit_fashion_depth32', role=dict(type='hybrid', module_idx=0, meta_checkpoint=None))
train_cfg = dict(max_epochs=26, val_interval=26)
default_hooks = dict(checkpoint=dict(interval=26))
benchmark = dict(task='fashion', model='ViT-D32-W64', variant='28px', method='incubation', phase='incubate')
