"""scikit-learn digits in the ImageNet layout (``classification.digits.write_digits``), 16x16.

Same data set class and timm transforms as ImageNet, with augmentation sized for 16-pixel
digits: a mild random-resized crop (scale 0.75-1), no flips (digits are not symmetric), no
RandAugment / random erasing. Plain shuffling instead of repeated augmentation.

Data loading is most of what a step of these tiny models waits for, so the 1,797 images are
decoded once and held in memory (``in_memory``), and the transforms stop at uint8 arrays
(timm's ``use_prefetcher``): the batch is converted and normalised at once by the model's data
preprocessor (``mean``/``std`` in ``digits_runtime.py``). 64 images a batch, one CPU thread:
9 ms instead of 34 ms from the PNG files.
"""
data_root = 'data/digits'
img_size = 16
train_transform = dict(input_size=img_size, is_training=True, scale=(0.75, 1.0), ratio=(0.9, 1.1), hflip=0.0,
                       color_jitter=None, auto_augment=None, interpolation='bicubic', re_prob=0.0,
                       use_prefetcher=True)
val_transform = dict(input_size=img_size, is_training=False, interpolation='bicubic', crop_pct=1.0,
                     use_prefetcher=True)

train_dataloader = dict(
    batch_size=64, num_workers=0, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', data_root=data_root, split='train', transform=train_transform,
                 in_memory=True))
val_dataloader = dict(
    batch_size=180, num_workers=0, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', data_root=data_root, split='val', transform=val_transform,
                 in_memory=True))
val_evaluator = dict(type='TopKAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
