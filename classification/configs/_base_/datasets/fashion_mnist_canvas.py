"""Fashion-MNIST items on a 32x32 canvas: the scale and place of the items in the Fashion-MNIST scenes.

Every item is resized to a uniform side of 12-32 px (the scenes' range) and pasted at a uniform
place on a black 32x32 canvas (``FashionMNISTDataset(canvas=...)``, the scenes' own placement
code), then flipped at random. Training draws a new scale and place at every read; validation
fixes them per image (seed 0), so every evaluation sees the same 2,000 canvases. The same 5,000 /
2,000 class-balanced subsets as the 16x16 recipe, so the scenes' items stay unseen.

Why: items centred at 16x16 teach features that do not reach the scenes (a frozen linear probe
of such a backbone on scene tokens equals a random one's); ImageNet pretraining sees objects at
every scale and place, and so does this recipe. Not CutMix: on a mostly black canvas, CutMix's
label weights (the box's area) say nothing about how much of each item the box holds.
"""
_base_ = ['./fashion_mnist.py']

img_size = 32
canvas_size = 32
norm = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
# the canvas does the scale and place; the crop is the identity (scale and ratio 1)
train_transform = dict(input_size=img_size, is_training=True, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.5,
                       color_jitter=None, auto_augment=None, interpolation='bicubic', re_prob=0.0, **norm)
val_transform = dict(input_size=img_size, is_training=False, interpolation='bicubic', crop_pct=1.0, **norm)

train_dataloader = dict(dataset=dict(transform=train_transform, canvas=dict(size=canvas_size, random=True)))
val_dataloader = dict(dataset=dict(transform=val_transform, canvas=dict(size=canvas_size, random=False, seed=0)))
test_dataloader = val_dataloader
