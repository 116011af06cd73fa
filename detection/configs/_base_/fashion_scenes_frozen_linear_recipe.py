"""A linear detection probe on a frozen backbone (the frozen protocol's detection head): what the
upstream features carry, not what a detection head can learn on top of them.

``fashion_scenes_frozen_recipe.py`` (RetinaNet, the frozen backbone, mmdet's 1x schedule, AdamW
lr 1e-3, batch 8) with every learnt layer after the backbone linear in its features:
  * backbone: the last block's token map only (``out_indices``, set by the leaf), DINOv2's
    linear protocol on the last layer;
  * neck: mmdet's ``HRFPN`` on that one map: a 1 x 1 convolution to 32 channels, average pooling
    to strides 4-64, one 3 x 3 convolution a level; no norm, no activation;
  * head: ``RetinaHead`` without stacked convolutions: its 3 x 3 classification and box
    convolutions read the pyramid directly (anchors, assigner, focal loss as the recipe's).
Why: RetinaNet's 2 x 32-channel stacked convolutions on the simple feature pyramid learn to
find and name the items from random features nearly as well as from pretrained ones (box AP
15.7 from the frozen random backbone against 17.3 / 17.0 from the pretrained ones, within the
seeds' spread; docs/studies/suite.md). A linear reader can only use what the features separate.
"""
_base_ = ['./fashion_scenes_frozen_recipe.py']

channels = 32

model = dict(
    neck=dict(_delete_=True, type='HRFPN', in_channels=[64], out_channels=channels, num_outs=5, pooling_type='AVG'),
    bbox_head=dict(stacked_convs=0))
