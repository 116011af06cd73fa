"""High-resolution (384) fine-tuning of a finished ViT-L (see vit-b_incubation-ft384_30e_in1k.py for the recipe)."""
_base_ = ['./vit-b_incubation-ft384_30e_in1k.py']
img_size = 384
model = dict(arch='vit_large_patch16_384', arch_overrides=dict(drop_path_rate=0.5))
train_dataloader = dict(dataset=dict(transform=dict(input_size=img_size)))
val_dataloader = dict(dataset=dict(transform=dict(input_size=img_size)))
test_dataloader = val_dataloader
benchmark = dict(model='ViT-L', variant='384')
