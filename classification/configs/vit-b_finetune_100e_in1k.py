"""Fine-tuning of the assembled ViT-B/16: 100 epochs, batch 64 x 8 x 4 accumulation, no warmup,
gradient clipping 1.0, drop path 0.1. Give the K module checkpoints:

    --cfg-options "model.role.module_checkpoints=[m0.pth,m1.pth,m2.pth,m3.pth]"

Writes ``WORK_DIR/model.pth`` and ``model.safetensors`` (timm format). The paper reports 82.4 top-1.
"""
_base_ = ['_base_/models/vit_classifier.py', '_base_/datasets/imagenet_deit.py',
          '_base_/schedules/deit_adamw_300e.py', '_base_/default_runtime.py']
model = dict(arch='vit_base_patch16_224', role=dict(type='assembled', module_checkpoints=None),
             arch_overrides=dict(drop_path_rate=0.1))
train_dataloader = dict(batch_size=64)
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=100)
benchmark = dict(task='imagenet', model='ViT-B', method='incubation', variant='224', phase='finetune')
