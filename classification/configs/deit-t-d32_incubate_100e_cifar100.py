"""Incubation of one module (model.role.module_idx) of the 32-block CIFAR ViT: 100 epochs."""
_base_ = ['./deit-t-d32_e2e_300e_cifar100.py']
model = dict(role=dict(type='hybrid', module_idx=0, meta_checkpoint=None))
train_cfg = dict(max_epochs=100)
benchmark = dict(method='incubation', phase='incubate')
