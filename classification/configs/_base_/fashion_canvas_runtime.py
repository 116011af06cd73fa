"""The canvas recipe of the downstream suite's upstream runs: the depth study's recipe (AdamW lr
1e-3, weight decay 0.05, batch 64, cosine with 2 warm-up epochs, label smoothing 0.1, drop path
0.1, 0 in the meta model) on Fashion-MNIST items placed on 32x32 canvases
(``datasets/fashion_mnist_canvas.py``), with average pooling over the tokens (the
``vit_fashion_canvas_*`` presets); evaluation every 4 epochs. E2E and incubation use it alike.
"""
_base_ = ['./small_cpu_recipe.py', './datasets/fashion_mnist_canvas.py']
model = dict(arch='vit_fashion_canvas_depth8')
train_cfg = dict(max_epochs=40, val_interval=4)
default_hooks = dict(checkpoint=dict(interval=4))
