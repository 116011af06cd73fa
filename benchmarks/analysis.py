"""Analysis of runs on the cost axis: which runs are compared, and the speed-up to a target accuracy."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .runs import Run, match_e2e, norm_name
from .tasks import task_names


@dataclass
class SpeedUp:
    """How much cheaper incubation reaches E2E's final accuracy (``factor`` is None if it never does)."""

    target: Optional[float]  # E2E's final accuracy
    e2e_cost: Optional[float]  # device-hours at which E2E reached it
    reached_at: Optional[float]  # device-hours at which incubation first reaches it (interpolated)
    factor: Optional[float]
    evaluated: bool = True  # whether the incubation curve has any point

    def text(self) -> str:
        """The speed-up as a table shows it: ``2.67x``; below 1, the extra cost: ``1.05x more training``."""
        if self.target is None:
            return 'no E2E curve'
        if self.reached_at is None and self.factor is None and self.e2e_cost is not None and not self.evaluated:
            return 'no evaluation'
        if self.factor is None:
            return 'not reached'
        return f'{self.factor:.2f}x' if self.factor >= 1 else self.phrase()

    def phrase(self) -> str:
        """In words: ``2.67x less training``, or ``1.05x more training`` when incubation cost more."""
        if self.factor is None:
            return self.text()
        if self.factor >= 1:
            return f'{self.factor:.2f}x less training'
        return f'{1 / self.factor:.2f}x more training'


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
    runs = [r for r in runs if r.task in task_names('cls') and r.kind != 'test']
    pairs: List[Tuple[Optional[Run], Optional[Run]]] = []
    matched = set()
    for inc in (r for r in runs if r.method == 'incubation'):
        e2e = match_e2e(inc, runs)
        pairs.append((e2e, inc))
        if e2e is not None:
            matched.add(id(e2e))
    pairs += [(r, None) for r in runs if r.method == 'e2e' and id(r) not in matched]
    return pairs


# --- seeds ---------------------------------------------------------------------------------


@dataclass
class MeanStd:
    """Mean and sample standard deviation of ``n`` values (``std`` None for one value) of ``of`` runs."""

    mean: float
    std: Optional[float]
    n: int
    of: int


def mean_std(values: Sequence[Optional[float]]) -> Optional[MeanStd]:
    """Mean ± sample std over the values present (None ones are missing, not zero); None if none is."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    std = statistics.stdev(present) if len(present) > 1 else None
    return MeanStd(statistics.fmean(present), std, len(present), len(values))


def standard_error(stats: Optional[MeanStd]) -> Optional[float]:
    """The standard error of the mean (std / sqrt(n)); None for one value or none."""
    if stats is None or stats.std is None or stats.n < 2:
        return None
    return stats.std / stats.n ** 0.5


def beyond_two_se(stats: Optional[MeanStd]) -> Optional[int]:
    """The project's one rule for a paired difference over seeds: +1 when its mean is more than
    two standard errors above 0, -1 when more than two below, 0 within; None without a spread
    (one seed). Every verdict, separation and gate in the reports uses it."""
    se = standard_error(stats)
    if se is None:
        return None
    if abs(stats.mean) <= 2 * se:
        return 0
    return 1 if stats.mean > 0 else -1


@dataclass
class SeedGroup:
    """Runs that differ only by seed: one (task, model, variant, method) cell of the seed-grouped tables."""

    runs: List[Run]

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def seeds(self) -> List[Optional[int]]:
        return [r.seed for r in self.runs]

    @property
    def status(self) -> str:
        done = sum(r.status == 'done' for r in self.runs)
        return 'done' if done == len(self.runs) else f'partial ({done}/{len(self.runs)} done)'

    @property
    def counted(self) -> List[Run]:
        """The runs the cell's numbers come from: the finished ones, once one has finished (an
        unfinished run's last evaluation would pull the mean down); all of them before that."""
        done = [r for r in self.runs if r.status == 'done']
        return done or list(self.runs)

    def metric(self, metric: str) -> Optional[MeanStd]:
        counted = self.counted
        return mean_std([r.metrics.get(metric) if r in counted else None for r in self.runs])

    def cost(self, name: str) -> Optional[MeanStd]:
        counted = self.counted
        return mean_std([r.costs()[name] if r in counted else None for r in self.runs])


def seed_groups(runs: Sequence[Run]) -> List[SeedGroup]:
    """Training and pipeline runs that differ only by seed (same task, model, variant, method,
    schedule and phase), in the order first seen; each group sorted by seed."""
    groups: Dict[Tuple[str, ...], List[Run]] = {}
    for run in runs:
        if run.kind != 'test':
            groups.setdefault((*run.key, run.method, norm_name(run.schedule), run.phase), []).append(run)
    return [SeedGroup(sorted(g, key=lambda r: (r.seed is None, r.seed if r.seed is not None else 0, r.name)))
            for g in groups.values()]


def paired_deltas(e2e: SeedGroup, inc: SeedGroup, metric: str) -> Optional[MeanStd]:
    """Incubation − E2E per seed that both have (paired differences; finished runs once a pair
    has finished, see :attr:`SeedGroup.counted`), as mean ± std."""
    by_seed = {r.seed: r.metrics.get(metric) for r in e2e.counted if r.seed is not None}
    deltas = [r.metrics[metric] - by_seed[r.seed] for r in inc.counted
              if r.seed in by_seed and by_seed[r.seed] is not None and metric in r.metrics]
    return mean_std(deltas) if deltas else None


def band(curves: Sequence[Sequence[Tuple[float, float]]]) -> List[Tuple[float, float, float, int]]:
    """Seed band of curves evaluated at the same points (same evaluation epochs): for each point
    index that every curve has, (mean cost, mean value, std of the value, number of curves)."""
    curves = [sorted(c) for c in curves if c]
    if not curves:
        return []
    out = []
    for i in range(min(len(c) for c in curves)):
        xs = [c[i][0] for c in curves]
        ys = [c[i][1] for c in curves]
        out.append((statistics.fmean(xs), statistics.fmean(ys), statistics.stdev(ys) if len(ys) > 1 else 0.0,
                    len(ys)))
    return out
