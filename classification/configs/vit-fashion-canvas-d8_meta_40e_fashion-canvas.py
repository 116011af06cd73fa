"""Meta model of the 8-block canvas-recipe Fashion-MNIST ViT: 4 modules of one block, drop path 0,
40 epochs (the E2E schedule, as in the paper); evaluated once, at the end."""
_base_ = ['_base_/fashion_canvas_runtime.py']
model = dict(arch='vit_fashion_canvas_depth8', role=dict(type='meta', meta_depth=1),
             arch_overrides=dict(drop_path_rate=0.0))
train_cfg = dict(max_epochs=40, val_interval=40)
default_hooks = dict(checkpoint=dict(interval=40))
benchmark = dict(task='fashion', model='ViT-D8-W64', variant='canvas32-5k', method='incubation', phase='meta')
