"""Deep Incubation of the 128-block Fashion-MNIST ViT (CPU size: 16x16, 5,000 training images): meta 20 e -> 4 x 14 e -> fine-tune 5 e,
about the training FLOPs of the 20-epoch E2E run."""
pipeline = dict(
    meta=dict(config='vit-fashion-d128_meta_20e_fashion.py'),
    incubate=dict(config='vit-fashion-d128_incubate_14e_fashion.py'),
    finetune=dict(config='vit-fashion-d128_finetune_5e_fashion.py'),
    common_cfg_options=dict(),
)
benchmark = dict(task='fashion', model='ViT-D128-W64', variant='16px-5k', method='incubation', schedule='14+5')
