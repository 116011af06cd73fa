"""Named architectures: the paper's ViTs, the deep narrow CIFAR-style models, and tiny test sizes.

A preset is the keyword arguments of :class:`~backbones.vit.IncubationViT` plus the name of
the timm model with the same layout (used when exporting to timm). Depths are always given
per module (K = 4 as in the paper); override ``depths`` for other divisions.
"""
from __future__ import annotations

import copy
import difflib
from typing import Any, Dict

from runtime.errors import UserError

from .division import DivisionError


class UnknownArchError(UserError):
    """An architecture name that is no preset."""

PRESETS: Dict[str, Dict[str, Any]] = {
    # The paper's target ViT-B/L/H at their pre-training and fine-tuning sizes; K = 4, D/4 blocks per module.
    'vit_base_patch16_224': dict(depths=(3, 3, 3, 3), img_size=224, patch_size=16, embed_dim=768, num_heads=12),
    'vit_base_patch16_384': dict(depths=(3, 3, 3, 3), img_size=384, patch_size=16, embed_dim=768, num_heads=12),
    'vit_large_patch16_224': dict(depths=(6, 6, 6, 6), img_size=224, patch_size=16, embed_dim=1024, num_heads=16),
    'vit_large_patch16_384': dict(depths=(6, 6, 6, 6), img_size=384, patch_size=16, embed_dim=1024, num_heads=16),
    'vit_huge_patch14_224': dict(depths=(8, 8, 8, 8), img_size=224, patch_size=14, embed_dim=1280, num_heads=16),
    'vit_huge_patch14_392': dict(depths=(8, 8, 8, 8), img_size=392, patch_size=14, embed_dim=1280, num_heads=16),
    # Deep narrow DeiT-Tiny-width models for 32x32 inputs (the paper's CIFAR-100 table).
    'deit_tiny_depth32_patch4_32': dict(depths=(8, 8, 8, 8), img_size=32, patch_size=4, embed_dim=192,
                                        num_heads=3, num_classes=100),
    'deit_tiny_depth128_patch4_32': dict(depths=(32, 32, 32, 32), img_size=32, patch_size=4, embed_dim=192,
                                         num_heads=3, num_classes=100),
    # Tiny sizes for tests and the CPU demo.
    'vit_tiny_test': dict(depths=(2, 2, 2, 2), img_size=32, patch_size=8, embed_dim=32, num_heads=2,
                          num_classes=10),
    'vit_digits_depth16': dict(depths=(4, 4, 4, 4), img_size=16, patch_size=4, embed_dim=64, num_heads=4,
                               num_classes=10),
    # The Fashion-MNIST depth study: one narrow width (64, 4 heads), 16x16 inputs, patch 4 (16 tokens).
    'vit_fashion_depth8': dict(depths=(2, 2, 2, 2), img_size=16, patch_size=4, embed_dim=64, num_heads=4,
                               num_classes=10),
    'vit_fashion_depth16': dict(depths=(4, 4, 4, 4), img_size=16, patch_size=4, embed_dim=64, num_heads=4,
                                num_classes=10),
    'vit_fashion_depth32': dict(depths=(8, 8, 8, 8), img_size=16, patch_size=4, embed_dim=64, num_heads=4,
                                num_classes=10),
    'vit_fashion_depth64': dict(depths=(16, 16, 16, 16), img_size=16, patch_size=4, embed_dim=64, num_heads=4,
                                num_classes=10),
    'vit_fashion_depth128': dict(depths=(32, 32, 32, 32), img_size=16, patch_size=4, embed_dim=64, num_heads=4,
                                 num_classes=10),
    # The canvas recipe (items of 12-32 px anywhere on a 32x32 canvas, as in the scenes): 8x8 tokens,
    # average pooling over them (the class token is kept, so checkpoints have the usual layout).
    'vit_fashion_canvas_depth8': dict(depths=(2, 2, 2, 2), img_size=32, patch_size=4, embed_dim=64, num_heads=4,
                                      num_classes=10, global_pool='avg'),
    'vit_fashion_canvas_depth16': dict(depths=(4, 4, 4, 4), img_size=32, patch_size=4, embed_dim=64, num_heads=4,
                                       num_classes=10, global_pool='avg'),
}

# timm model whose layout (class token, qkv bias, LayerNorm eps 1e-6, GELU MLP) we share. timm's
# vit_* constructors accept keyword overrides, so any preset exports through one of these.
TIMM_BASE_NAME = 'vit_base_patch16_224'
TIMM_NAMES = {
    'vit_base_patch16_224': 'vit_base_patch16_224',
    'vit_base_patch16_384': 'vit_base_patch16_384',
    'vit_large_patch16_224': 'vit_large_patch16_224',
    'vit_large_patch16_384': 'vit_large_patch16_384',
    'vit_huge_patch14_224': 'vit_huge_patch14_224',
}


def get_preset(name: str, **overrides: Any) -> Dict[str, Any]:
    """The constructor arguments of a preset.

    Args:
        name: a key of :data:`PRESETS`.
        **overrides: constructor arguments replacing the preset's; per-module ``depths`` must
            add up to the preset's depth.

    Returns:
        A fresh dict of :class:`~backbones.vit.IncubationViT` keyword arguments, ``depths`` a tuple.
    """
    if name not in PRESETS:
        close = difflib.get_close_matches(str(name), PRESETS, n=1)
        hint = f'did you mean {close[0]!r}? ' if close else ''
        raise UnknownArchError(f'unknown architecture {name!r}; {hint}(known: {", ".join(sorted(PRESETS))})')
    kwargs = copy.deepcopy(PRESETS[name])
    depth = sum(kwargs['depths'])
    if 'depths' in overrides and sum(overrides['depths']) != depth:
        raise DivisionError(f'the division {tuple(overrides["depths"])} sums to {sum(overrides["depths"])} blocks '
                            f'but {name} has depth {depth}; give per-module depths that add up to {depth} '
                            f'(or an arch dict for another depth)')
    kwargs.update(overrides)
    kwargs['depths'] = tuple(kwargs['depths'])
    return kwargs
