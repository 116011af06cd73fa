"""The Fashion-MNIST depth study at full size, for a GPU: all 60,000 training and 10,000 test
images at their native 28x28 (patch 4: 49 tokens), the same recipe as the CPU size
(``fashion_runtime.py``: batch 64, lr 1e-3, ...), loader workers, evaluation every 5 epochs.
"""
_base_ = ['./fashion_runtime.py']
img_size = 28
model = dict(arch_overrides=dict(img_size=img_size))
train_dataloader = dict(num_workers=4, persistent_workers=True, pin_memory=True,
                        dataset=dict(subset=None, transform=dict(input_size=img_size)))
val_dataloader = dict(num_workers=4, persistent_workers=True, pin_memory=True,
                      dataset=dict(subset=None, transform=dict(input_size=img_size)))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=50, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5))
env_cfg = dict(cudnn_benchmark=True, dist_cfg=dict(backend='nccl'))
