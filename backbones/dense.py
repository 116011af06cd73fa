"""The incubation ViT as an OpenMMLab backbone for dense prediction (mmdet, mmseg).

Registered in mmengine's root ``MODELS``; mmdet's and mmseg's registries are its children and
look names up there, so ``dict(type='IncubationViTBackbone', ...)`` builds from all three
after ``custom_imports=dict(imports=['backbones'])``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from .incubation import build_model, load_pretrained


@MODELS.register_module()
class IncubationViTBackbone(BaseModule):
    """A (possibly incubation-trained) plain ViT returning NCHW feature maps.

    Args:
        arch: a preset name from ``backbones.presets`` or a dict of constructor kwargs.
        img_size: the size the position embedding is laid out for; any input size divisible
            by the patch size is accepted and the embedding is resampled to it.
        out_indices: blocks whose outputs are returned; default: the last block of each module.
        drop_path_rate: stochastic depth over all blocks.
        with_cp: activation checkpointing (ViT-L/H at detection resolution).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` with an assembled, exported,
            timm, or mmengine classifier checkpoint; the head is dropped and the position
            embedding resampled.
    """

    def __init__(self, arch: Any = 'vit_base_patch16_224', img_size: Optional[int] = None,
                 out_indices: Optional[Sequence[int]] = None, drop_path_rate: float = 0.1,
                 with_cp: bool = False, init_cfg: Optional[Dict[str, Any]] = None, **arch_overrides: Any) -> None:
        super().__init__(init_cfg=init_cfg)
        if img_size is not None:
            arch_overrides['img_size'] = img_size
        self.vit = build_model(arch, num_classes=0, dynamic_img_size=True, drop_path_rate=drop_path_rate,
                               **arch_overrides)
        self.vit.set_grad_checkpointing(with_cp)
        # Dense heads read block outputs, not the classifier's final norm: keep it (checkpoints
        # load unchanged) but frozen, so DDP needs no find_unused_parameters.
        self.vit.norm.requires_grad_(False)
        self.out_indices: Tuple[int, ...] = (tuple(out_indices) if out_indices is not None
                                             else self.vit.division.last_blocks())
        for i in self.out_indices:
            if not 0 <= i < self.vit.division.depth:
                raise ValueError(f'out_indices {self.out_indices}: {i} is not a block of a depth-'
                                 f'{self.vit.division.depth} network')
        self.out_channels = [self.vit.embed_dim] * len(self.out_indices)
        self.num_layers = self.vit.division.depth + 2
        self.load_report: Optional[Dict[str, Any]] = None

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained checkpoint into the ViT, or run mmengine's initialisers."""
        cfg = self.init_cfg or {}
        if cfg.get('type') == 'Pretrained':
            # kept for the run's record (runtime.hooks.BackboneProvenanceHook): file, resampled, dropped
            self.load_report = load_pretrained(self.vit, cfg['checkpoint'])
            self._is_init = True
        else:
            self.load_report = None
            super().init_weights()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The token maps after the ``out_indices`` blocks.

        Args:
            x: images ``(B, C, H, W)``, ``H`` and ``W`` divisible by the patch size.

        Returns:
            One ``(B, embed_dim, H / patch, W / patch)`` map per entry of ``out_indices``, in
            block order.
        """
        patch = self.vit.patch_size
        if x.shape[-2] % patch or x.shape[-1] % patch:
            raise ValueError(f'input size {tuple(x.shape[-2:])} is not divisible by the patch size {patch}; '
                             'pad the inputs (size_divisor in the data preprocessor)')
        return tuple(self.vit.forward_intermediates(x, indices=list(self.out_indices), output_fmt='NCHW',
                                                    intermediates_only=True, stop_early=True))

    def get_layer_id(self, name: str) -> int:
        """Layer id of a parameter, for layer-wise lr decay.

        Args:
            name: parameter name, with or without the leading ``vit.``.

        Returns:
            0 for the embedding, ``i + 1`` for block ``i``, ``depth + 1`` for everything else.
        """
        name = name[len('vit.'):] if name.startswith('vit.') else name
        if name.startswith(('cls_token', 'pos_embed', 'patch_embed')):
            return 0
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1
        return self.num_layers - 1
