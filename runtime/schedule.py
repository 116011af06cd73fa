"""Fit a config's warm-up + decay schedule to its training length.

Recipes write the warm-up as a fixed length (``LinearLR ... end=20`` followed by
``CosineAnnealingLR ... begin=20``). A shorter run (``--cfg-options train_cfg.max_epochs=10``,
a short pipeline phase) then asks mmengine for a decay that begins after training ends, and
mmengine refuses with "end should be larger than begin". :func:`fit_schedule_to_epochs`
clips such a schedule instead.

Rule, with ``N`` the training length (``train_cfg.max_epochs`` for epoch-based schedulers in an
epoch-based loop, ``train_cfg.max_iters`` for iteration-based schedulers in an
iteration-based loop):

* a phase boundary at or after ``N`` (a ``begin``, or an ``end`` where another scheduler
  begins) moves to ``N - 1``: the warm-up keeps its length where the run has room for it
  plus one step of decay, and is cut to ``N - 1`` otherwise;
* a scheduler left with nothing to do (``end <= begin``, e.g. the warm-up when ``N`` is 1) is
  dropped, so a 1-epoch run has no warm-up;
* an explicit ``end`` beyond ``N`` that is not a boundary (a decay meant to end later) stays:
  it does not crash, and changing it would change the recipe;
* ``N < 1`` is an error naming the value.

It edits the config only; mmengine is imported only to log.
"""
from __future__ import annotations

from typing import Any, Dict, List, MutableMapping, Optional, Tuple

from .cli import UserError


class ScheduleError(UserError):
    """The training length cannot hold any schedule (e.g. ``train_cfg.max_epochs=0``)."""


def _training_length(train_cfg: MutableMapping[str, Any]) -> Optional[Tuple[str, int, bool]]:
    """(key, length, schedulers' by_epoch) of the training loop, or None for a loop without one."""
    if train_cfg.get('type') == 'IterBasedTrainLoop' or ('max_iters' in train_cfg and 'max_epochs' not in train_cfg):
        key, by_epoch = 'max_iters', False
    elif 'max_epochs' in train_cfg:
        key, by_epoch = 'max_epochs', True
    else:
        return None
    value = train_cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError(f'train_cfg.{key}={value!r}: must be a whole number >= 1')
    if value < 1:
        raise ScheduleError(f'train_cfg.{key}={value}: a run needs at least 1 '
                            f'{"epoch" if by_epoch else "iteration"}; give train_cfg.{key} >= 1')
    return key, value, by_epoch


def _name(sched: Dict[str, Any]) -> str:
    return str(sched.get('type', 'scheduler'))


def fit_schedule_to_epochs(cfg: MutableMapping[str, Any], logger: Optional[str] = 'current') -> List[str]:
    """Clip ``cfg.param_scheduler`` to the training length in place (rule: module docstring).

    Args:
        cfg: an mmengine ``Config`` (or a dict) after all overrides are merged.
        logger: mmengine logger name to log each change to (``None``: do not log).

    Returns:
        One message per change (empty when the schedule already fits).

    Raises:
        ScheduleError: the training length is below 1 or not a whole number.
    """
    train_cfg = cfg.get('train_cfg') or {}
    length = _training_length(train_cfg)
    schedulers = cfg.get('param_scheduler')
    if length is None or not schedulers:
        return []
    key, n, by_epoch = length
    unit = 'epoch' if by_epoch else 'iteration'
    single = isinstance(schedulers, MutableMapping)
    scheds = [schedulers] if single else list(schedulers)
    ours = [s for s in scheds if bool(s.get('by_epoch', True)) == by_epoch]
    # A boundary is an ``end`` where another scheduler of the same unit begins.
    begins = {s.get('begin', 0) for s in ours}
    limit = max(n - 1, 0)
    changes: List[str] = []
    kept: List[Any] = []
    for s in scheds:
        if not any(s is o for o in ours):
            kept.append(s)
            continue
        begin, end = s.get('begin', 0), s.get('end')
        new_begin = limit if begin > limit else begin
        new_end = limit if end is not None and end in begins and end > limit else end
        moved = (new_begin, new_end) != (begin, end)
        if moved and new_end is not None and new_end <= new_begin:
            changes.append(f'{_name(s)} ({unit}s {begin}-{end}) dropped')
            continue
        if moved:
            changes.append(f'{_name(s)} {unit}s {begin}-{"end" if end is None else end} -> '
                           f'{new_begin}-{"end" if new_end is None else new_end}')
            s['begin'] = new_begin
            if end is not None:
                s['end'] = new_end
        kept.append(s)
    if not changes:
        return []
    cfg['param_scheduler'] = kept[0] if single and kept else kept
    messages = [f'schedule clipped to train_cfg.{key}={n} (a warm-up leaves at least one {unit} of decay): '
                + '; '.join(changes)]
    if logger is not None:
        from mmengine.logging import print_log
        for message in messages:
            print_log(message, logger=logger)
    return messages
