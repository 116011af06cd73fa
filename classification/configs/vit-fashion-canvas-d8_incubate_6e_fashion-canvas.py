"""Incubation of one module (model.role.module_idx) of the 8-block canvas-recipe Fashion-MNIST ViT,
6 epochs: the depth study's depth-8 rule (3 of 20) at the 40-epoch budget; evaluated at the end."""
_base_ = ['_base_/fashion_canvas_runtime.py']
model = dict(arch='vit_fashion_canvas_depth8', role=dict(type='hybrid', module_idx=0, meta_checkpoint=None))
train_cfg = dict(max_epochs=6, val_interval=6)
default_hooks = dict(checkpoint=dict(interval=6))
benchmark = dict(task='fashion', model='ViT-D8-W64', variant='canvas32-5k', method='incubation', phase='incubate')
