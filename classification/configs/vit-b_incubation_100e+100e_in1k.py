"""The whole Deep Incubation recipe for ViT-B/16 on ImageNet-1K, for ``tools/incubate.py``:

    meta (300 e) -> K = 4 incubation runs (100 e each, in parallel) -> assembly -> fine-tune (100 e)

    python tools/incubate.py classification/configs/vit-b_incubation_100e+100e_in1k.py \
        --work-dir work_dirs/vit-b_incubation --data-root data/imagenet [--parallel 4]

Each phase is an ordinary run of the phase config named here (``tools/train.py`` can run any
of them by hand); ``cfg_options`` apply to that phase only, ``common_cfg_options`` to all.
"""
pipeline = dict(
    meta=dict(config='vit-b_meta_300e_in1k.py', cfg_options=dict()),
    incubate=dict(config='vit-b_incubate_100e_in1k.py', cfg_options=dict()),
    finetune=dict(config='vit-b_finetune_100e_in1k.py', cfg_options=dict()),
    common_cfg_options=dict(),
)
benchmark = dict(task='imagenet', model='ViT-B', method='incubation', variant='224', schedule='100+100')
