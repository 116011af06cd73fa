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

from runtime.errors import UserError

# Parameter-name prefixes owned by the first and the last module (timm VisionTransformer names).
EMBEDDING_PREFIXES: Tuple[str, ...] = ('patch_embed.', 'cls_token', 'pos_embed', 'reg_token')
HEAD_PREFIXES: Tuple[str, ...] = ('norm.', 'fc_norm.', 'head.')
_BLOCK_KEY = re.compile(r'^blocks\.(\d+)\.(.*)$')

StateDict = Dict[str, torch.Tensor]


class DivisionError(UserError):
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
        """Cut ``depth`` blocks into ``num_modules`` modules of equal depth (the paper's D/K).

        Args:
            depth: blocks of the whole network.
            num_modules: K, the number of modules; must divide ``depth``.

        Returns:
            The division ``(depth // K,) * K``.
        """
        if num_modules < 1 or depth % num_modules:
            raise DivisionError(f'depth {depth} does not split evenly into {num_modules} modules; '
                                'give per-module depths instead')
        return cls((depth // num_modules,) * num_modules)

    @property
    def num_modules(self) -> int:
        """K, the number of modules."""
        return len(self.depths)

    @property
    def depth(self) -> int:
        """Blocks of the whole network: the sum of the module depths."""
        return sum(self.depths)

    def check_module(self, idx: int) -> int:
        """Check a module index.

        Args:
            idx: module index, 0-based.

        Returns:
            ``idx`` itself; raises :class:`DivisionError` if it names no module.
        """
        if not 0 <= idx < self.num_modules:
            raise DivisionError(f'module index {idx} is out of range for {self.num_modules} modules '
                                f'(indices are 0-based: 0..{self.num_modules - 1})')
        return idx

    def block_range(self, idx: int) -> range:
        """Global indices of the blocks of one module.

        Args:
            idx: module index, 0-based.

        Returns:
            The network block indices of module ``idx``.
        """
        self.check_module(idx)
        start = sum(self.depths[:idx])
        return range(start, start + self.depths[idx])

    def module_of_block(self, block: int) -> int:
        """Which module a block belongs to.

        Args:
            block: network block index.

        Returns:
            The 0-based module index; raises :class:`DivisionError` outside the network.
        """
        for idx in range(self.num_modules):
            if block in self.block_range(idx):
                return idx
        raise DivisionError(f'block {block} is outside a network of depth {self.depth}')

    def last_blocks(self) -> Tuple[int, ...]:
        """The last block of every module (the default dense-prediction outputs).

        Returns:
            One network block index per module, in module order.
        """
        return tuple(self.block_range(i)[-1] for i in range(self.num_modules))

    def owns_embedding(self, idx: int) -> bool:
        """Whether module ``idx`` (0-based) owns the patch embedding, class token and position embedding.

        Args:
            idx: module index, 0-based.

        Returns:
            True for module 0 only.
        """
        return self.check_module(idx) == 0

    def owns_head(self, idx: int) -> bool:
        """Whether module ``idx`` owns the final norm and the head.

        Args:
            idx: module index, 0-based.

        Returns:
            True for the last module only.
        """
        return self.check_module(idx) == self.num_modules - 1

    def with_module(self, idx: int, depth: int) -> 'Division':
        """The same division with one module replaced by one of another depth (a hybrid).

        Args:
            idx: module index, 0-based.
            depth: blocks of the replacing module.

        Returns:
            The new division.
        """
        self.check_module(idx)
        return Division(self.depths[:idx] + (depth,) + self.depths[idx + 1:])

    # --- module <-> network parameter names -------------------------------------------------

    def module_of_key(self, key: str) -> int:
        """Which module owns a network parameter.

        Args:
            key: parameter name in the network (timm's names).

        Returns:
            The 0-based module index; raises :class:`DivisionError` for a name no module owns.
        """
        if key.startswith(EMBEDDING_PREFIXES):
            return 0
        if key.startswith(HEAD_PREFIXES):
            return self.num_modules - 1
        match = _BLOCK_KEY.match(key)
        if match is None:
            raise DivisionError(f'parameter {key!r} belongs to no module')
        return self.module_of_block(int(match.group(1)))

    def split_state_dict(self, state: Mapping[str, torch.Tensor]) -> List[StateDict]:
        """Cut a network state dict into its K module state dicts.

        Args:
            state: a state dict with network parameter names.

        Returns:
            K state dicts, in module order, with block indices restarting at 0 in each.
        """
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
        """Inverse of :meth:`split_state_dict`: put K module state dicts into one network.

        Args:
            modules: K module state dicts (module-local names), in module order.

        Returns:
            One state dict with network parameter names.
        """
        if len(modules) != self.num_modules:
            raise DivisionError(f'got {len(modules)} module states for a division of {self.num_modules} modules')
        state: StateDict = {}
        for idx, module in enumerate(modules):
            state.update(self.module_to_network_keys(idx, module))
        return state

    def module_to_network_keys(self, idx: int, module: Mapping[str, torch.Tensor]) -> StateDict:
        """Rename one module's local keys to the network's, checking that it fits the module.

        Args:
            idx: module index, 0-based.
            module: the module's state dict (blocks numbered from 0).

        Returns:
            The same tensors under network parameter names; raises :class:`DivisionError` if a
            key belongs to another module or a block index exceeds the module's depth.
        """
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
