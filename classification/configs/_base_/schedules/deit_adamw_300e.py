"""DeiT optimisation: AdamW, lr 5e-4 x batch / 512 at an effective batch of 2048, weight decay
0.05 (none on norms, biases, position embedding and class token), 20 warmup epochs from 1e-6,
cosine to 1e-5. On CUDA the AdamW update is torch's fused kernel. The cosine's end follows ``train_cfg.max_epochs`` (mmengine's default), so
``--cfg-options train_cfg.max_epochs=N`` keeps the schedule consistent.
"""
effective_batch_size = 2048
base_lr = 5e-4 * effective_batch_size / 512
warmup_epochs = 20
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='FastOptimWrapperConstructor',  # fused AdamW on CUDA; the default elsewhere
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05, betas=(0.9, 0.999), eps=1e-8),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'.pos_embed': dict(decay_mult=0.0), '.cls_token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / base_lr, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=warmup_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
