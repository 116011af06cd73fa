"""A Vision Transformer cut into modules, built from timm's own layers.

Parameter names are exactly those of :class:`timm.models.vision_transformer.VisionTransformer`
(``patch_embed``, ``cls_token``, ``pos_embed``, ``blocks.N``, ``norm``, ``head``), so a state
dict of this model *is* a timm checkpoint. The only thing it adds to timm's ViT is the
:class:`~backbones.division.Division` that says which blocks form which module, and one
optimisation that incubation relies on: a frozen prefix (embedding and leading blocks whose
parameters all have ``requires_grad=False``) runs without building an autograd graph.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from timm.layers import PatchEmbed, resample_abs_pos_embed, trunc_normal_
from timm.models._manipulate import checkpoint_seq, named_apply
from timm.models.vision_transformer import Block, init_weights_vit_timm

from .division import Division

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


class IncubationViT(nn.Module):
    """ViT with class-token pooling whose blocks are grouped into modules by a division.

    Args:
        depths: blocks per module, e.g. ``(3, 3, 3, 3)``; the network depth is their sum.
        img_size, patch_size, in_chans, embed_dim, num_heads, mlp_ratio, qkv_bias: as in timm.
        num_classes: head outputs; 0 gives an identity head (a pure feature extractor).
        drop_rate, attn_drop_rate, drop_path_rate: as in timm (drop path grows linearly
            over all blocks of this network).
        dynamic_img_size: accept any input size, resampling the position embedding.
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
            drop_rate: float = 0.0,
            attn_drop_rate: float = 0.0,
            drop_path_rate: float = 0.0,
            dynamic_img_size: bool = False,
    ) -> None:
        super().__init__()
        self.division = Division(tuple(depths))
        self.num_classes = num_classes
        self.num_features = self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.num_prefix_tokens = 1
        self.dynamic_img_size = dynamic_img_size
        self.grad_checkpointing = False

        self.patch_embed = PatchEmbed(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
            dynamic_img_pad=False, strict_img_size=not dynamic_img_size,
            output_fmt='NHWC' if dynamic_img_size else None)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        depth = self.division.depth
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # stochastic depth decay rule
        self.blocks = nn.Sequential(*[
            Block(dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                  proj_drop=drop_rate, attn_drop=attn_drop_rate, drop_path=dpr[i], norm_layer=LayerNorm)
            for i in range(depth)])
        self.norm = LayerNorm(embed_dim)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.init_weights()

    # --- construction helpers ---------------------------------------------------------------

    def init_weights(self) -> None:
        """timm's default ViT initialisation."""
        trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        named_apply(init_weights_vit_timm, self)

    @property
    def patch_size(self) -> int:
        return self.patch_embed.patch_size[0]

    @property
    def grid_size(self) -> Tuple[int, int]:
        return self.patch_embed.grid_size

    def module_parameters(self, idx: int) -> List[Tuple[str, nn.Parameter]]:
        """(name, parameter) pairs owned by module ``idx`` of this network's division."""
        return [(n, p) for n, p in self.named_parameters() if self.division.module_of_key(n) == idx]

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def no_weight_decay(self) -> set:
        return {'pos_embed', 'cls_token'}

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    # --- forward ----------------------------------------------------------------------------

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        pos_embed = self.pos_embed
        if self.dynamic_img_size:
            batch, height, width, channels = x.shape
            pos_embed = resample_abs_pos_embed(
                self.pos_embed, new_size=(height, width), old_size=self.grid_size,
                num_prefix_tokens=self.num_prefix_tokens)
            x = x.reshape(batch, height * width, channels)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.pos_drop(x + pos_embed)

    def _frozen_prefix_blocks(self) -> int:
        """How many leading blocks (after a frozen embedding) have only frozen parameters.

        Returns -1 if the embedding itself has a trainable parameter. The frozen prefix runs
        under ``torch.no_grad()``: nothing upstream of it can need a gradient, so building
        its graph would be pure waste (this is what makes incubating module i > 0 cheap).
        """
        embed = [self.cls_token, self.pos_embed, *self.patch_embed.parameters()]
        if any(p.requires_grad for p in embed):
            return -1
        count = 0
        for block in self.blocks:
            if any(p.requires_grad for p in block.parameters()):
                break
            count += 1
        return count

    def _run_blocks(self, blocks: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and torch.is_grad_enabled() and not torch.jit.is_scripting():
            return checkpoint_seq(blocks, x)
        return blocks(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch embedding + class token + position embedding: (B, C, H, W) -> (B, 1 + N, D)."""
        return self._pos_embed(self.patch_embed(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        frozen = self._frozen_prefix_blocks() if torch.is_grad_enabled() else -1
        if frozen >= 0:
            with torch.no_grad():
                x = self.blocks[:frozen](self.embed(x))
            x = self._run_blocks(self.blocks[frozen:], x)
        else:
            x = self._run_blocks(self.blocks, self.embed(x))
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(x[:, 0])
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
            self, x: torch.Tensor, indices: Optional[Sequence[int]] = None,
    ) -> List[torch.Tensor]:
        """Token maps after the given blocks (default: the last block of every module), NCHW.

        The input may have any size divisible by the patch size when ``dynamic_img_size``
        is set; the position embedding is resampled to it.
        """
        indices = self.division.last_blocks() if indices is None else tuple(indices)
        for i in indices:
            if not 0 <= i < self.division.depth:
                raise IndexError(f'block index {i} is out of range for depth {self.division.depth}')
        batch, _, height, width = x.shape
        grid = (height // self.patch_size, width // self.patch_size)
        x = self.embed(x)
        outputs: List[torch.Tensor] = []
        for i, block in enumerate(self.blocks[:max(indices) + 1]):
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
            if i in indices:
                tokens = x[:, self.num_prefix_tokens:]
                outputs.append(tokens.transpose(1, 2).reshape(batch, -1, *grid).contiguous())
        return outputs

    def arch_config(self) -> Dict[str, Any]:
        """The constructor arguments that fix the parameter shapes (stored in checkpoints)."""
        return dict(
            depths=list(self.division.depths), img_size=list(self.patch_embed.img_size),
            patch_size=self.patch_size, in_chans=self.patch_embed.proj.in_channels,
            num_classes=self.num_classes, embed_dim=self.embed_dim, num_heads=self.num_heads,
            mlp_ratio=self.blocks[0].mlp.fc1.out_features / self.embed_dim,
            qkv_bias=self.blocks[0].attn.qkv.bias is not None)
