"""The image classifier: an :class:`IncubationViT` in one of its roles, as an mmengine model.

``role`` says which network of the method this run trains (see ``backbones.incubation``):

* ``dict(type='target')``: the target ViT (the E2E baseline; or any fine-tuning, with
  ``init_checkpoint`` pointing at an assembled or exported checkpoint);
* ``dict(type='meta', meta_depth=1)``: the meta model;
* ``dict(type='hybrid', module_idx=i, meta_checkpoint=PATH)``: incubation of module ``i``;
* ``dict(type='assembled', module_checkpoints=[PATH_0, ..., PATH_K-1])``: the assembled target,
  for the fine-tuning phase.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Dict, List, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel, ImgDataPreprocessor
from mmengine.registry import MODELS
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

from backbones import (
    Checkpoint,
    IncubationViT,
    assemble_model,
    build_hybrid_model,
    build_meta_model,
    build_model,
    load_pretrained,
    module_checkpoint,
    network_checkpoint,
    resolve_arch,
)
from backbones.vit import check_arch_keys, constructor_keys
from runtime.cli import UnknownKeyError, UserError, check_keys
from runtime.record import ROLES, artifact_name

# What each role reads besides ``type``. Any role takes the keys of every role, so that one
# ``--cfg-options model.role.KEY=...`` can reach all phases of a pipeline (e.g. ``meta_depth``).
ROLE_KEYS: Dict[str, tuple] = {
    'target': (),
    'meta': ('meta_depth',),
    'hybrid': ('module_idx', 'meta_checkpoint'),
    'assembled': ('module_checkpoints',),
}


@MODELS.register_module()
class MixupDataPreprocessor(ImgDataPreprocessor):
    """Stacks the batch and, in training, applies timm's Mixup/CutMix with label smoothing.

    The targets become soft labels; with ``mixup=None`` they stay class indices. Inputs come
    already normalised by the timm transform, so no mean/std here.
    """

    def __init__(self, num_classes: int, mixup: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mixup = Mixup(num_classes=num_classes, **mixup) if mixup else None

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        data = super().forward(data, training)
        labels = data['data_samples']
        if isinstance(labels, (list, tuple)):
            labels = torch.stack([torch.as_tensor(x) for x in labels])
        labels = labels.to(data['inputs'].device)
        if training and self.mixup is not None:
            if data['inputs'].shape[0] % 2:
                raise ValueError(f'Mixup/CutMix needs an even batch size, got {data["inputs"].shape[0]}; '
                                 'set drop_last=True or an even batch_size')
            data['inputs'], labels = self.mixup(data['inputs'], labels)
        data['data_samples'] = labels
        return data


def check_role(role: Mapping[str, Any], where: str = 'model.role') -> str:
    """Refuse a role whose type or keys nothing reads; its type.

    Args:
        role: the ``model.role`` dict.
        where: its place in the config, for the message.

    Returns:
        The role's type.
    """
    kind = role.get('type', 'target')
    if kind not in ROLE_KEYS:
        close = difflib.get_close_matches(str(kind), ROLES, n=1)
        hint = f'did you mean {close[0]!r}? ' if close else ''
        raise UserError(f'{where}.type={kind!r}: unknown role; {hint}(one of {", ".join(ROLES)})')
    check_keys(role, {'type', *(k for keys in ROLE_KEYS.values() for k in keys)}, where, 'a role')
    return kind


@MODELS.register_module()
class IncubationClassifier(BaseModel):
    """Classifier whose network is built by ``role`` from ``arch`` (preset name or dict).

    Args:
        arch: a preset of ``backbones.presets`` or a dict with per-module ``depths``.
        role: which network of the method to build (module docstring).
        arch_overrides: constructor overrides (``drop_path_rate``, ``img_size``, ``num_classes``, ...).
        init_checkpoint: whole-network weights to start from (any supported format).
        label_smoothing: used when the targets are class indices (no Mixup).
        data_preprocessor: usually :class:`MixupDataPreprocessor`.
    """

    def __init__(self, arch: Union[str, Dict[str, Any]], role: Optional[Dict[str, Any]] = None,
                 arch_overrides: Optional[Dict[str, Any]] = None, init_checkpoint: Optional[str] = None,
                 label_smoothing: float = 0.1, data_preprocessor: Optional[Dict[str, Any]] = None,
                 init_cfg: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.role = dict(role or dict(type='target'))
        self.prepare_config(dict(arch=arch, role=self.role, arch_overrides=arch_overrides or {}))
        self.target_arch = resolve_arch(arch, **(arch_overrides or {}))
        self.network = self._build_network(self.role, self.target_arch)
        if init_checkpoint:
            load_pretrained(self.network, init_checkpoint)
        self.soft_loss = SoftTargetCrossEntropy()
        self.hard_loss = LabelSmoothingCrossEntropy(label_smoothing) if label_smoothing > 0 else torch.nn.CrossEntropyLoss()

    @classmethod
    def prepare_config(cls, cfg: Mapping[str, Any], where: str = 'model',
                       parent: Optional[Mapping[str, Any]] = None) -> None:
        """Refuse, before anything is built, a key of the model dict that nothing reads.

        Checked: the model's own arguments, ``role`` (:func:`check_role`), ``arch`` when it is
        a dict and ``arch_overrides`` (the network's constructor arguments). It is the hook
        :func:`runtime.configs.prepare_model_config` calls for every dict of this type.

        Args:
            cfg: the model dict of a config (``type='IncubationClassifier'``).
            where: its place in the config, for the messages.
            parent: the dict holding it (unused).
        """
        own = set(inspect.signature(cls.__init__).parameters) - {'self'}
        for key in cfg:
            if key not in own | {'type', '_scope_'}:
                # a network argument one level too high (``model.drop_path_rate``) has its place in arch_overrides
                close = difflib.get_close_matches(str(key), sorted(constructor_keys()), n=1)
                hint = (f'did you mean {where}.arch_overrides.{close[0]}?' if close else
                        f'{where} takes {", ".join(sorted(own))}; the network\'s arguments go in {where}.arch_overrides')
                raise UnknownKeyError(f'{where}.{key}: unknown key for {cls.__name__}; {hint}')
        check_role(cfg.get('role') or {}, f'{where}.role')
        if isinstance(cfg.get('arch'), Mapping):
            check_arch_keys(cfg['arch'], f'{where}.arch')
        check_arch_keys(cfg.get('arch_overrides') or {}, f'{where}.arch_overrides')

    @staticmethod
    def _build_network(role: Dict[str, Any], arch: Dict[str, Any]) -> IncubationViT:
        kind = role.get('type', 'target')
        if kind == 'target':
            return build_model(arch)
        if kind == 'meta':
            return build_meta_model(arch, meta_depth=int(role.get('meta_depth', 1)))
        if kind == 'hybrid':
            if role.get('meta_checkpoint') is None or role.get('module_idx') is None:
                raise UserError('role hybrid needs module_idx and meta_checkpoint '
                                 '(e.g. --cfg-options model.role.module_idx=0 model.role.meta_checkpoint=PATH)')
            return build_hybrid_model(arch, int(role['module_idx']), role['meta_checkpoint'])
        if kind == 'assembled':
            if not role.get('module_checkpoints'):
                raise UserError('role assembled needs module_checkpoints=[PATH_0, ..., PATH_K-1]')
            return assemble_model(arch, role['module_checkpoints'])
        raise ValueError(f'unknown role {kind!r}; one of {ROLES}')

    def init_weights(self) -> None:
        # The network is fully initialised (or loaded) at construction; mmengine's generic
        # initialisers must not overwrite loaded meta or module weights.
        self._is_init = True

    def forward(self, inputs: torch.Tensor, data_samples: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], List[Dict[str, Any]], torch.Tensor]:
        logits = self.network(inputs)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            loss = self.soft_loss(logits, data_samples) if data_samples.ndim == 2 else self.hard_loss(logits, data_samples)
            return dict(loss=loss)
        if mode == 'predict':
            scores = F.softmax(logits.float(), dim=-1)
            return [dict(scores=s, gt_label=int(t)) for s, t in zip(scores, data_samples)]
        raise ValueError(f'unknown mode {mode!r}')

    def export_checkpoint(self) -> Checkpoint:
        """What this run produced, in the project's checkpoint format (for assembly and transfer)."""
        kind = self.role.get('type', 'target')
        if kind == 'hybrid':
            return module_checkpoint(self.network, int(self.role['module_idx']), self.target_arch)
        return network_checkpoint(self.network, kind='meta' if kind == 'meta' else 'model')

    def export_name(self) -> str:
        """The file name :meth:`export_checkpoint` is saved under (the run-record contract)."""
        return artifact_name(self.role.get('type', 'target'), self.role.get('module_idx'))

