"""E2E baseline of the 128-block width-64 Fashion-MNIST ViT (CPU size: 16x16, 5,000 training images), 20 epochs."""
_base_ = ['_base_/fashion_runtime.py']
model = dict(arch='vit_fashion_depth128')
train_cfg = dict(max_epochs=20)
benchmark = dict(task='fashion', model='ViT-D128-W64', variant='16px-5k', method='e2e')
