"""Fine-tuning of the assembled 128-block Fashion-MNIST ViT: 5 epochs (a quarter of E2E's), no warm-up,
gradient clipping 1.0 (the paper's step 4), evaluated every epoch."""
_base_ = ['_base_/fashion_runtime.py']
model = dict(arch='vit_fashion_depth128', role=dict(type='assembled', module_checkpoints=None))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=5, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=1))
benchmark = dict(task='fashion', model='ViT-D128-W64', variant='16px-5k', method='incubation', phase='finetune')
