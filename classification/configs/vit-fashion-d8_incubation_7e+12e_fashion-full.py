"""Deep Incubation of the 8-block Fashion-MNIST ViT (GPU size: 28x28, all 60,000 training images): meta 50 e -> 4 x 7 e -> fine-tune 12 e,
about the training FLOPs of the 50-epoch E2E run."""
pipeline = dict(
    meta=dict(config='vit-fashion-d8_meta_50e_fashion-full.py'),
    incubate=dict(config='vit-fashion-d8_incubate_7e_fashion-full.py'),
    finetune=dict(config='vit-fashion-d8_finetune_12e_fashion-full.py'),
    common_cfg_options=dict(),
)
benchmark = dict(task='fashion', model='ViT-D8-W64', variant='28px', method='incubation', schedule='7+12')
