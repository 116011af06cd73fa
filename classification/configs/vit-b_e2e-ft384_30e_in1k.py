"""High-resolution (384) fine-tuning of the E2E-trained ViT-B/16: the same recipe as the
incubation twin, from ``model.init_checkpoint=E2E_WORK_DIR/model.pth``. The paper reports 83.1 top-1.
"""
_base_ = ['./vit-b_incubation-ft384_30e_in1k.py']
benchmark = dict(method='e2e')
