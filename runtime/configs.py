"""A config checked before anything is built: what the tools do between reading it and the Runner.

* A pipeline config (``pipeline = dict(...)``) is not a training config: refused, naming
  ``tools/incubate.py``.
* The ``benchmark`` labels the report files runs by: an unknown label is refused (did you mean).
* The model dict: every component class of this project that the model dict names (by its
  ``type``, in mmengine's root ``MODELS``, e.g. ``IncubationClassifier``,
  ``IncubationViTBackbone``) checks its own dict and may complete the dict around it, through
  its ``prepare_config(cfg, where, parent)`` class method: unknown keys are refused in one line,
  and the dense backbone fits the neck next to it (:mod:`backbones.pyramid`). Other classes are
  left to their constructors (a rejected keyword becomes one line too, see
  :func:`runtime.cli.config_errors`).

``tools/train.py`` and ``tools/test.py`` call :func:`check_config`; :class:`CheckedRunner`
(``runner_type = 'CheckedRunner'`` in the dense tasks' runtime bases) does the model part for
the entry points that build the Runner themselves (``mim train``, mmdet's and mmseg's tools).
"""
from __future__ import annotations

import copy
from typing import Any, Iterator, Mapping, MutableMapping, Optional, Tuple

from mmengine.registry import MODELS, RUNNERS
from mmengine.runner import Runner

from .cli import UserError, check_keys
from .record import BENCHMARK_LABELS


def _components(node: Any, where: str, parent: Optional[MutableMapping[str, Any]] = None
                ) -> Iterator[Tuple[Any, MutableMapping[str, Any], str, Optional[MutableMapping[str, Any]]]]:
    """(class, its dict, its place, the dict holding it) for every dict naming a root ``MODELS``
    class with a ``prepare_config`` hook, outermost first."""
    if isinstance(node, MutableMapping):
        kind = node.get('type')
        cls = kind if isinstance(kind, type) else MODELS.module_dict.get(kind) if isinstance(kind, str) else None
        if cls is not None and hasattr(cls, 'prepare_config'):
            yield cls, node, where, parent
        for key, value in list(node.items()):
            yield from _components(value, f'{where}.{key}', node)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _components(value, f'{where}.{i}', parent)


def prepare_model_config(model: MutableMapping[str, Any], where: str = 'model') -> MutableMapping[str, Any]:
    """Run every ``prepare_config`` hook of the model dict (in place): checks, fitted necks.

    Args:
        model: a config's model dict.
        where: its place in the config, for the messages.

    Returns:
        ``model``, checked and completed.
    """
    for cls, node, place, parent in list(_components(model, where)):
        cls.prepare_config(node, place, parent)
    return model


def check_benchmark_labels(benchmark: Any, where: str = 'benchmark') -> None:
    """Refuse a ``benchmark`` label the report does not read (it would file the run wrongly)."""
    if isinstance(benchmark, Mapping):
        check_keys(benchmark, BENCHMARK_LABELS, where, 'the benchmark report')


def check_config(cfg: MutableMapping[str, Any], path: str) -> None:
    """Everything :mod:`runtime.configs` checks, before anything is built (one line each).

    Args:
        cfg: the config, with ``--cfg-options`` merged in.
        path: its file, for the messages.
    """
    if 'pipeline' in cfg and 'model' not in cfg:
        raise UserError(f'{path}: is a pipeline config (pipeline = dict(meta=..., incubate=..., finetune=...)), '
                        f'not a training config; run it with python tools/incubate.py {path} --work-dir DIR')
    if 'model' not in cfg:
        raise UserError(f'{path}: no `model = dict(...)`; is it a training config of this repository?')
    check_benchmark_labels(cfg.get('benchmark'))
    prepare_model_config(cfg['model'])


@RUNNERS.register_module()
class CheckedRunner(Runner):
    """mmengine's Runner, which prepares the model dict (:func:`prepare_model_config`) before
    building the model, so that ``mim train`` and the OpenMMLab tools check and fit the config
    as ``tools/train.py`` does."""

    def build_model(self, model: Any) -> Any:
        if isinstance(model, Mapping):
            model = prepare_model_config(copy.deepcopy(model))
            if self.cfg.get('model') is not None:
                self.cfg.model = copy.deepcopy(model)  # what the run dumps is what it built
        return super().build_model(model)
