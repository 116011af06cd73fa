"""Fine-tuning of the assembled 32-block CIFAR ViT: 100 epochs, no warmup, clip 1.0."""
_base_ = ['./deit-t-d32_e2e_300e_cifar100.py']
model = dict(role=dict(type='assembled', module_checkpoints=None))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=100)
benchmark = dict(method='incubation', phase='finetune')
