"""The division: how a ViT is cut into K consecutive modules.

This is the one place that knows which block belongs to which module and which module owns
the embedding and the head. Everything else (the model, the incubation roles, the checkpoint
formats) asks a :class:`Division`.

Module indices are 0-based everywhere (module 0 is the paper's M_1). Module 0 owns the patch
embedding, class token and position embedding; module K-1 owns the final norm and the head.
Inside a module's own state dict block indices restart at 0 (the authors' ``model_stages``
layout), so a module can be moved between networks whose other modules have other depths.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import torch

# Parameter-name prefixes owned by the first and the last module (timm VisionTransformer names).
EMBEDDING_PREFIXES: Tuple[str, ...] = ('patch_embed.', 'cls_token', 'pos_embed', 'reg_token')
HEAD_PREFIXES: Tuple[str, ...] = ('norm.', 'fc_norm.', 'head.')
_BLOCK_KEY = re.compile(r'^blocks\.(\d+)\.(.*)$')

StateDict = Dict[str, torch.Tensor]


class DivisionError(ValueError):
    """A division, or a module state that does not fit it."""


@dataclass(frozen=True)
class Division:
    """Per-module depths of a ViT, e.g. ``(3, 3, 3, 3)`` for ViT-B cut into K = 4 modules."""

    depths: Tuple[int, ...]

    def __post_init__(self) -> None:
        depths = tuple(int(d) for d in self.depths)
        if len(depths) < 1 or any(d < 1 for d in depths):
            raise DivisionError(f'a division needs at least one module of at least one block, got {self.depths}')
        object.__setattr__(self, 'depths', depths)

    @classmethod
    def even(cls, depth: int, num_modules: int) -> 'Division':
        """Cut ``depth`` blocks into ``num_modules`` modules of equal depth (the paper's D/K)."""
        if num_modules < 1 or depth % num_modules:
            raise DivisionError(f'depth {depth} does not split evenly into {num_modules} modules; '
                                'give per-module depths instead')
        return cls((depth // num_modules,) * num_modules)

    @property
    def num_modules(self) -> int:
        return len(self.depths)

    @property
    def depth(self) -> int:
        return sum(self.depths)

    def check_module(self, idx: int) -> int:
        if not 0 <= idx < self.num_modules:
            raise DivisionError(f'module index {idx} is out of range for {self.num_modules} modules '
                                f'(indices are 0-based: 0..{self.num_modules - 1})')
        return idx

    def block_range(self, idx: int) -> range:
        """Global indices of the blocks of module ``idx``."""
        self.check_module(idx)
        start = sum(self.depths[:idx])
        return range(start, start + self.depths[idx])

    def module_of_block(self, block: int) -> int:
        for idx in range(self.num_modules):
            if block in self.block_range(idx):
                return idx
        raise DivisionError(f'block {block} is outside a network of depth {self.depth}')

    def last_blocks(self) -> Tuple[int, ...]:
        """Global index of the last block of every module (the default dense-prediction outputs)."""
        return tuple(self.block_range(i)[-1] for i in range(self.num_modules))

    def owns_embedding(self, idx: int) -> bool:
        return self.check_module(idx) == 0

    def owns_head(self, idx: int) -> bool:
        return self.check_module(idx) == self.num_modules - 1

    def with_module(self, idx: int, depth: int) -> 'Division':
        """The same division with module ``idx`` replaced by one of ``depth`` blocks (a hybrid)."""
        self.check_module(idx)
        return Division(self.depths[:idx] + (depth,) + self.depths[idx + 1:])

    # --- module <-> network parameter names -------------------------------------------------

    def module_of_key(self, key: str) -> int:
        """Which module owns the network parameter ``key``."""
        if key.startswith(EMBEDDING_PREFIXES):
            return 0
        if key.startswith(HEAD_PREFIXES):
            return self.num_modules - 1
        match = _BLOCK_KEY.match(key)
        if match is None:
            raise DivisionError(f'parameter {key!r} belongs to no module')
        return self.module_of_block(int(match.group(1)))

    def split_state_dict(self, state: Mapping[str, torch.Tensor]) -> List[StateDict]:
        """Cut a network state dict into K module state dicts with block indices restarting at 0."""
        modules: List[StateDict] = [{} for _ in self.depths]
        for key, value in state.items():
            idx = self.module_of_key(key)
            match = _BLOCK_KEY.match(key)
            if match is not None:
                local = int(match.group(1)) - self.block_range(idx).start
                key = f'blocks.{local}.{match.group(2)}'
            modules[idx][key] = value
        return modules

    def merge_state_dicts(self, modules: Sequence[Mapping[str, torch.Tensor]]) -> StateDict:
        """Inverse of :meth:`split_state_dict`: put K module state dicts into one network."""
        if len(modules) != self.num_modules:
            raise DivisionError(f'got {len(modules)} module states for a division of {self.num_modules} modules')
        state: StateDict = {}
        for idx, module in enumerate(modules):
            state.update(self.module_to_network_keys(idx, module))
        return state

    def module_to_network_keys(self, idx: int, module: Mapping[str, torch.Tensor]) -> StateDict:
        """Rename one module's local keys to the network's, checking that it fits module ``idx``."""
        blocks = self.block_range(idx)
        out: StateDict = {}
        for key, value in module.items():
            match = _BLOCK_KEY.match(key)
            if match is not None:
                local = int(match.group(1))
                if local >= len(blocks):
                    raise DivisionError(f'module {idx} has {len(blocks)} blocks but its state has block {local}')
                key = f'blocks.{blocks.start + local}.{match.group(2)}'
            elif key.startswith(EMBEDDING_PREFIXES) and not self.owns_embedding(idx):
                raise DivisionError(f'module {idx} does not own the embedding but its state has {key!r}')
            elif key.startswith(HEAD_PREFIXES) and not self.owns_head(idx):
                raise DivisionError(f'module {idx} does not own the norm/head but its state has {key!r}')
            elif not key.startswith(EMBEDDING_PREFIXES + HEAD_PREFIXES):
                raise DivisionError(f'parameter {key!r} of module {idx} belongs to no module')
            out[key] = value
        return out

    def __str__(self) -> str:
        return '(' + ', '.join(map(str, self.depths)) + ')'
