"""High-resolution (392) fine-tuning of the E2E-trained ViT-H/14: the same recipe as the
incubation twin, from ``model.init_checkpoint=E2E_WORK_DIR/model.pth``. The paper reports 83.4 top-1.
"""
_base_ = ['./vit-h_incubation-ft392_30e_in1k.py']
benchmark = dict(method='e2e')
