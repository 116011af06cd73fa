"""Meta model of the 16-block Fashion-MNIST ViT: 4 modules of one block, drop path 0, 50 epochs
(the E2E schedule, as in the paper); evaluated once, at the end."""
_base_ = ['_base_/fashion_full_runtime.py']
model = dict(arch='vit_fashion_depth16', role=dict(type='meta', meta_depth=1), arch_overrides=dict(drop_path_rate=0.0))
train_cfg = dict(max_epochs=50, val_interval=50)
default_hooks = dict(checkpoint=dict(interval=50))
benchmark = dict(task='fashion', model='ViT-D16-W64', variant='28px', method='incubation', phase='meta')
