"""Deep Incubation of ViT-B/16 with every phase on the same class-balanced 50% subset of ImageNet-1K."""
_base_ = ['./vit-b_incubation_100e+100e_in1k.py']
pipeline = dict(common_cfg_options={'train_dataloader.dataset.subset.fraction': 0.50,
                                     'train_dataloader.dataset.subset.seed': 0})
benchmark = dict(variant='224-subset50')
