"""The classifier around the incubation ViT, with DeiT's Mixup 0.8 / CutMix 1.0 and label smoothing 0.1."""
num_classes = 1000
model = dict(
    type='IncubationClassifier',
    arch='vit_base_patch16_224',
    role=dict(type='target'),
    arch_overrides=dict(num_classes=num_classes, drop_path_rate=0.1),
    label_smoothing=0.1,
    data_preprocessor=dict(
        type='MixupDataPreprocessor', num_classes=num_classes,
        mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode='batch',
                   label_smoothing=0.1)))
