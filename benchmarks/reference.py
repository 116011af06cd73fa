"""The paper's reference numbers (``reference.json``, transcribed from the paper) and their lookup."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from .runs import norm_name

REFERENCE_FILE = Path(__file__).with_name('reference.json')


@lru_cache(maxsize=None)
def _load(path: str) -> Dict[str, Any]:
    with open(path) as f:
        return json.load(f)


def load_reference(path: Optional[str] = None) -> Dict[str, Any]:
    """The whole reference file (``source``, ``units``, ``models`` aliases, ``entries``)."""
    return _load(str(path or REFERENCE_FILE))


def canonical_model(model: str, reference: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """The paper's name of ``model`` (``'vit_base_patch16_224'`` -> ``'ViT-B'``), or None."""
    reference = reference or load_reference()
    wanted = norm_name(model)
    for name, aliases in reference['models'].items():
        if wanted in {norm_name(a) for a in [name, *aliases]}:
            return name
    return None


def find_reference(task: str, model: str, variant: str, reference: Optional[Dict[str, Any]] = None,
                   schedule: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The paper's entry for (task, model, variant), or None if the paper has none.

    With a ``schedule`` (an m+n pipeline), the paper's entry for that schedule if it has one
    (ViT-H ``25+25``, ``50+50``, ``100+100``), else the variant's. Entries with ``model: null``
    (the COCO table, which names no backbone size) match any model.
    """
    reference = reference or load_reference()
    canonical = canonical_model(model, reference)
    for wanted in ([norm_name(schedule)] if schedule else []) + [norm_name(variant)]:
        for entry in reference['entries']:
            if entry['task'] != task:
                continue
            if entry['model'] is not None and entry['model'] != canonical:
                continue
            if wanted in {norm_name(v) for v in entry.get('variants', [])}:
                return entry
    return None


def reference_for(run: Any, reference: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
    """The paper's entry for a :class:`~benchmarks.runs.Run` (its task, model, variant and schedule).

    An incubation run whose m+n schedule differs from the ``schedules`` its variant's entry was
    obtained with (e.g. ViT-B 224 at 50+50; the paper's 82.4 is 100+100) gets no entry.
    """
    entry = find_reference(run.task, run.model, run.variant, reference, schedule=run.schedule or None)
    if entry is not None and run.schedule and entry.get('schedules'):
        if norm_name(run.schedule) not in {norm_name(s) for s in entry['schedules']} | {
                norm_name(v) for v in entry.get('variants', [])}:
            return None
    return entry


def reference_value(entry: Optional[Dict[str, Any]], method: str, metric: str) -> Optional[float]:
    """The paper's ``metric`` for ``method`` ('e2e' or 'incubation') in ``entry``, or None."""
    if not entry:
        return None
    value = (entry.get(method) or {}).get(metric)
    return None if value is None else float(value)


def reference_cost(entry: Optional[Dict[str, Any]], method: str, key: str = 'cost') -> Optional[float]:
    if not entry:
        return None
    value = (entry.get(key) or {}).get(method)
    return None if value is None else float(value)


def reference_entries(task: Optional[str] = None) -> List[Dict[str, Any]]:
    return [e for e in load_reference()['entries'] if task is None or e['task'] == task]
