"""The incubation ViT: division, model, incubation roles, checkpoint formats, OpenMMLab backbone."""
from .checkpoints import (
    Checkpoint,
    CheckpointError,
    convert_official,
    export_timm,
    load_checkpoint,
    save_checkpoint,
    timm_model_args,
)
from .dense import IncubationViTBackbone
from .division import Division, DivisionError
from .incubation import (
    assemble_model,
    build_hybrid_model,
    build_meta_model,
    build_model,
    freeze_all_but_module,
    load_pretrained,
    module_checkpoint,
    network_checkpoint,
    resolve_arch,
)
from .presets import PRESETS, get_preset
from .vit import IncubationViT

__all__ = [
    'Checkpoint', 'CheckpointError', 'Division', 'DivisionError', 'IncubationViT', 'IncubationViTBackbone',
    'PRESETS', 'assemble_model', 'build_hybrid_model', 'build_meta_model', 'build_model', 'convert_official',
    'export_timm', 'freeze_all_but_module', 'get_preset', 'load_checkpoint', 'load_pretrained',
    'module_checkpoint', 'network_checkpoint', 'resolve_arch', 'save_checkpoint', 'timm_model_args',
]
