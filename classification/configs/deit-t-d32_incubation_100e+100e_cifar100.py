"""Deep Incubation of the 32-block CIFAR ViT (meta 300 e, 4 x 100 e, fine-tune 100 e)."""
pipeline = dict(
    meta=dict(config='deit-t-d32_meta_300e_cifar100.py'),
    incubate=dict(config='deit-t-d32_incubate_100e_cifar100.py'),
    finetune=dict(config='deit-t-d32_finetune_100e_cifar100.py'),
    common_cfg_options=dict(),
)
benchmark = dict(task='cifar100', model='DeiT-T-D32', method='incubation', variant='32px', schedule='100+100')
