"""Deep Incubation of the 8-block canvas-recipe Fashion-MNIST ViT: meta 40 e -> 4 x 6 e -> fine-tune
10 e, about the training FLOPs of the 40-epoch E2E run (the depth study's depth-8 rule, doubled)."""
pipeline = dict(
    meta=dict(config='vit-fashion-canvas-d8_meta_40e_fashion-canvas.py'),
    incubate=dict(config='vit-fashion-canvas-d8_incubate_6e_fashion-canvas.py'),
    finetune=dict(config='vit-fashion-canvas-d8_finetune_10e_fashion-canvas.py'),
    common_cfg_options=dict(),
)
benchmark = dict(task='fashion', model='ViT-D8-W64', variant='canvas32-5k', method='incubation', schedule='6+10')
