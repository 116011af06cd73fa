"""E2E baseline of the 8-block width-64 Fashion-MNIST ViT on the canvas recipe (items of 12-32 px
anywhere on 32x32, 5,000 training images, average pooling), 40 epochs: the suite's upstream."""
_base_ = ['_base_/fashion_canvas_runtime.py']
model = dict(arch='vit_fashion_canvas_depth8')
train_cfg = dict(max_epochs=40)
benchmark = dict(task='fashion', model='ViT-D8-W64', variant='canvas32-5k', method='e2e')
