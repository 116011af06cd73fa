"""High-resolution (392) fine-tuning of a finished ViT-H (see vit-b_incubation-ft384_30e_in1k.py for the recipe)."""
_base_ = ['./vit-b_incubation-ft384_30e_in1k.py']
img_size = 392
model = dict(arch='vit_huge_patch14_392', arch_overrides=dict(drop_path_rate=0.6))
train_dataloader = dict(dataset=dict(transform=dict(input_size=img_size)))
val_dataloader = dict(dataset=dict(transform=dict(input_size=img_size)))
test_dataloader = val_dataloader
benchmark = dict(model='ViT-H', variant='392')
