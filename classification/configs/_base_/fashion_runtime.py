"""The Fashion-MNIST depth study's recipe: the digits recipe unchanged (AdamW lr 1e-3, weight
decay 0.05, batch 64, cosine with 2 warm-up epochs, label smoothing 0.1, no Mixup/CutMix, drop
path 0.1, 0 in the meta model), one CPU process, evaluation every 2 epochs. E2E and incubation
use it alike; each depth's configs set only the architecture and the epochs.
"""
_base_ = ['./small_cpu_recipe.py', './datasets/fashion_mnist.py']
model = dict(arch='vit_fashion_depth16')
train_cfg = dict(max_epochs=30, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2))
