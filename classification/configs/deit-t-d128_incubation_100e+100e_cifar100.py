"""Deep Incubation of the 128-block CIFAR ViT (the paper reports 77.2 top-1, vs 69.4 E2E)."""
_base_ = ['./deit-t-d32_incubation_100e+100e_cifar100.py']
pipeline = dict(
    meta=dict(config='deit-t-d128_meta_300e_cifar100.py'),
    incubate=dict(config='deit-t-d128_incubate_100e_cifar100.py'),
    finetune=dict(config='deit-t-d128_finetune_100e_cifar100.py'),
)
benchmark = dict(model='DeiT-T-D128')
