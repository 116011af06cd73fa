"""The recipe of the small CPU runs (digits, Fashion-MNIST), on top of the ImageNet one: one CPU
process, small batches and short schedules of this project's own choosing (the paper has no such
runs): AdamW lr 1e-3, weight decay 0.05, batch 64, cosine with 2 warm-up epochs, label smoothing
0.1 without Mixup/CutMix, drop path 0.1. Each data set's runtime adds its data and evaluation
interval; E2E and incubation use it alike.
"""
_base_ = ['./models/vit_classifier.py', './schedules/deit_adamw_300e.py', './default_runtime.py']
num_classes = 10
model = dict(
    arch_overrides=dict(num_classes=num_classes, drop_path_rate=0.1),
    data_preprocessor=dict(type='MixupDataPreprocessor', num_classes=num_classes, mixup=None, _delete_=True))
effective_batch_size = 64
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2, convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
