"""Mask R-CNN, ViT-L/16 from the E2E-trained ImageNet-1k model, COCO 1x, with ViTDet's window attention:
the baseline of ``mask-rcnn_vit-l-win_incubation_1x_coco.py``, identical except for the checkpoint."""
_base_ = ['./mask-rcnn_vit-l-win_incubation_1x_coco.py']

model = dict(backbone=dict(init_cfg=dict(checkpoint='pretrained/vit-l_e2e_in1k.pth')))

benchmark = dict(method='e2e')
