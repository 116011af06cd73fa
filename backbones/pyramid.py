"""The feature pyramid a plain ViT feeds: the neck's input channels and scales follow the backbone.

A plain ViT gives maps at one stride, its patch size, all of its width. Detection and
segmentation heads expect a pyramid of strides 4, 8, 16 and 32 (and 64 for mmdet's RPN), so
the neck between them rescales each map by ``patch / stride``. Both follow from the backbone
and are filled in, before anything is built, by :func:`fit_neck` (from
:meth:`backbones.IncubationViTBackbone.prepare_config`):

* ``SimpleFeaturePyramid`` (``detection/necks.py``): ``in_channels`` = the ViT's width;
  ``scale_factors`` = ``patch / stride`` for the strides of the detector's anchor generator
  (4, 8, 16, 32 when there is none), further levels up to ``num_outs`` max-pooled. It rescales
  by stride-2 steps, so only a patch size that is a power of two gives those strides; any other
  is refused. The pyramid's strides are checked against the anchor generator's and the RoI
  extractors' ``featmap_strides`` in the same model dict.
* mmseg's ``MultiLevelNeck``: ``in_channels`` = the width once per backbone output; ``scales``
  = the powers of two nearest to ``patch / stride`` for strides 4, 8, 16, 32: exactly those
  strides from a power-of-two patch, and 3.5 to 28 from patch 14, which UperNet takes as they
  are (it resizes between levels; nothing in it is tied to a stride).

A value that is absent or ``None`` is filled in; one that is given must be the one the backbone
gives, otherwise the config is refused with one line naming the key.
"""
from __future__ import annotations

import math
from typing import Any, List, Mapping, MutableMapping, Sequence, Tuple

from runtime.cli import UserError

PYRAMID_STRIDES = (4, 8, 16, 32)
DETECTION_LEVELS = 4  # built levels of the simple feature pyramid (ViTDet); more are pooled


def _number(x: float) -> Any:
    """4.0 -> 4, 0.5 -> 0.5: strides and scales as a user writes them."""
    return int(x) if float(x).is_integer() else float(x)


def _show(values: Sequence[float]) -> str:
    return '(' + ', '.join(str(_number(v)) for v in values) + ')'


def is_power_of_two(x: float) -> bool:
    return x > 0 and 2.0 ** round(math.log2(x)) == float(x)


def fit_neck(model: MutableMapping[str, Any], arch: Mapping[str, Any], outputs: int, where: str = 'model.neck',
             backbone: str = 'model.backbone') -> None:
    """Fill in and check, in place, the neck of a model dict whose backbone is a plain ViT.

    Args:
        model: the model dict (``backbone``, ``neck``, heads).
        arch: the backbone ViT's constructor arguments (``patch_size``, ``embed_dim``).
        outputs: how many maps the backbone returns (its ``out_indices``).
        where: the neck's place in the config, for the messages.
        backbone: the backbone's place in the config, for the messages.
    """
    neck = model['neck']
    kind = str(getattr(neck.get('type'), '__name__', neck.get('type'))).split('.')[-1]
    patch, width = int(arch['patch_size']), int(arch['embed_dim'])
    name = (model.get('backbone') or {}).get('arch')
    about = f'{backbone} ({name + ", " if isinstance(name, str) else ""}patch {patch}, width {width})'
    if kind == 'SimpleFeaturePyramid':
        _fill(neck, 'in_channels', width, where, about)
        _fit_simple_pyramid(model, neck, patch, where, about)
    elif kind == 'MultiLevelNeck':
        _fill(neck, 'in_channels', [width] * outputs, where, about)
        levels = outputs if outputs > 1 else len(PYRAMID_STRIDES)
        strides = [PYRAMID_STRIDES[0] * 2 ** i for i in range(levels)]
        _fill(neck, 'scales', [_number(2.0 ** round(math.log2(patch / s))) for s in strides], where, about)


