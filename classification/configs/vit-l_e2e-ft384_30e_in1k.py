"""High-resolution (384) fine-tuning of the E2E-trained ViT-L/16: the same recipe as the
incubation twin, from ``model.init_checkpoint=E2E_WORK_DIR/model.pth``. The paper reports 83.3 top-1.
"""
_base_ = ['./vit-l_incubation-ft384_30e_in1k.py']
benchmark = dict(method='e2e')
