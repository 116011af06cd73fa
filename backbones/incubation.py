"""The three roles of one network in Deep Incubation, as plain functions.

* :func:`build_meta_model` - the tiny meta model: ``meta_depth`` blocks per module.
* :func:`build_hybrid_model` - the meta model with module ``i`` replaced by the real target
  module (freshly initialised); meta weights are loaded from a meta checkpoint and frozen, so
  only module ``i`` trains. With ``requires_grad=False`` on the meta modules, autograd records
  nothing for the frozen modules *before* ``i`` (neither their inputs nor their weights need a
  gradient); those *after* ``i`` pass gradients through to module ``i`` but compute none for
  their own weights. Running that prefix under ``torch.no_grad()`` as well changes nothing
  measurable: ``python -m benchmarks speed --nograd-prefix`` gives the same FLOPs and peak
  memory and no time difference beyond run-to-run noise (ViT-B/16, batch 8, CPU).
* :func:`assemble_model` - the target network from K incubated-module checkpoints (embedding
  from module 0's run, norm and head from module K-1's run).

The model class knows nothing about incubation; all of it is here.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence, Union

from .checkpoints import (
    Checkpoint,
    CheckpointError,
    PathLike,
    check_arch,
    check_state_shapes,
    load_checkpoint,
    load_module_checkpoints,
    to_network_state,
)
from .division import Division
from .presets import get_preset
from .vit import IncubationViT

ArchLike = Union[str, Mapping[str, Any]]


def resolve_arch(arch: ArchLike, **overrides: Any) -> Dict[str, Any]:
    """Constructor arguments from a preset name or a dict.

    Args:
        arch: a preset name of ``backbones.presets`` or a dict of constructor arguments with
            per-module ``depths``.
        **overrides: constructor arguments replacing those of ``arch``.

    Returns:
        :class:`IncubationViT` keyword arguments, ``depths`` a tuple.
    """
    if isinstance(arch, str):
        return get_preset(arch, **overrides)
    kwargs = dict(arch)
    kwargs.update(overrides)
    if 'depths' not in kwargs:
        raise ValueError('an architecture dict needs per-module `depths`')
    kwargs['depths'] = tuple(kwargs['depths'])
    return kwargs


def build_model(arch: ArchLike, **overrides: Any) -> IncubationViT:
    """The target network (also the E2E baseline), freshly initialised.

    Args:
        arch: a preset name or an architecture dict (see :func:`resolve_arch`).
        **overrides: constructor arguments replacing those of ``arch``.

    Returns:
        The network.
    """
    return IncubationViT(**resolve_arch(arch, **overrides))


def meta_division(target: Division, meta_depth: int = 1) -> Division:
    """The division of a target's meta model.

    Args:
        target: the target network's division.
        meta_depth: blocks per meta module.

    Returns:
        K modules of ``meta_depth`` blocks each.
    """
    return Division((meta_depth,) * target.num_modules)


def build_meta_model(arch: ArchLike, meta_depth: int = 1, **overrides: Any) -> IncubationViT:
    """The meta model of an architecture: same K, width, heads and patch size, fewer blocks.

    Args:
        arch: the target architecture (preset name or dict).
        meta_depth: blocks per meta module.
        **overrides: constructor arguments replacing those of ``arch``.

    Returns:
        The meta model, freshly initialised.
    """
    kwargs = resolve_arch(arch, **overrides)
    kwargs['depths'] = meta_division(Division(kwargs['depths']), meta_depth).depths
    return IncubationViT(**kwargs)


def load_meta_checkpoint(path: PathLike, arch: Mapping[str, Any]) -> Checkpoint:
    """Load a meta checkpoint and check that it is the meta model of an architecture.

    Args:
        path: the meta checkpoint (any whole-network format with per-module ``depths``).
        arch: the target's constructor arguments.

    Returns:
        The checkpoint; raises :class:`CheckpointError`, naming the file, if it does not fit.
    """
    ckpt = load_checkpoint(path)
    target = Division(tuple(arch['depths']))
    if ckpt.kind == 'module':
        raise CheckpointError(f'{path}: is a module checkpoint, not a meta model')
    if not ckpt.arch.get('depths'):
        raise CheckpointError(f'{path}: no per-module depths recorded; convert it with tools/convert_official.py')
    meta = ckpt.division
    if meta.num_modules != target.num_modules:
        raise CheckpointError(f'{path}: the meta model has {meta.num_modules} modules {meta}, '
                              f'the target division {target} has {target.num_modules}')
    check_arch(ckpt, arch, 'target network')
    return ckpt


def build_hybrid_model(arch: ArchLike, module_idx: int, meta_checkpoint: PathLike,
                       **overrides: Any) -> IncubationViT:
    """Target module ``module_idx`` inside a trained meta model, the meta modules frozen.

    Args:
        arch: the target architecture (preset name or dict).
        module_idx: the module to incubate, 0-based; it is freshly initialised.
        meta_checkpoint: the trained meta model of ``arch``.
        **overrides: constructor arguments replacing those of ``arch``.

    Returns:
        The hybrid network; only module ``module_idx``'s parameters require gradients.
    """
    kwargs = resolve_arch(arch, **overrides)
    target = Division(kwargs['depths'])
    target.check_module(module_idx)
    meta = load_meta_checkpoint(meta_checkpoint, kwargs)
    hybrid = meta.division.with_module(module_idx, target.depths[module_idx])
    model = IncubationViT(**dict(kwargs, depths=hybrid.depths))

    # Take every meta module except module_idx; that one stays freshly initialised.
    meta_modules = meta.division.split_state_dict(meta.state_dict)
    own = model.division.split_state_dict(model.state_dict())
    meta_modules[module_idx] = own[module_idx]
    state = model.division.merge_state_dicts(meta_modules)
    check_state_shapes(Checkpoint('meta', state, meta.arch, path=str(meta_checkpoint)), model.state_dict(),
                       f'hybrid network for module {module_idx} (division {hybrid})')
    model.load_state_dict(state, strict=True)
    freeze_all_but_module(model, module_idx)
    return model


def freeze_all_but_module(model: IncubationViT, module_idx: int) -> None:
    """Set ``requires_grad`` so that only one module trains.

    Args:
        model: a network with a division.
        module_idx: the module that keeps trainable parameters, 0-based.
    """
    model.division.check_module(module_idx)
    for name, param in model.named_parameters():
        param.requires_grad_(model.division.module_of_key(name) == module_idx)


def module_checkpoint(model: IncubationViT, module_idx: int, target_arch: Mapping[str, Any]) -> Checkpoint:
    """The trained module of a hybrid as a module checkpoint.

    Args:
        model: the hybrid network.
        module_idx: the incubated module, 0-based.
        target_arch: the constructor arguments of the target network the module belongs to.

    Returns:
        A ``module`` checkpoint with module-local names (blocks from 0).
    """
    state = model.division.split_state_dict(model.state_dict())[module_idx]
    return Checkpoint('module', state, dict(target_arch), module_idx)


def network_checkpoint(model: IncubationViT, kind: str = 'model') -> Checkpoint:
    """A whole network as a checkpoint.

    Args:
        model: the network.
        kind: ``'model'``, or ``'meta'`` for a meta model.

    Returns:
        The checkpoint, with the network's :meth:`~IncubationViT.arch_config`.
    """
    return Checkpoint(kind, dict(model.state_dict()), model.arch_config())


def assemble_model(arch: ArchLike, module_checkpoints: Sequence[PathLike],
                   **overrides: Any) -> IncubationViT:
    """The target network from its K incubated modules (all checked before anything is loaded).

    Args:
        arch: the target architecture (preset name or dict).
        module_checkpoints: the K module checkpoints, in module order.
        **overrides: constructor arguments replacing those of ``arch``.

    Returns:
        The assembled network: embedding from module 0, norm and head from module K-1.
    """
    kwargs = resolve_arch(arch, **overrides)
    model = IncubationViT(**kwargs)
    modules = load_module_checkpoints(module_checkpoints, model.arch_config())
    state = to_network_state(model.division, modules)
    check_state_shapes(Checkpoint('model', state, path=', '.join(map(str, module_checkpoints))),
                       model.state_dict(), f'target network {model.division}')
    model.load_state_dict(state, strict=True)
    return model


def load_pretrained(model: IncubationViT, path: PathLike) -> Dict[str, Any]:
    """Initialise a whole network from any supported whole-network checkpoint.

    timm's ``checkpoint_filter_fn`` resamples the position embedding to this network's grid;
    the head is dropped when its size differs (e.g. an ImageNet-1k head into a 10-class or a
    dense model). Every other tensor of the network must come from the file: a checkpoint that
    leaves any of them uninitialised (a truncated or a foreign file) is refused, naming it.

    Args:
        model: the network to load into (its architecture is checked against the file's).
        path: a whole-network checkpoint in any format :func:`load_checkpoint` reads.

    Returns:
        The load report: ``{'checkpoint': path, 'kind': the file's kind, 'loaded': number of
        tensors loaded, 'resampled': {name: [shape in the file, shape loaded]}, 'dropped': [names of
        the checkpoint's head tensors that were not loaded], 'skipped'`` (the same list, its older name)``,
        'initialised': [names of the network's tensors left at their initialisation]}``.
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    ckpt = load_checkpoint(path)
    if ckpt.kind == 'module':
        raise CheckpointError(f'{path}: is the checkpoint of one module; assemble the K modules first')
    check_arch(ckpt, model.arch_config(), 'network being initialised')
    state = checkpoint_filter_fn(dict(ckpt.state_dict), model)
    own = model.state_dict()
    dropped = [k for k in list(state) if k.startswith('head.') and (k not in own or own[k].shape != state[k].shape)]
    for key in dropped:
        del state[key]
    check_state_shapes(Checkpoint(ckpt.kind, state, path=str(path)), own, f'network {model.division}',
                       ignore=('head.',))
    resampled = {k: [list(ckpt.state_dict[k].shape), list(v.shape)] for k, v in state.items()
                 if k in ckpt.state_dict and tuple(ckpt.state_dict[k].shape) != tuple(v.shape)}
    model.load_state_dict(state, strict=False)
    initialised = sorted(k for k in own if k not in state)
    return dict(checkpoint=str(path), kind=ckpt.kind, loaded=len(state), resampled=resampled, dropped=dropped,
                skipped=dropped, initialised=initialised)
