"""A timm Vision Transformer whose blocks are grouped into modules by a division.

:class:`IncubationViT` *is* :class:`timm.models.vision_transformer.VisionTransformer` (class
token, learned position embedding, LayerNorm eps 1e-6, GELU MLP) of depth ``sum(depths)``,
so its parameter names, its state dict and every method of timm's ViT (``forward_features``,
``forward_head``, ``forward_intermediates``, ``feature_info``, ``group_matcher``,
``no_weight_decay``, ``set_grad_checkpointing``, ``reset_classifier``) are timm's. It adds the
:class:`~backbones.division.Division` that says which blocks form which module, and the few
accessors the incubation roles and the checkpoint formats need.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Dict, FrozenSet, List, Mapping, Sequence, Tuple, Union

import torch.nn as nn
from timm.models.vision_transformer import VisionTransformer

from runtime.cli import check_keys

from .division import Division


class IncubationViT(VisionTransformer):
    """timm's ViT (class-token pooling) of depth ``sum(depths)``, cut into modules by ``depths``.

    Args:
        depths: blocks per module, e.g. ``(3, 3, 3, 3)``; the network depth is their sum.
        img_size: input size the position embedding is laid out for.
        patch_size: side of a square patch.
        in_chans: input channels.
        num_classes: head outputs; 0 gives an identity head (a pure feature extractor).
        embed_dim: token width.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden width over ``embed_dim``.
        qkv_bias: whether the qkv projection has a bias.
        **timm_kwargs: any other keyword of timm's ``VisionTransformer`` (``drop_path_rate``,
            ``drop_rate``, ``dynamic_img_size``, ...), with timm's meaning. ``depth`` is not
            accepted: it is ``sum(depths)``.
    """

    def __init__(
            self,
            depths: Sequence[int],
            img_size: Union[int, Tuple[int, int]] = 224,
            patch_size: int = 16,
            in_chans: int = 3,
            num_classes: int = 1000,
            embed_dim: int = 768,
            num_heads: int = 12,
            mlp_ratio: float = 4.0,
            qkv_bias: bool = True,
            **timm_kwargs: Any,
    ) -> None:
        if 'depth' in timm_kwargs:
            raise TypeError('IncubationViT takes per-module `depths`, not `depth` (the depth is their sum)')
        division = Division(tuple(depths))
        # Construct without timm's init, then run it with needs_reset=True: this draws the
        # random numbers in the order the project's checkpoints and seeded runs were made with.
        super().__init__(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, num_classes=num_classes,
            embed_dim=embed_dim, depth=division.depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias, weight_init='skip', **timm_kwargs)
        self.division = division
        self.weight_init_mode = ''
        self.init_weights(needs_reset=True)

    @property
    def patch_size(self) -> int:
        """Side of a (square) patch in pixels: the stride of every token map."""
        return self.patch_embed.patch_size[0]

    def module_parameters(self, idx: int) -> List[Tuple[str, nn.Parameter]]:
        """The parameters owned by one module of this network's division.

        Args:
            idx: module index, 0-based.

        Returns:
            ``(name, parameter)`` pairs, in ``named_parameters()`` order.
        """
        return [(n, p) for n, p in self.named_parameters() if self.division.module_of_key(n) == idx]

    def arch_config(self) -> Dict[str, Any]:
        """The constructor arguments that fix the parameter shapes (stored in checkpoints).

        Returns:
            ``depths``, ``img_size``, ``patch_size``, ``in_chans``, ``num_classes``,
            ``embed_dim``, ``num_heads``, ``mlp_ratio`` and ``qkv_bias`` as plain values, and
            ``global_pool`` where it is not timm's default (class token): it fixes no shape, but a
            timm export must pool as the network was trained.
        """
        attn = self.blocks[0].attn
        pool = {} if self.global_pool == 'token' else dict(global_pool=self.global_pool)
        return dict(**pool,
            depths=list(self.division.depths), img_size=list(self.patch_embed.img_size),
            patch_size=self.patch_size, in_chans=self.patch_embed.proj.in_channels,
            num_classes=self.num_classes, embed_dim=self.embed_dim, num_heads=attn.num_heads,
            mlp_ratio=self.blocks[0].mlp.fc1.out_features / self.embed_dim,
            qkv_bias=attn.qkv.bias is not None)


@functools.lru_cache(maxsize=None)
def constructor_keys() -> FrozenSet[str]:
    """Every keyword :class:`IncubationViT` takes: its own and timm ``VisionTransformer``'s.

    ``depth`` (it is the sum of ``depths``) and ``weight_init`` (the init is fixed) are not.
    """
    def named(fn: Any) -> set:
        return {p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != 'self'}

    return frozenset((named(IncubationViT.__init__) | named(VisionTransformer.__init__)) - {'depth', 'weight_init'})


def check_arch_keys(arch: Mapping[str, Any], where: str) -> None:
    """Refuse a key of an architecture dict (a config's ``arch`` or ``arch_overrides``) that the
    network does not take, naming the closest one it does (one line, :class:`runtime.cli.UserError`).

    Args:
        arch: constructor arguments of :class:`IncubationViT`.
        where: the dict's place in the config, e.g. ``model.arch_overrides``.
    """
    check_keys(arch, constructor_keys(), where, 'the ViT')
