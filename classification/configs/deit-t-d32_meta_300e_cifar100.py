"""Meta model of the 32-block CIFAR ViT: 4 modules of one block, drop path 0."""
_base_ = ['./deit-t-d32_e2e_300e_cifar100.py']
model = dict(role=dict(type='meta', meta_depth=1), arch_overrides=dict(drop_path_rate=0.0))
benchmark = dict(method='incubation', phase='meta')
