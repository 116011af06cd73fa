"""E2E baseline of the 32-block width-64 Fashion-MNIST ViT (GPU size: 28x28, all 60,000 training images), 50 epochs."""
_base_ = ['_base_/fashion_full_runtime.py']
model = dict(arch='vit_fashion_depth32')
train_cfg = dict(max_epochs=50)
benchmark = dict(task='fashion', model='ViT-D32-W64', variant='28px', method='e2e')
