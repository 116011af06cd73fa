"""The 128-block variant (the paper reports E2E 69.4 vs incubation 77.2): deit-t-d32_incubate_100e_cifar100.py at depth 128."""
_base_ = ['./deit-t-d32_incubate_100e_cifar100.py']
model = dict(arch='deit_tiny_depth128_patch4_32')
benchmark = dict(model='DeiT-T-D128')
