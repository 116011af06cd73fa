"""The incubation ViT as an OpenMMLab backbone for dense prediction (mmdet, mmseg).

Registered in mmengine's root ``MODELS``; mmdet's and mmseg's registries are its children and
look names up there, so ``dict(type='IncubationViTBackbone', ...)`` builds from all three
after ``custom_imports=dict(imports=['backbones'])``.

Its config is checked before anything is built (:meth:`IncubationViTBackbone.prepare_config`):
an argument it does not take is refused in one line, and the neck next to it in the model dict
is fitted to it (:func:`backbones.pyramid.fit_neck`): the neck's input channels are the ViT's
width, its scales give the strides the detector's anchors expect.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, MutableMapping, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from runtime.cli import check_keys

from .incubation import build_model, load_pretrained, resolve_arch
from .vit import check_arch_keys, constructor_keys
from .windows import POS_EMBED_MODES, windowed_intermediates

# set by the backbone itself: a feature extractor whose token maps are resampled to any input
FIXED_ARCH_KEYS = ('num_classes', 'dynamic_img_size')


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
        window_size: ViTDet's window attention (:mod:`backbones.windows`): attention within
            windows of this many tokens a side, except in ``global_blocks``; None: global
            attention in every block (with the class token, as the classifier has it).
        global_blocks: blocks with global attention when ``window_size`` is set; default: the last
            block of each incubation module (ViTDet's choice for ViT-B/L/H is exactly that).
        pos_embed: how the pretraining grid's position embedding reaches the input's grid when
            ``window_size`` is set: ``interpolate`` (ViTDet) or ``tile`` (one copy per window).
        frozen_stages: as mmpretrain's ViT: -1 trains everything; 0 freezes the embeddings (patch,
            position, class token); ``n`` also the first ``n`` blocks (kept in eval mode, so no
            drop path). The frozen-backbone protocol freezes all of them: the heads see exactly the
            upstream features.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` with an assembled, exported,
            timm, or mmengine classifier checkpoint; the head is dropped and the position
            embedding resampled.
    """

    def __init__(self, arch: Any = 'vit_base_patch16_224', img_size: Optional[int] = None,
                 out_indices: Optional[Sequence[int]] = None, drop_path_rate: float = 0.1,
                 with_cp: bool = False, window_size: Optional[int] = None,
                 global_blocks: Optional[Sequence[int]] = None, pos_embed: str = 'interpolate',
                 frozen_stages: int = -1, init_cfg: Optional[Dict[str, Any]] = None, **arch_overrides: Any) -> None:
        super().__init__(init_cfg=init_cfg)
        check_keys(arch_overrides, self.known_keys(), 'model.backbone', type(self).__name__)
        if img_size is not None:
            arch_overrides['img_size'] = img_size
        self.vit = build_model(arch, num_classes=0, dynamic_img_size=True, drop_path_rate=drop_path_rate,
                               **arch_overrides)
        self.vit.set_grad_checkpointing(with_cp)
        # Dense heads read block outputs, not the classifier's final norm (``norm``, or ``fc_norm``
        # after average pooling): keep it (checkpoints load unchanged) but frozen, so DDP needs no
        # find_unused_parameters.
        self.vit.norm.requires_grad_(False)
        self.vit.fc_norm.requires_grad_(False)
        self.out_indices: Tuple[int, ...] = (tuple(out_indices) if out_indices is not None
                                             else self.vit.division.last_blocks())
        for i in self.out_indices:
            if not 0 <= i < self.vit.division.depth:
                raise ValueError(f'out_indices {self.out_indices}: {i} is not a block of a depth-'
                                 f'{self.vit.division.depth} network')
        self.window_size = window_size
        self.global_blocks: Tuple[int, ...] = (tuple(global_blocks) if global_blocks is not None
                                               else self.vit.division.last_blocks())
        if window_size is not None and window_size < 1:
            raise ValueError(f'window_size {window_size}: a window is at least one token')
        if pos_embed not in POS_EMBED_MODES:
            raise ValueError(f'pos_embed {pos_embed!r}: choose one of {", ".join(POS_EMBED_MODES)}')
        self.pos_embed_mode = pos_embed
        for i in self.global_blocks:
            if not 0 <= i < self.vit.division.depth:
                raise ValueError(f'global_blocks {self.global_blocks}: {i} is not a block of a depth-'
                                 f'{self.vit.division.depth} network')
        self.out_channels = [self.vit.embed_dim] * len(self.out_indices)
        self.num_layers = self.vit.division.depth + 2
        self.load_report: Optional[Dict[str, Any]] = None
        if not -1 <= frozen_stages <= self.vit.division.depth:
            raise ValueError(f'frozen_stages {frozen_stages}: -1 (none) to {self.vit.division.depth} (every block)')
        self.frozen_stages = frozen_stages
        self._freeze_stages()

    def _frozen_modules(self) -> Tuple[torch.nn.Module, ...]:
        if self.frozen_stages < 0:
            return ()
        return (self.vit.patch_embed, *self.vit.blocks[:self.frozen_stages])

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        for param in (self.vit.cls_token, self.vit.pos_embed, getattr(self.vit, 'reg_token', None)):
            if param is not None:
                param.requires_grad_(False)
        for module in self._frozen_modules():
            module.eval()
            module.requires_grad_(False)

    def train(self, mode: bool = True) -> 'IncubationViTBackbone':
        """Switch the mode, keeping the frozen stages in eval mode (mmpretrain's convention)."""
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    @classmethod
    def known_keys(cls) -> set:
        """The keys its config dict may hold: its own arguments and the ViT's constructor arguments."""
        own = set(inspect.signature(cls.__init__).parameters) - {'self', 'arch_overrides'}
        return own | (set(constructor_keys()) - set(FIXED_ARCH_KEYS)) | {'type', '_scope_'}

    @classmethod
    def arch_of(cls, cfg: Mapping[str, Any]) -> Dict[str, Any]:
        """The ViT's constructor arguments a backbone config builds (without building it).

        Args:
            cfg: the backbone's config dict.

        Returns:
            :func:`~backbones.incubation.resolve_arch` of its ``arch`` with its overrides.
        """
        own = set(inspect.signature(cls.__init__).parameters) - {'arch_overrides'}
        overrides = {k: v for k, v in cfg.items() if k not in own | {'type', '_scope_'}}
        if cfg.get('img_size') is not None:
            overrides['img_size'] = cfg['img_size']
        return resolve_arch(cfg.get('arch', 'vit_base_patch16_224'), **overrides)

    @classmethod
    def prepare_config(cls, cfg: MutableMapping[str, Any], where: str = 'model.backbone',
                       parent: Optional[MutableMapping[str, Any]] = None) -> None:
        """Check a backbone config dict and fit the neck beside it, in place, before anything is built.

        The hook :func:`runtime.configs.prepare_model_config` calls for every dict of this type.

        Args:
            cfg: the backbone's config dict.
            where: its place in the config, for the messages.
            parent: the model dict holding it; its ``neck`` is fitted (:func:`backbones.pyramid.fit_neck`).
        """
        from .pyramid import fit_neck

        check_keys(cfg, cls.known_keys(), where, cls.__name__)
        if isinstance(cfg.get('arch'), Mapping):
            check_arch_keys(cfg['arch'], f'{where}.arch')
        if parent is not None and isinstance(parent.get('neck'), MutableMapping):
            arch = cls.arch_of(cfg)
            out_indices = cfg.get('out_indices')
            outputs = len(out_indices) if out_indices is not None else len(arch['depths'])
            prefix = where.rsplit('.', 1)[0] + '.' if '.' in where else ''
            fit_neck(parent, arch, outputs, where=prefix + 'neck', backbone=where)

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
        if self.window_size is not None:
            return tuple(windowed_intermediates(self.vit, x, self.out_indices, self.window_size, self.global_blocks,
                                                self.pos_embed_mode))
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
