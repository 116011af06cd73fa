"""ViT-H incubation with the paper's shorter 50+50 schedule (50 incubation epochs per module,
50 fine-tune epochs; efficiency figure). Same meta model as 100+100.
"""
_base_ = ['./vit-h_incubation_100e+100e_in1k.py']
pipeline = dict(
    incubate=dict(cfg_options={'train_cfg.max_epochs': 50}),
    finetune=dict(cfg_options={'train_cfg.max_epochs': 50}),
)
benchmark = dict(schedule='50+50')
