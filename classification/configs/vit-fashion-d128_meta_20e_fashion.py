"""Meta model of the 128-block Fashion-MNIST ViT: 4 modules of one block, drop path 0, 20 epochs
(the E2E schedule, as in the paper); evaluated once, at the end."""
_base_ = ['_base_/fashion_runtime.py']
model = dict(arch='vit_fashion_depth128', role=dict(type='meta', meta_depth=1), arch_overrides=dict(drop_path_rate=0.0))
train_cfg = dict(max_epochs=20, val_interval=20)
default_hooks = dict(checkpoint=dict(interval=20))
benchmark = dict(task='fashion', model='ViT-D128-W64', variant='16px-5k', method='incubation', phase='meta')
