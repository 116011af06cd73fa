"""Deep narrow DeiT-Tiny-width ViT (32 blocks, width 192, patch 4) on CIFAR-100 at 32x32, E2E.

The paper reports 72.8 top-1 (E2E) vs 75.3 (incubation). The paper gives the model, not the CIFAR recipe;
this uses the DeiT recipe at batch 128 on one GPU (lr 5e-4 x 128 / 512), 300 epochs.
"""
_base_ = ['_base_/models/vit_classifier.py', '_base_/datasets/cifar100_folder.py',
          '_base_/schedules/deit_adamw_300e.py', '_base_/default_runtime.py']
num_classes = 100
model = dict(arch='deit_tiny_depth32_patch4_32', arch_overrides=dict(num_classes=num_classes, drop_path_rate=0.1),
             data_preprocessor=dict(num_classes=num_classes))
effective_batch_size = 128
optim_wrapper = dict(optimizer=dict(lr=5e-4 * 128 / 512))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20, convert_to_iter_based=True),
]
benchmark = dict(task='cifar100', model='DeiT-T-D32', method='e2e', variant='32px')
