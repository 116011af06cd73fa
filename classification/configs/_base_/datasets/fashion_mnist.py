"""Fashion-MNIST (``classification.FashionMNISTDataset``, Debian's idx files), resized to 16x16.

The same timm transforms as the other data sets, sized for small grayscale clothes: a mild
random-resized crop (scale 0.75-1), horizontal flips (clothes are left-right symmetric), no
colour jitter, RandAugment or random erasing. The CPU size: a class-balanced, seeded subset
of 500 training images a class (5,000) and a seeded 200 a class of the test split (2,000);
``*_fashion-full`` configs read all 60,000 / 10,000 at 28x28.
"""
data_root = '/usr/share/datasets/fashion-mnist'
img_size = 16
norm = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
train_transform = dict(input_size=img_size, is_training=True, scale=(0.75, 1.0), ratio=(0.9, 1.1), hflip=0.5,
                       color_jitter=None, auto_augment=None, interpolation='bicubic', re_prob=0.0, **norm)
val_transform = dict(input_size=img_size, is_training=False, interpolation='bicubic', crop_pct=1.0, **norm)
train_subset = dict(per_class=500, seed=0)
val_subset = dict(per_class=200, seed=0)

train_dataloader = dict(
    batch_size=64, num_workers=0, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='FashionMNISTDataset', data_root=data_root, split='train', transform=train_transform,
                 subset=train_subset))
val_dataloader = dict(
    batch_size=250, num_workers=0, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='FashionMNISTDataset', data_root=data_root, split='test', transform=val_transform,
                 subset=val_subset))
val_evaluator = dict(type='TopKAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
