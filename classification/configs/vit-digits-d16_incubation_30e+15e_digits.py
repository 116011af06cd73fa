"""Deep Incubation of the digits ViT (the demo): meta 60 e -> 4 x 30 e incubation -> 15 e fine-tune."""
pipeline = dict(
    meta=dict(config='vit-digits-d16_meta_60e_digits.py'),
    incubate=dict(config='vit-digits-d16_incubate_30e_digits.py'),
    finetune=dict(config='vit-digits-d16_finetune_15e_digits.py'),
    common_cfg_options=dict(),
)
benchmark = dict(task='digits', model='ViT-D16-W64', method='incubation', variant='16px', schedule='30+15')
