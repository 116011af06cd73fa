"""Where a run's scalars go: mmengine's own visualisation back-ends, chosen by name.

``tools/train.py --vis tensorboard`` (or the config key ``vis = ['tensorboard']``; ``tools/incubate.py
--vis`` sets it for every phase) adds mmengine's ``TensorboardVisBackend`` to the config's
visualizer, next to its ``LocalVisBackend``, which always stays: ``WORK/<timestamp>/vis_data/
scalars.json`` is what the reports read. TensorBoard's event files then land in
``WORK/<timestamp>/vis_data/`` too: ``tensorboard --logdir WORK``.

Torch-free: it only edits the config.
"""
from __future__ import annotations

from typing import Any, Iterable, List, Optional

BACKENDS = {'local': 'LocalVisBackend', 'tensorboard': 'TensorboardVisBackend'}
CONFIG_KEY = 'vis'


def vis_names(value: Any, where: str = CONFIG_KEY) -> List[str]:
    """``value`` (a name or a list of names) as a checked list; a ValueError names the bad one."""
    names = [value] if isinstance(value, str) else list(value or [])
    for name in names:
        if name not in BACKENDS:
            raise ValueError(f'{where}: unknown visualisation back-end {name!r}; one of {", ".join(BACKENDS)}')
    return names


def apply_vis_backends(cfg: Any, names: Optional[Iterable[str]] = None) -> List[str]:
    """Add the back-ends ``names`` (else the config's ``vis`` key) to ``cfg.visualizer``.

    A config without a ``visualizer`` (the classification ones) gets mmengine's default one,
    ``Visualizer`` with ``LocalVisBackend``, first. Returns the back-end types added.
    """
    names = vis_names(cfg.get(CONFIG_KEY) if names is None else names, '--vis' if names is not None else CONFIG_KEY)
    if not names:
        return []
    visualizer = cfg.get('visualizer') or dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    backends = list(visualizer.get('vis_backends') or [dict(type='LocalVisBackend')])
    present = {b.get('type') for b in backends}
    added = []
    for name in names:
        kind = BACKENDS[name]
        if kind not in present:
            backends.append(dict(type=kind))
            present.add(kind)
            added.append(kind)
    visualizer['vis_backends'] = backends
    cfg.visualizer = visualizer
    cfg[CONFIG_KEY] = names
    return added
