"""Fine-tuning of the assembled 8-block canvas-recipe Fashion-MNIST ViT: 10 epochs (a quarter of
E2E's), no warm-up, gradient clipping 1.0 (the paper's step 4), evaluated every 2 epochs."""
_base_ = ['_base_/fashion_canvas_runtime.py']
model = dict(arch='vit_fashion_canvas_depth8', role=dict(type='assembled', module_checkpoints=None))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=10, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2))
benchmark = dict(task='fashion', model='ViT-D8-W64', variant='canvas32-5k', method='incubation', phase='finetune')
