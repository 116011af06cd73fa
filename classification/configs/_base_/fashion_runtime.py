"""The Fashion-MNIST depth study's recipe: the digits recipe unchanged (AdamW lr 1e-3, weight
decay 0.05, batch 64, cosine with 2 warm-up epochs, label smoothing 0.1, no Mixup/CutMix, drop
path 0.1, 0 in the meta model), one CPU process, evaluation every 2 epochs. E2E and incubation
use it alike; each depth's configs set only the architecture and the epochs.
"""
_base_ = ['./models/vit_classifier.py', './datasets/fashion_mnist.py', './schedules/deit_adamw_300e.py',
          './default_runtime.py']
num_classes = 10
model = dict(
    arch='vit_fashion_depth16',
    arch_overrides=dict(num_classes=num_classes, drop_path_rate=0.1),
    data_preprocessor=dict(type='MixupDataPreprocessor', num_classes=num_classes, mixup=None, _delete_=True))
effective_batch_size = 64
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=2)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=2, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
