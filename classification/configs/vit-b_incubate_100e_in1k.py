"""Incubation of one ViT-B/16 module inside the fixed meta model: 100 epochs, batch 128 x 8 x 2
accumulation, drop path 0.1. Choose the module and the meta checkpoint:

    python tools/train.py classification/configs/vit-b_incubate_100e_in1k.py \
        --cfg-options model.role.module_idx=0 model.role.meta_checkpoint=work_dirs/meta/meta.pth

The K runs (module_idx 0..K-1) are independent: run them at the same time on different
machines. Each writes ``WORK_DIR/module_<i>.pth`` with its metadata for assembly.
"""
_base_ = ['_base_/models/vit_classifier.py', '_base_/datasets/imagenet_deit.py',
          '_base_/schedules/deit_adamw_300e.py', '_base_/default_runtime.py']
model = dict(arch='vit_base_patch16_224', role=dict(type='hybrid', module_idx=0, meta_checkpoint=None),
             arch_overrides=dict(drop_path_rate=0.1))
train_dataloader = dict(batch_size=128)
train_cfg = dict(max_epochs=100)
benchmark = dict(task='imagenet', model='ViT-B', method='incubation', variant='224', phase='incubate')
