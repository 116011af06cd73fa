"""80k iterations at batch 16 (2 images x 8 GPUs) with the ViT-UperNet optimiser and warm-up.

mmsegmentation's 80k schedule (``mmseg::_base_/schedules/schedule_80k.py``: 80k iterations,
evaluation and checkpoint every 8k) with the optimiser and lr schedule of its ViT / BEiT / MAE
UperNet configs instead of SGD with poly decay:
  * AdamW, lr 6e-5, betas (0.9, 0.999), weight decay 0.01 (mmseg's ViT-UperNet values; none on
    norms, biases, position embedding, class token), layer-wise lr decay 0.65 (MAE / mmseg
    ``configs/mae`` for ViT-B: lr x 0.65 per block towards the input; the ViT-L and ViT-H
    configs raise it), fp16 AMP with dynamic loss scaling (``dtype='bfloat16'`` works too on
    Ampere and newer);
  * ``LinearLR`` from 1e-6 x lr over 1500 iterations, then ``PolyLR`` (power 1.0) to 0;
  * checkpoints keep only the last two and the best mIoU: a ViT-H checkpoint with its
    optimiser state is about 8 GB;
  * ``auto_scale_lr`` (``tools/train.py --auto-scale-lr``) rescales the lr linearly from the
    total batch of 16.
"""
_base_ = ['mmseg::_base_/schedules/schedule_80k.py']

optimizer = None  # mmseg's base names its SGD here for its optim_wrapper; nothing else reads it
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(layer_decay_rate=0.65))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=1500, end=80000),
]

default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook', max_keep_ckpts=2, save_best='mIoU',
                                     rule='greater'))

auto_scale_lr = dict(enable=False, base_batch_size=16)