def _fill(neck: MutableMapping[str, Any], key: str, value: Any, where: str, about: str) -> None:
    given = neck.get(key)
    if given is None:
        neck[key] = value
        return
    same = (list(map(float, given)) == list(map(float, value)) if isinstance(value, list)
            else isinstance(given, (int, float)) and float(given) == float(value))
    if not same:
        raise UserError(f'{where}.{key}={given}: the backbone {about} needs {value}; leave {key} out '
                        f'(it follows the backbone) or set it to {value}')


def target_strides(model: Mapping[str, Any]) -> List[Tuple[str, List[Any]]]:
    """The strides the heads of a model dict expect, with their place in the config: every
    ``anchor_generator`` / ``prior_generator`` ``strides`` and every ``featmap_strides``."""
    found: List[Tuple[str, List[Any]]] = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                here = f'{path}.{key}'
                if key in ('anchor_generator', 'prior_generator') and isinstance(value, Mapping) \
                        and value.get('strides') is not None:
                    found.append((f'{here}.strides', [_stride(s) for s in value['strides']]))
                elif key == 'featmap_strides' and value is not None:
                    found.append((here, [_stride(s) for s in value]))
                elif key not in ('backbone', 'neck'):
                    visit(value, here)
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                visit(value, f'{path}.{i}')

    visit(model, 'model')
    return found


def _stride(s: Any) -> Any:
    """A stride as one number (mmdet also writes square ones as ``(w, h)``)."""
    if isinstance(s, (list, tuple)):
        return _number(s[0]) if len(set(s)) == 1 else tuple(s)
    return _number(s)


def pyramid_strides(patch: int, scale_factors: Sequence[float], num_outs: int) -> List[Any]:
    """The strides of a simple feature pyramid on a stride-``patch`` map: one per scale factor,
    then each further level (up to ``num_outs``) twice the last."""
    strides = [patch / float(f) for f in scale_factors]
    while len(strides) < num_outs:
        strides.append(strides[-1] * 2)
    return [_number(s) for s in strides]


def _fit_simple_pyramid(model: Mapping[str, Any], neck: MutableMapping[str, Any], patch: int, where: str,
                        about: str) -> None:
    targets = target_strides(model)
    anchors = next((strides for path, strides in targets if 'featmap_strides' not in path), None)
    num_outs = int(neck.get('num_outs', 5))
    wanted = list(anchors[:DETECTION_LEVELS]) if anchors else list(PYRAMID_STRIDES)
    derived = [patch / float(s) for s in wanted]
    if not all(is_power_of_two(f) for f in derived):
        source = next(path for path, strides in targets if strides == anchors) if anchors else 'the heads'
        raise UserError(f'{where}: the backbone {about} cannot give the strides {_show(wanted)} of {source}: '
                        f'the scale factors {_show(derived)} are not powers of two (the pyramid rescales by '
                        f'stride-2 steps); use a backbone whose patch size is a power of two (4, 8, 16, 32)')
    given = neck.get('scale_factors')
    if given is not None:
        odd = [f for f in given if not is_power_of_two(float(f))]
        if odd:
            raise UserError(f'{where}.scale_factors={_show(given)}: {_number(odd[0])} is not a power of two; '
                            f'leave scale_factors out (they follow the backbone) or set {_show(derived)}')
    factors = derived if given is None else [float(f) for f in given]
    strides = pyramid_strides(patch, factors, num_outs)
    for path, expected in targets:
        exact = 'featmap_strides' not in path  # the anchors cover every level, RoI extractors the first ones
        if (strides if exact else strides[:len(expected)]) != list(expected):
            what = (f'{where}.scale_factors={_show(given)}' if given is not None
                    else f'{where} (num_outs={num_outs})')
            fix = (f'leave scale_factors out (they follow the backbone) or set {_show(derived)}' if given is not None
                   else f'make {path} the strides {_show(strides)} or change {where}.num_outs')
            raise UserError(f'{what}: with the backbone {about} the pyramid has strides {_show(strides)}, '
                            f'but {path} is {_show(expected)}; {fix}')
    if given is None:
        neck['scale_factors'] = tuple(_number(f) for f in derived)
