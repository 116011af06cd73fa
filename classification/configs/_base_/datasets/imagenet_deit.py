"""ImageNet-1K in the folder layout (data/imagenet/{train,val}/<class>/*.JPEG) with the DeiT recipe.

Training: RandomResizedCrop + flip + RandAugment rand-m9-mstd0.5-inc1 + color jitter 0.4,
bicubic, random erasing 0.25 (pixel mode), repeated augmentation (3 repeats). Evaluation:
resize + centre crop with crop ratio 0.875. All transforms are timm's ``create_transform``.
Point the data elsewhere with
``--cfg-options train_dataloader.dataset.data_root=DIR val_dataloader.dataset.data_root=DIR``
(``tools/incubate.py --data-root DIR`` does this for every phase).
"""
data_root = 'data/imagenet'
img_size = 224
train_transform = dict(input_size=img_size, is_training=True, auto_augment='rand-m9-mstd0.5-inc1',
                       color_jitter=0.4, interpolation='bicubic', re_prob=0.25, re_mode='pixel', re_count=1)
val_transform = dict(input_size=img_size, is_training=False, interpolation='bicubic', crop_pct=0.875)

train_dataloader = dict(
    batch_size=256, num_workers=10, persistent_workers=True, pin_memory=True, drop_last=True,
    sampler=dict(type='RepeatAugSampler', num_repeats=3, selected_round=256),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', data_root=data_root, split='train', transform=train_transform))
val_dataloader = dict(
    batch_size=256, num_workers=10, persistent_workers=True, pin_memory=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', data_root=data_root, split='val', transform=val_transform))
val_evaluator = dict(type='TopKAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
