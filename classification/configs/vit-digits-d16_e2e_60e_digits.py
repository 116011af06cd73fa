"""E2E baseline of the deep narrow digits ViT (16 blocks, width 64, patch 4 on 16x16): the demo's baseline."""
_base_ = ['_base_/digits_runtime.py']
benchmark = dict(task='digits', model='ViT-D16-W64', method='e2e', variant='16px')
