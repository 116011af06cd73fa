"""Checkpoint formats, their validation, and atomic writing: the one module that reads files.

Formats read:
  * this project's own files (``format: incubation-vit``), of three kinds:
      - ``model``: a whole network (network parameter names), e.g. an assembled target;
      - ``meta``: a whole meta model (one or a few blocks per module);
      - ``module``: one incubated module ``module_idx`` (module-local names, blocks from 0),
        with the architecture of the target network it belongs to.
    Each stores ``arch`` (the constructor arguments that fix the shapes), so it is checked
    before use. ``model`` files keep their weights under ``state_dict``, which timm's
    ``load_checkpoint`` reads, so the ``.pth`` export is a timm checkpoint as it is.
  * timm checkpoints (a plain state dict, ``.pth`` or ``.safetensors``);
  * mmengine training checkpoints of a classifier (``state_dict`` with ``backbone.`` keys);
  * the authors' released format (``model`` + ``model_stages``), see :func:`convert_official`.

Everything loads with ``torch.load(weights_only=True)``: no file is ever unpickled with code.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import torch

from runtime.errors import UserError
from runtime.fileio import atomic_write, atomic_write_folder

from .division import Division, DivisionError, StateDict
from .presets import PRESETS, TIMM_BASE_NAME, TIMM_NAMES

FORMAT = 'incubation-vit'
VERSION = 1
KINDS = ('model', 'meta', 'module')
# Fields of ``arch`` that must agree between modules and the network they are put into.
SHAPE_FIELDS = ('embed_dim', 'num_heads', 'patch_size', 'in_chans', 'mlp_ratio', 'qkv_bias')
PathLike = Union[str, os.PathLike]


class CheckpointError(UserError):
    """A checkpoint file that is missing, unreadable or does not fit; the message names the file."""


@dataclass
class Checkpoint:
    """A checkpoint in memory: what it holds and where it came from."""

    kind: str
    state_dict: StateDict
    arch: Dict[str, Any] = field(default_factory=dict)
    module_idx: Optional[int] = None
    path: Optional[str] = None

    @property
    def division(self) -> Division:
        """The division recorded in ``arch['depths']``."""
        return Division(tuple(self.arch['depths']))

    def describe(self) -> str:
        """The file (and module) for error messages.

        Returns:
            The path, or ``<memory>``, with ``(module i)`` for a module checkpoint.
        """
        where = self.path or '<memory>'
        return f'{where} (module {self.module_idx})' if self.kind == 'module' else where


# --- writing ------------------------------------------------------------------------------------


def save_checkpoint(ckpt: Checkpoint, path: PathLike) -> Path:
    """Save a checkpoint in this project's format, atomically.

    Args:
        ckpt: what to save; tensors are moved to the CPU.
        path: the file to write (replaced only once fully written).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if ckpt.kind not in KINDS:
        raise ValueError(f'unknown checkpoint kind {ckpt.kind!r}')
    payload: Dict[str, Any] = dict(
        format=FORMAT, version=VERSION, kind=ckpt.kind, arch=_plain(ckpt.arch),
        state_dict={k: v.detach().cpu().contiguous() for k, v in ckpt.state_dict.items()})
    if ckpt.kind == 'module':
        payload['module_idx'] = int(ckpt.module_idx)
    if ckpt.kind == 'model':
        payload['timm_model'] = timm_model_args(ckpt.arch)
    path = Path(path)
    atomic_write(path, lambda tmp: _torch_save(payload, tmp))
    return path


def _torch_save(payload: Any, path: str) -> None:
    """``torch.save`` into an open file: given a path, torch names the archive's folder after the
    file, and the atomic writer's temporary name is random, so equal weights would give files of
    different sha256; through a file object the folder is always ``archive/``."""
    with open(path, 'wb') as f:
        torch.save(payload, f)


