"""The digits runs: the small CPU recipe on scikit-learn's digits, evaluation every 5 epochs."""
_base_ = ['./small_cpu_recipe.py', './datasets/digits.py']
# the digits transforms give uint8 images (use_prefetcher): normalised here, per batch, to [-1, 1]
model = dict(arch='vit_digits_depth16', data_preprocessor=dict(mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5)))
train_cfg = dict(max_epochs=60, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5))
