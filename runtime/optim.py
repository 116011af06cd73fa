"""Layer-wise learning-rate decay for a plain ViT backbone (detection and segmentation).

mmseg's ``LayerDecayOptimizerConstructor`` reads BEiT/ConvNeXt names (``backbone.layers.N``);
our blocks keep timm's names (``backbone.vit.blocks.N``), so the backbone itself says which
layer a parameter is in (``get_layer_id``) and this constructor only turns ids into groups.
"""
from __future__ import annotations

from typing import Any, Dict, List

import torch.nn as nn
from mmengine.dist import get_dist_info
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

NO_DECAY_NAMES = ('pos_embed', 'cls_token')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``paramwise_cfg=dict(layer_decay_rate=0.7)``: lr of layer ``l`` is scaled by
    ``rate ** (num_layers - 1 - l)``; the backbone's embedding is layer 0, block ``i`` layer
    ``i + 1``, and everything outside the backbone (neck, heads) the last layer (scale 1).
    ``head_lr_mult`` (default 1) scales the lr of everything outside the backbone once more: a
    short fine-tune of a pretrained backbone needs its newly initialised neck and heads to learn
    faster than the backbone may move (mmseg's SegFormer configs use ``lr_mult=10`` for heads).
    Norm weights, biases, the position embedding and the class token get no weight decay.
    """

    def add_params(self, params: List[Dict[str, Any]], module: nn.Module, **kwargs) -> None:
        rate = float(self.paramwise_cfg.get('layer_decay_rate', 1.0))
        head_lr_mult = float(self.paramwise_cfg.get('head_lr_mult', 1.0))
        backbone = getattr(module, 'backbone', None)
        if backbone is None or not hasattr(backbone, 'get_layer_id'):
            raise TypeError('LayerDecayOptimWrapperConstructor needs model.backbone.get_layer_id(name)')
        num_layers = backbone.num_layers
        groups: Dict[str, Dict[str, Any]] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            in_backbone = name.startswith('backbone.')
            layer_id = backbone.get_layer_id(name[len('backbone.'):]) if in_backbone else num_layers - 1
            no_decay = param.ndim == 1 or name.endswith('.bias') or name.split('.')[-1] in NO_DECAY_NAMES
            key = f'{"layer" if in_backbone else "head"}_{layer_id}_{"no_decay" if no_decay else "decay"}'
            if key not in groups:
                scale = rate ** (num_layers - 1 - layer_id) * (1.0 if in_backbone else head_lr_mult)
                groups[key] = dict(params=[], param_names=[], lr=self.base_lr * scale, lr_scale=scale,
                                   weight_decay=0.0 if no_decay else self.base_wd, group_name=key)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        rank, _ = get_dist_info()
        if rank == 0:
            MMLogger.get_current_instance().info(
                f'layer decay {rate} over {num_layers} layers, head lr x{head_lr_mult}: {len(groups)} parameter groups')
        params.extend(groups.values())