def export_timm(ckpt: Checkpoint, path: PathLike, folder: Optional[PathLike] = None) -> Dict[str, Path]:
    """Export a whole network for timm: ``<stem>.safetensors``, ``<stem>.pth`` and a timm local folder.

    ``timm.create_model(**timm_model_args(arch), checkpoint_path=...)`` loads either file, and
    ``timm.create_model('local-dir:FOLDER', pretrained=True)`` builds and loads the folder
    (:func:`save_timm_folder`), all with identical outputs.

    Args:
        ckpt: a ``model`` or ``meta`` checkpoint.
        path: where to write; its suffix is replaced.
        folder: the timm folder; default ``timm/`` beside ``path`` (:data:`runtime.record.TIMM_FOLDER`).

    Returns:
        ``{'safetensors': path, 'pth': path, 'timm': folder}``, what was written. The folder is
        written first, so that the two files (a pipeline phase's artifacts) mean it is there too.
    """
    from runtime.record import TIMM_FOLDER

    if ckpt.kind not in ('model', 'meta'):
        raise CheckpointError(f'{ckpt.describe()}: only a whole network can be exported to timm, not a {ckpt.kind}')
    from safetensors.torch import save_file

    stem = Path(path).with_suffix('')
    tensors = {k: v.detach().cpu().contiguous() for k, v in ckpt.state_dict.items()}
    folder_path = save_timm_folder(Checkpoint(ckpt.kind, tensors, ckpt.arch),
                                   folder if folder is not None else stem.parent / TIMM_FOLDER)
    metadata = {'format': FORMAT, 'arch': json.dumps(_plain(ckpt.arch)),
                'timm_model': json.dumps(timm_model_args(ckpt.arch))}
    st_path = stem.with_suffix('.safetensors')
    atomic_write(st_path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    pth_path = save_checkpoint(Checkpoint('model', tensors, ckpt.arch), stem.with_suffix('.pth'))
    return {'safetensors': st_path, 'pth': pth_path, 'timm': folder_path}


def save_timm_folder(ckpt: Checkpoint, folder: PathLike) -> Path:
    """A whole network as a timm local folder, written by timm's own ``save_for_hf``.

    ``config.json`` names a timm architecture (``vit_base_patch16_224`` for sizes timm has no
    name for) with the model arguments that give this network's shape (``depth``,
    ``embed_dim``, ``num_heads``, ``patch_size``, ``img_size``, ``num_classes``, ...; see
    :func:`timm_model_args`), beside ``model.safetensors``; so
    ``timm.create_model('local-dir:FOLDER', pretrained=True)`` builds any preset, the deep
    narrow ones included, and loads its weights.

    Args:
        ckpt: a whole-network checkpoint (``model`` or ``meta``) with its ``arch``.
        folder: the folder to write (replaced at once when it exists).

    Returns:
        ``folder`` as a :class:`~pathlib.Path`.
    """
    import timm
    from timm.models import save_for_hf

    args = timm_model_args(ckpt.arch)
    name = args.pop('model_name')
    # built without initialising (the weights are the checkpoint's), on the CPU where a buffer needs it
    with torch.device('meta'):
        model = timm.create_model(name, pretrained=False, **args)
    model.load_state_dict({k: v.detach().cpu() for k, v in ckpt.state_dict.items()}, strict=True, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        model = timm.create_model(name, pretrained=False, **args)
        model.load_state_dict(ckpt.state_dict, strict=True)
    atomic_write_folder(folder, lambda tmp: save_for_hf(model, tmp, safe_serialization=True))
    return Path(folder)


def timm_model_args(arch: Mapping[str, Any]) -> Dict[str, Any]:
    """``timm.create_model`` arguments that build a timm ViT with the layout of ``arch``.

    Args:
        arch: constructor arguments of :class:`~backbones.vit.IncubationViT` (``depths``,
            ``embed_dim``, ``num_heads``, ``patch_size``, ...).

    Returns:
        ``model_name`` plus the keyword overrides: timm's own name for the paper's sizes,
        otherwise ``vit_base_patch16_224`` with every shape argument given.
    """
    img_size = arch.get('img_size', 224)
    img_size = img_size[0] if isinstance(img_size, (list, tuple)) else img_size
    depth = sum(arch['depths'])
    for name, timm_name in TIMM_NAMES.items():
        # Exact paper sizes map to timm's own names; everything else overrides one of them.
        preset = PRESETS[name]
        if (preset['embed_dim'], preset['num_heads'], preset['patch_size'], sum(preset['depths']),
                preset['img_size']) == (arch['embed_dim'], arch['num_heads'], arch['patch_size'], depth, img_size):
            return dict(model_name=timm_name, num_classes=arch.get('num_classes', 1000),
                        **({'global_pool': arch['global_pool']} if 'global_pool' in arch else {}))
    pool = {'global_pool': arch['global_pool']} if 'global_pool' in arch else {}
    return dict(model_name=TIMM_BASE_NAME, **pool, img_size=img_size, patch_size=arch['patch_size'],
                embed_dim=arch['embed_dim'], depth=depth, num_heads=arch['num_heads'],
                mlp_ratio=arch.get('mlp_ratio', 4.0), qkv_bias=arch.get('qkv_bias', True),
                in_chans=arch.get('in_chans', 3), num_classes=arch.get('num_classes', 1000))


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively: checkpoints hold only types ``weights_only`` accepts."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- reading ------------------------------------------------------------------------------------


def read_file(path: PathLike) -> Any:
    """Read a checkpoint file with ``weights_only=True``.

    Args:
        path: a ``.safetensors`` file or anything ``torch.load`` reads.

    Returns:
        What ``torch.load`` returns, or for safetensors ``{'__safetensors__': True,
        'state_dict': tensors, 'metadata': metadata}``; raises :class:`CheckpointError`,
        naming the file, for a missing or unreadable one.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: checkpoint file not found')
    if path.suffix == '.safetensors':
        from safetensors import safe_open
        try:
            with safe_open(str(path), framework='pt') as f:
                metadata = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:
            raise CheckpointError(f'{path}: not a readable safetensors checkpoint ({exc})') from exc
        return {'__safetensors__': True, 'state_dict': tensors, 'metadata': metadata}
    from runtime.checkpoint import load_failure, not_a_checkpoint

    problem = not_a_checkpoint(str(path))
    if problem is not None:
        raise CheckpointError(problem)
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:
        raise CheckpointError(load_failure(str(path), exc)) from exc


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Load any supported checkpoint (see the module docstring).

    Args:
        path: the checkpoint file.

    Returns:
        The checkpoint, with its architecture read from the file or inferred from the weights.
    """
    raw = read_file(path)
    path = str(path)
    if not isinstance(raw, Mapping):
        raise CheckpointError(f'{path}: expected a dict of weights, found {type(raw).__name__}')
    if raw.get('format') == FORMAT:
        kind = raw.get('kind')
        if kind not in KINDS or not isinstance(raw.get('state_dict'), Mapping):
            raise CheckpointError(f'{path}: damaged {FORMAT} checkpoint (kind={kind!r})')
        return Checkpoint(kind, dict(raw['state_dict']), dict(raw.get('arch', {})), raw.get('module_idx'), path)
    if raw.get('__safetensors__'):
        meta = raw['metadata']
        arch = json.loads(meta['arch']) if 'arch' in meta else {}
        state = raw['state_dict']
    elif 'model_stages' in raw:
        raise CheckpointError(f'{path}: this is a checkpoint in the authors\' format; convert it first with '
                              f'`python tools/convert_official.py {path} OUT.pth`')
    else:
        state = raw.get('state_dict', raw.get('model', raw))
        # an mmengine checkpoint of our classifier records its network's architecture (ExportHook)
        recorded = raw.get('meta', {}).get('arch') if isinstance(raw.get('meta'), Mapping) else None
        arch = dict(recorded) if isinstance(recorded, Mapping) else {}
        if not isinstance(state, Mapping):
            raise CheckpointError(f'{path}: no state dict found (keys: {sorted(raw)[:8]})')
        # an mmengine checkpoint: of our classifier (``network.``) or a dense model (``backbone.vit.``)
        for prefix in ('network.', 'backbone.vit.', 'backbone.'):
            if any(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
                break
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if 'pos_embed' not in state or 'patch_embed.proj.weight' not in state:
        raise CheckpointError(f'{path}: not a ViT checkpoint (no pos_embed / patch_embed.proj.weight; '
                              f'first keys: {list(state)[:5]})')
    return Checkpoint('model', dict(state), arch or infer_arch(state), None, path)


def infer_arch(state: Mapping[str, torch.Tensor], num_heads: Optional[int] = None,
               depths: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """Architecture of a whole-network timm-style state dict, as far as the weights tell it.

    The head count cannot be read from weights: it is ``num_heads`` when given, otherwise it
    is left out, so that :func:`check_arch` does not compare it and whoever needs it reads it
    from a config or from metadata (never a guess from the width).

    Args:
        state: the state dict, with timm's parameter names.
        num_heads: the head count, if known.
        depths: per-module depths, if known (default: one module of the whole depth).

    Returns:
        Constructor arguments of :class:`~backbones.vit.IncubationViT` (without ``num_heads``
        unless it was given).
    """
    proj = state['patch_embed.proj.weight']
    embed_dim, in_chans, patch_size = proj.shape[0], proj.shape[1], proj.shape[-1]
    tokens = state['pos_embed'].shape[1] - 1
    side = int(round(tokens ** 0.5))
    depth = 1 + max(int(k.split('.')[1]) for k in state if k.startswith('blocks.'))
    head = state.get('head.weight')
    fc1 = state['blocks.0.mlp.fc1.weight']
    arch = dict(depths=list(depths or [depth]), img_size=[side * patch_size] * 2, patch_size=patch_size,
                in_chans=in_chans, num_classes=0 if head is None else head.shape[0], embed_dim=embed_dim,
                mlp_ratio=fc1.shape[0] / embed_dim, qkv_bias='blocks.0.attn.qkv.bias' in state)
    if num_heads is not None:
        arch['num_heads'] = int(num_heads)
    return arch


# The released models of the paper's authors: the head count of each width (ViT-B/L/H, DeiT-T/S).
PAPER_HEADS = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}


# --- validation -----------------------------------------------------------------------------------


def check_arch(ckpt: Checkpoint, arch: Mapping[str, Any], what: str) -> None:
    """Raise unless a checkpoint was made for a network of the same width, heads, patch size...

    Args:
        ckpt: the checkpoint; fields its ``arch`` does not record are not checked.
        arch: the constructor arguments of the network it is meant for.
        what: how the error message names that network.
    """
    for name in SHAPE_FIELDS:
        if name in ckpt.arch and name in arch and ckpt.arch[name] != arch[name]:
            raise CheckpointError(f'{ckpt.describe()}: {name} is {ckpt.arch[name]} but the {what} '
                                  f'has {name} {arch[name]}')


def check_state_shapes(ckpt: Checkpoint, expected: Mapping[str, torch.Tensor], what: str,
                       ignore: Sequence[str] = ()) -> None:
    """Raise unless the checkpoint holds exactly the expected tensors, with the same shapes.

    Args:
        ckpt: the checkpoint.
        expected: the receiving network's state dict.
        what: how the error message names that network.
        ignore: name prefixes that may be missing from the checkpoint.
    """
    state = ckpt.state_dict
    missing = [k for k in expected if k not in state and not k.startswith(tuple(ignore))]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise CheckpointError(f'{ckpt.describe()}: does not fit the {what}: missing {missing[:6]}, '
                              f'unexpected {unexpected[:6]}')
    for key, ref in expected.items():
        if key in state and tuple(state[key].shape) != tuple(ref.shape):
            raise CheckpointError(f'{ckpt.describe()}: {key} has shape {tuple(state[key].shape)}, the {what} '
                                  f'needs {tuple(ref.shape)}')


def load_module_checkpoints(paths: Sequence[PathLike], arch: Mapping[str, Any]) -> List[Checkpoint]:
    """Load and check the K module checkpoints of a target network.

    Args:
        paths: the K files, in module order.
        arch: the target's constructor arguments.

    Returns:
        The K checkpoints; raises :class:`CheckpointError`, naming the file, for a wrong kind,
        index, division or shape field.
    """
    division = Division(tuple(arch['depths']))
    if len(paths) != division.num_modules:
        raise CheckpointError(f'the target {division} has {division.num_modules} modules but '
                              f'{len(paths)} module checkpoints were given')
    modules = []
    for idx, path in enumerate(paths):
        ckpt = load_checkpoint(path)
        if ckpt.kind != 'module':
            raise CheckpointError(f'{path}: expected the checkpoint of module {idx}, found a {ckpt.kind} checkpoint')
        if ckpt.module_idx != idx:
            raise CheckpointError(f'{path}: holds module {ckpt.module_idx}, but is given as module {idx}')
        if tuple(ckpt.arch.get('depths', ())) != division.depths:
            raise CheckpointError(f'{path} (module {idx}): made for the division {tuple(ckpt.arch.get("depths", ()))}, '
                                  f'the target is {division}')
        check_arch(ckpt, arch, 'target network')
        modules.append(ckpt)
    return modules


def to_network_state(division: Division, modules: Sequence[Checkpoint]) -> StateDict:
    """Merge module checkpoints into a network state dict.

    Args:
        division: the target's division.
        modules: the K module checkpoints, in module order.

    Returns:
        The network state dict; raises :class:`CheckpointError`, naming the file, on a misfit.
    """
    state: StateDict = {}
    for idx, ckpt in enumerate(modules):
        try:
            state.update(division.module_to_network_keys(idx, ckpt.state_dict))
        except DivisionError as exc:
            raise CheckpointError(f'{ckpt.describe()}: {exc}') from exc
    return state


# --- the authors' released format --------------------------------------------------------------


def convert_official(raw: Mapping[str, Any], num_heads: Optional[int] = None, kind: Optional[str] = None,
                     module_idx: Optional[int] = None, meta_depth: int = 1, path: str = '<official>') -> Checkpoint:
    """Convert a checkpoint in the authors' released format into this project's format.

    The authors' files hold the whole network under ``model`` and the same weights cut into
    modules under ``model_stages``: a list of K module state dicts (module 0 holds the
    embedding, the last holds norm and head, block indices restart at 0). Its per-module
    depths tell the kind: all equal to ``meta_depth`` -> a meta model; one module deeper than
    the rest -> an incubation run of that module (``kind='module'``); otherwise a finished model.

    Args:
        raw: the loaded file.
        num_heads: the head count (not readable from weights; see :func:`infer_arch`).
        kind: ``'model'``, ``'meta'`` or ``'module'``; default: told by the depths.
        module_idx: the incubated module of a ``module`` checkpoint; default: the deeper one.
        meta_depth: blocks per meta module.
        path: the file's name, for error messages.

    Returns:
        The converted checkpoint.
    """
    stages = raw.get('model_stages')
    if not isinstance(stages, (list, tuple)) or len(stages) < 2:
        raise CheckpointError(f'{path}: no `model_stages` list of at least two module state dicts')
    stages = [{k: v for k, v in s.items() if isinstance(v, torch.Tensor)} for s in stages]
    depths = []
    for idx, stage in enumerate(stages):
        blocks = {int(k.split('.')[1]) for k in stage if k.startswith('blocks.')}
        if not blocks or blocks != set(range(len(blocks))):
            raise CheckpointError(f'{path}: model_stages[{idx}] has blocks {sorted(blocks)}; expected 0..n-1')
        depths.append(len(blocks))
    division = Division(tuple(depths))
    try:
        state = division.merge_state_dicts(stages)
    except DivisionError as exc:
        raise CheckpointError(f'{path}: {exc}') from exc
    if num_heads is None:
        width = state['patch_embed.proj.weight'].shape[0]
        if width not in PAPER_HEADS:
            raise CheckpointError(f'{path}: width {width} is none of the paper\'s models '
                                  f'({sorted(PAPER_HEADS)}); give the head count (--num-heads)')
        num_heads = PAPER_HEADS[width]
    arch = infer_arch(state, num_heads=num_heads, depths=depths)
    if kind is None:
        deeper = [i for i, d in enumerate(depths) if d != meta_depth]
        kind = 'meta' if not deeper else 'module' if len(deeper) == 1 and module_idx is None else 'model'
        if kind == 'module':
            module_idx = deeper[0]
    if kind == 'module':
        if module_idx is None or not 0 <= module_idx < len(stages):
            raise CheckpointError(f'{path}: say which module was incubated (module_idx 0..{len(stages) - 1})')
        # The module belongs to a target whose other modules have its depth (the paper's even split).
        target = dict(arch, depths=[depths[module_idx]] * len(depths))
        return Checkpoint('module', stages[module_idx], target, module_idx, path)
    if kind not in ('model', 'meta'):
        raise CheckpointError(f'{path}: unknown kind {kind!r}')
    return Checkpoint(kind, state, arch, None, path)
