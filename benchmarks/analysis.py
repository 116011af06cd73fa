"""Analysis of runs on the cost axis: which runs are compared, and the speed-up to a target accuracy."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from .runs import CLASSIFICATION_TASKS, Run, match_e2e


@dataclass
class SpeedUp:
    """How much cheaper incubation reaches E2E's final accuracy (``factor`` is None if it never does)."""

    target: Optional[float]  # E2E's final accuracy
    e2e_cost: Optional[float]  # device-hours at which E2E reached it
    reached_at: Optional[float]  # device-hours at which incubation first reaches it (interpolated)
    factor: Optional[float]
    evaluated: bool = True  # whether the incubation curve has any point

    def text(self) -> str:
        if self.target is None:
            return 'no E2E curve'
        if self.reached_at is None and self.factor is None and self.e2e_cost is not None and not self.evaluated:
            return 'no evaluation'
        if self.factor is None:
            return 'not reached'
        return f'{self.factor:.2f}x'


def reach_cost(curve: Sequence[Tuple[float, float]], target: float) -> Optional[float]:
    """Cost at which ``curve`` (cost, accuracy) first reaches ``target``, linearly interpolated."""
    points = sorted(curve)
    for i, (x, y) in enumerate(points):
        if y >= target:
            if i == 0:
                return x
            x0, y0 = points[i - 1]
            return x0 + (target - y0) * (x - x0) / (y - y0)
    return None


def speedup(e2e_curve: Sequence[Tuple[float, float]], inc_curve: Sequence[Tuple[float, float]]) -> SpeedUp:
    """E2E's final accuracy's cost divided by the cost at which incubation first reaches it."""
    if not e2e_curve:
        return SpeedUp(None, None, None, None)
    e2e_cost, target = sorted(e2e_curve)[-1]
    reached = reach_cost(inc_curve, target)
    factor = e2e_cost / reached if reached and reached > 0 and not math.isinf(reached) else None
    return SpeedUp(target, e2e_cost, reached, factor, evaluated=bool(inc_curve))


def efficiency_pairs(runs: Sequence[Run]) -> List[Tuple[Optional[Run], Optional[Run]]]:
    """(E2E, incubation) pairs compared on the cost axis (classification tasks), see :func:`match_e2e`."""
    runs = [r for r in runs if r.task in CLASSIFICATION_TASKS and r.kind != 'test']
    pairs: List[Tuple[Optional[Run], Optional[Run]]] = []
    matched = set()
    for inc in (r for r in runs if r.method == 'incubation'):
        e2e = match_e2e(inc, runs)
        pairs.append((e2e, inc))
        if e2e is not None:
            matched.add(id(e2e))
    pairs += [(r, None) for r in runs if r.method == 'e2e' and id(r) not in matched]
    return pairs
