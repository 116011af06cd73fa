"""Fine-tuning of the assembled digits ViT: no warmup, gradient clipping 1.0 (the paper's step 4)."""
_base_ = ['_base_/digits_runtime.py']
model = dict(role=dict(type='assembled', module_checkpoints=None))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=15)
benchmark = dict(task='digits', model='ViT-D16-W64', method='incubation', variant='16px', phase='finetune')
