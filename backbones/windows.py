"""ViTDet's window attention for a plain (incubation) ViT, without new parameters.

ViTDet (Li et al., ECCV 2022) fine-tunes a plain ViT for detection with attention inside
non-overlapping windows the size of the pretraining token grid, and global attention in a few
blocks (ViT-B: 2, 5, 8, 11; ViT-L: 5, 11, 17, 23; ViT-H: 7, 15, 23, 31, which are the last blocks of
the K = 4 incubation modules). Every other part of a block (norms, MLP) works token by token, so
a block applied to the tokens of one window *is* that block with window attention.

The absolute position embedding of the pretraining grid reaches the larger grid in one of two
ways (:data:`POS_EMBED_MODES`):

* ``interpolate``: resampled to the whole grid (ViTDet; timm's ``resample_abs_pos_embed``);
* ``tile``: resampled to one window and repeated in every window (Bolya et al., ICLR 2024,
  "Window Attention is Bugged": with windows the size of the pretraining grid, each window sees
  exactly the embedding the model was trained with).

The class token (and any other prefix token) is not used: ViTDet drops it too. A grid that the
window does not divide is padded at its bottom and right; padded tokens are masked out of
attention, so they change nothing, and are removed again after each block.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer
from torch.utils.checkpoint import checkpoint

POS_EMBED_MODES = ('interpolate', 'tile')


def grid_pos_embed(vit: VisionTransformer) -> torch.Tensor:
    """The position embedding of the patch tokens alone, ``(1, gh, gw, C)`` (prefix tokens dropped)."""
    gh, gw = vit.patch_embed.grid_size
    pos = vit.pos_embed
    if not getattr(vit, 'no_embed_class', False):
        pos = pos[:, vit.num_prefix_tokens:]
    return pos.reshape(1, gh, gw, -1)


def pos_embed_for(vit: VisionTransformer, size: Tuple[int, int], window_size: int, mode: str) -> torch.Tensor:
    """The position embedding for a ``size`` token grid, ``(1, H, W, C)``.

    Args:
        vit: the network whose embedding is used.
        size: the token grid ``(H, W)``.
        window_size: the window side, in tokens (``tile`` lays one copy per window).
        mode: ``interpolate`` or ``tile`` (module docstring).
    """
    if mode not in POS_EMBED_MODES:
        raise ValueError(f'pos_embed mode {mode!r}: choose one of {", ".join(POS_EMBED_MODES)}')
    pos = grid_pos_embed(vit)
    old = tuple(pos.shape[1:3])
    target = size if mode == 'interpolate' else (window_size, window_size)
    if tuple(target) != old:
        flat = resample_abs_pos_embed(pos.reshape(1, old[0] * old[1], -1), new_size=list(target),
                                      old_size=list(old), num_prefix_tokens=0)
        pos = flat.reshape(1, target[0], target[1], -1)
    if mode == 'tile':
        reps = (-(-size[0] // window_size), -(-size[1] // window_size))
        pos = pos.repeat(1, reps[0], reps[1], 1)[:, :size[0], :size[1]]
    return pos


def window_partition(x: torch.Tensor, window_size: int) -> Tuple[torch.Tensor, torch.Tensor, Tuple[int, int]]:
    """Cut ``(B, H, W, C)`` tokens into windows, padding the bottom and right.

    Returns:
        windows ``(B * nW, ws * ws, C)``; a key mask ``(B * nW, 1, 1, ws * ws)``, True where a
        token is real (None-like all True when nothing was padded); the padded grid ``(Hp, Wp)``.
    """
    B, H, W, C = x.shape
    pad_h, pad_w = (-H) % window_size, (-W) % window_size
    real = torch.ones(1, H, W, 1, dtype=torch.bool, device=x.device)
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        real = F.pad(real, (0, 0, 0, pad_w, 0, pad_h), value=False)
    Hp, Wp = H + pad_h, W + pad_w

    def cut(t: torch.Tensor) -> torch.Tensor:
        n, c = t.shape[0], t.shape[-1]
        t = t.view(n, Hp // window_size, window_size, Wp // window_size, window_size, c)
        return t.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, c)

    mask = cut(real).expand(B, -1, -1, -1).reshape(-1, 1, 1, window_size * window_size) if (pad_h or pad_w) \
        else None
    return cut(x), mask, (Hp, Wp)


def window_unpartition(windows: torch.Tensor, window_size: int, padded: Tuple[int, int],
                       size: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B, H, W, C)`` tokens without the padding."""
    Hp, Wp = padded
    C = windows.shape[-1]
    x = windows.view(-1, Hp // window_size, Wp // window_size, window_size, window_size, C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, Hp, Wp, C)
    return x[:, :size[0], :size[1]].contiguous()


def windowed_intermediates(vit: VisionTransformer, x: torch.Tensor, indices: Sequence[int], window_size: int,
                           global_blocks: Sequence[int], pos_embed: str = 'interpolate') -> List[torch.Tensor]:
    """Token maps after the ``indices`` blocks, with window attention except in ``global_blocks``.

    Args:
        vit: a timm ViT (its patch embedding, position embedding and blocks are used as they are).
        x: images ``(B, C, H, W)``, sides divisible by the patch size.
        indices: blocks whose outputs are returned, in block order.
        window_size: window side in tokens.
        global_blocks: blocks with global attention.
        pos_embed: ``interpolate`` or ``tile`` (:func:`pos_embed_for`).

    Returns:
        One ``(B, C, H / patch, W / patch)`` map per index.
    """
    tokens = vit.patch_embed(x)
    if tokens.ndim == 3:  # a patch embedding without NHWC output
        gh, gw = x.shape[-2] // vit.patch_embed.patch_size[0], x.shape[-1] // vit.patch_embed.patch_size[1]
        tokens = tokens.reshape(tokens.shape[0], gh, gw, -1)
    B, H, W, C = tokens.shape
    tokens = tokens + pos_embed_for(vit, (H, W), window_size, pos_embed).to(tokens.dtype)
    tokens = vit.norm_pre(vit.patch_drop(vit.pos_drop(tokens.reshape(B, H * W, C)))).reshape(B, H, W, C)
    wanted, last = set(indices), max(indices)
    out: List[torch.Tensor] = []
    checkpointed = getattr(vit, 'grad_checkpointing', False) and torch.is_grad_enabled()

    def run(block, x: torch.Tensor, mask=None) -> torch.Tensor:
        if checkpointed:  # activation checkpointing (the backbone's with_cp), as timm's own forward
            return checkpoint(block, x, attn_mask=mask, use_reentrant=False)
        return block(x, attn_mask=mask)

    for i, block in enumerate(vit.blocks[:last + 1]):
        if i in global_blocks:
            tokens = run(block, tokens.reshape(B, H * W, C)).reshape(B, H, W, C)
        else:
            windows, mask, padded = window_partition(tokens, window_size)
            tokens = window_unpartition(run(block, windows, mask), window_size, padded, (H, W))
        if i in wanted:
            out.append(tokens.permute(0, 3, 1, 2).contiguous())
    return out
