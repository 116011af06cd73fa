"""CIFAR-100 at 32x32 in the ImageNet folder layout (data/cifar100/{train,val}/<class>/*.png).

The paper's small-scale study (its CIFAR-100 table). Augmentation for 32-pixel images:
random-resized crop (scale 0.6-1), flip, RandAugment and random erasing as in DeiT, Mixup/CutMix
from the model config; evaluation without resizing.
"""
data_root = 'data/cifar100'
img_size = 32
norm = dict(mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762))
train_transform = dict(input_size=img_size, is_training=True, scale=(0.6, 1.0), auto_augment='rand-m9-mstd0.5-inc1',
                       color_jitter=0.4, interpolation='bicubic', re_prob=0.25, re_mode='pixel', re_count=1, **norm)
val_transform = dict(input_size=img_size, is_training=False, interpolation='bicubic', crop_pct=1.0, **norm)
train_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=True, pin_memory=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', data_root=data_root, split='train', transform=train_transform))
val_dataloader = dict(
    batch_size=256, num_workers=8, persistent_workers=True, pin_memory=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', data_root=data_root, split='val', transform=val_transform))
val_evaluator = dict(type='TopKAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
