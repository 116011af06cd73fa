"""ViT-H incubation with the paper's shorter 25+25 schedule (25 incubation epochs per module,
25 fine-tune epochs; efficiency figure). Same meta model as 100+100.
"""
_base_ = ['./vit-h_incubation_100e+100e_in1k.py']
pipeline = dict(
    incubate=dict(cfg_options={'train_cfg.max_epochs': 25}),
    finetune=dict(cfg_options={'train_cfg.max_epochs': 25}),
)
benchmark = dict(schedule='25+25')
