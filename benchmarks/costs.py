"""A run's three costs, read from its records in one place.

* ``train_device_hours``: training only (``runtime.DeviceHoursHook``; GPU wall clock x GPUs, or
  CPU time of the training process);
* ``e2e_device_hours``: from process start to exit (start-up, data set scan, evaluation and
  checkpointing included);
* ``train_flops``: training FLOPs, deterministic and free of machine noise.

A work dir's ``cost.json`` holds them as ``device_hours``, ``e2e_device_hours`` and
``train_flops``; a pipeline's ``manifest.json`` may hold the last two in its ``cost`` for the
whole pipeline (its own process included), else they are summed over its phases. A cost that a
record does not hold is None: shown as missing, never as zero.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from runtime import record

COSTS = ('train_device_hours', 'e2e_device_hours', 'train_flops')
COST_LABELS = {'train_device_hours': 'training device-h', 'e2e_device_hours': 'end-to-end device-h',
               'train_flops': 'training FLOPs'}
# The record's key for each cost (cost.json, and a manifest's ``cost``).
RECORD_KEYS = {'train_device_hours': 'device_hours', 'e2e_device_hours': 'e2e_device_hours',
               'train_flops': 'flops'}
DEFAULT_RATIO_COST = 'train_flops'


def record_costs(cost: Optional[Mapping[str, Any]]) -> Dict[str, Optional[float]]:
    """The three costs of one record (``cost.json`` or a manifest's ``cost``); None where absent."""
    cost = cost or {}
    out: Dict[str, Optional[float]] = {}
    for name, key in RECORD_KEYS.items():
        value = cost.get(key)
        out[name] = None if value is None else float(value)
    return out


def _sum(values: Sequence[Optional[float]]) -> Optional[float]:
    """The sum, or None when any part is unknown (a partial sum would read as a smaller cost)."""
    return None if not values or any(v is None for v in values) else float(sum(values))


def run_costs(run: Any) -> Dict[str, Optional[float]]:
    """``{'train_device_hours', 'e2e_device_hours', 'train_flops'}`` of a :class:`benchmarks.runs.Run`.

    A training run: its ``cost.json`` (training device-hours also from the last logged
    evaluation). A pipeline: the manifest's totals where it has them, else the sum over its
    training phases (meta, incubations, fine-tune), None when one of them lacks the cost. A meta
    checkpoint handed to the pipeline costs what its own training run cost, when one trained it
    (its work dir holds the checkpoint), and nothing otherwise (e.g. the authors' converted one).
    """
    if run.kind == 'test':
        return {name: None for name in COSTS}
    if run.kind == 'train':
        out = record_costs(run.cost.get('record'))
        out['train_device_hours'] = run.cost.get('total')
        return out
    out = record_costs(run.cost.get('record'))
    out['train_device_hours'] = run.cost.get('total')
    training = [p for p in run.phases if p.name != record.ASSEMBLE and p.status != 'given']
    charged = [p for p in run.phases if p.charged and p.work_dir is not None]  # a shared meta model's own run
    for name in ('e2e_device_hours', 'train_flops'):
        if out[name] is None:
            out[name] = _sum([record_costs(p.work_dir.cost if p.work_dir else None)[name] for p in training])
        if charged and out[name] is not None:
            out[name] = _sum([out[name]] + [record_costs(p.work_dir.cost)[name] for p in charged])
    return out


def phase_flops(cost: Optional[Mapping[str, Any]], images_at: Optional[int]) -> Optional[float]:
    """Training FLOPs after ``images_at`` images of a work dir whose ``cost.json`` is ``cost``
    (FLOPs per training image are constant within one run)."""
    flops = record_costs(cost)['train_flops']
    images = (cost or {}).get('images')
    if flops is None or images_at is None or not images:
        return None
    return flops * images_at / float(images)
