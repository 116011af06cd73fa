"""The digits runs: the small CPU recipe on scikit-learn's digits, evaluation every 5 epochs."""
_base_ = ['./small_cpu_recipe.py', './datasets/digits.py']
model = dict(arch='vit_digits_depth16')
train_cfg = dict(max_epochs=60, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5))
