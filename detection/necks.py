"""A simple feature pyramid for a plain ViT, and the registration of the channel LayerNorm it uses.

A plain ViT has one stride-``patch`` map and no hierarchy; FPN-based detectors need strides
4 to 32 (and 64 for the RPN). ViTDet (Li, Mao, Girshick, He, "Exploring Plain Vision
Transformer Backbones for Object Detection", ECCV 2022, Sec. 3 and Fig. 2c) shows that the
pyramid can be built from the *last* map alone: stride-2 deconvolutions up, max pooling down,
then a 1x1 and a 3x3 conv per level, all with a LayerNorm over channels and no lateral or
top-down connections. That is all this module does.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.model import BaseModule
from mmengine.registry import MODELS as ROOT_MODELS
from timm.layers import LayerNorm2d

from runtime.cli import UserError

ConfigDict = Dict[str, Any]


# mmdet 3.3 and mmcv 2.1 have no channel LayerNorm ('LN' is nn.LayerNorm, which normalises the
# last dimension: the width of an NCHW map). timm's LayerNorm2d normalises the channels and
# subclasses nn.LayerNorm, so mmcv's build_norm_layer names it ``ln`` and ConvModule drops the
# conv bias. Register it in the root registry: build_norm_layer looks norms up from there
# (through the default scope's child registry when there is one), so mmdet's and mmseg's heads
# both find it. The guard keeps a second registration (a newer mmdet) from failing.
if ROOT_MODELS.get('LN2d') is None:
    ROOT_MODELS.register_module(name='LN2d', module=LayerNorm2d)


def _log2_factor(factor: float) -> int:
    """The integer k with ``factor == 2 ** k``; anything else cannot come from stride-2 steps."""
    k = round(math.log2(factor)) if factor > 0 else None
    if k is None or 2.0 ** k != float(factor):
        raise ValueError(f'scale factor {factor} is not a power of two (e.g. 4, 2, 1, 0.5, 0.25)')
    return int(k)


@MMDET_MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """ViTDet's simple feature pyramid: one backbone map -> maps at several strides.

    Each output level rescales the input map by a power of two: ``k`` stride-2
    deconvolutions (channels halved each time, norm + activation between them) for a factor
    ``2**k > 1``, the map itself for 1, a ``1/factor`` max pool for a factor below 1. Then a
    1x1 conv to ``out_channels`` and a 3x3 conv, each followed by the norm (no bias, no
    activation), as in ViTDet. Levels beyond ``len(scale_factors)`` (``num_outs``) are
    stride-2 subsamplings of the last one (ViTDet's ``LastLevelMaxPool``, mmdet FPN's P6).

    ``in_channels`` and ``scale_factors`` follow the backbone: in a config whose backbone is
    :class:`~backbones.IncubationViTBackbone` they are left out (``None``) and filled in before
    the model is built (``backbones/pyramid.py``, through ``runtime.configs``): the ViT's width,
    and ``patch / stride`` for the anchor strides 4-32, e.g. ``(4, 2, 1, 0.5)`` for patch 16,
    ``(2, 1, 0.5, 0.25)`` for patch 8; given values that do not fit the backbone are refused.

    Args:
        in_channels: channels of the backbone map used (the ViT width).
        out_channels: channels of every output level.
        scale_factors: one per built level, finest first.
        in_index: which backbone output to use. :class:`~backbones.IncubationViTBackbone`
            returns one map per module; ViTDet builds the pyramid from the last one (-1).
        num_outs: number of output levels (``len(scale_factors)`` plus extra subsampled ones).
        norm_cfg: norm after every conv and between deconvolutions (ViTDet: LayerNorm).
        act_cfg: activation between deconvolutions (ViTDet: GELU).
    """

    def __init__(self, in_channels: Optional[int] = None, out_channels: int = 256,
                 scale_factors: Optional[Sequence[float]] = None, in_index: int = -1, num_outs: int = 5,
                 norm_cfg: Optional[ConfigDict] = None, act_cfg: Optional[ConfigDict] = None,
                 init_cfg: Optional[ConfigDict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if in_channels is None or scale_factors is None:
            raise UserError('model.neck: in_channels and scale_factors follow the backbone and are filled in when '
                            'the config is built (runtime.configs.prepare_model_config(cfg.model), which '
                            'tools/train.py and the CheckedRunner call); building the neck alone, give both')
        norm_cfg = dict(type='LN2d', eps=1e-6) if norm_cfg is None else norm_cfg
        act_cfg = dict(type='GELU') if act_cfg is None else act_cfg
        if num_outs < len(scale_factors):
            raise ValueError(f'num_outs={num_outs} is fewer than the {len(scale_factors)} scale factors')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = tuple(float(f) for f in scale_factors)
        self.in_index = in_index
        self.num_outs = num_outs
        self.stages = nn.ModuleList(
            self._build_stage(in_channels, out_channels, _log2_factor(f), norm_cfg, act_cfg)
            for f in self.scale_factors)

    @staticmethod
    def _build_stage(in_channels: int, out_channels: int, k: int, norm_cfg: ConfigDict,
                     act_cfg: ConfigDict) -> nn.Sequential:
        layers: List[nn.Module] = []
        channels = in_channels
        for step in range(k):  # up-sampling: halve the channels with every doubling
            if step:
                layers += [build_norm_layer(norm_cfg, channels)[1], build_activation_layer(act_cfg)]
            layers.append(nn.ConvTranspose2d(channels, channels // 2, kernel_size=2, stride=2))
            channels //= 2
        if k < 0:
            layers.append(nn.MaxPool2d(kernel_size=2 ** -k, stride=2 ** -k))
        layers += [
            ConvModule(channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None),
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None),
        ]
        return nn.Sequential(*layers)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        x = inputs[self.in_index]
        if x.shape[1] != self.in_channels:
            raise ValueError(f'backbone output {self.in_index} has {x.shape[1]} channels, '
                             f'the neck was built for in_channels={self.in_channels}')
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
