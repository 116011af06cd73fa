"""Runs as the report sees them, and which E2E run each incubation run is compared with.

A run is a training work dir (read by :mod:`benchmarks.workdir`), a pipeline work dir (its
``manifest.json``, read through :mod:`runtime.record`, each phase's ``work_dir`` itself a
training work dir), or a test-only dir.

Every config carries ``benchmark = dict(task=..., model=..., method='e2e' | 'incubation',
variant=..., schedule=..., phase=...)``; runs are paired by ``(task, model, variant)`` (the
schedule when there is no variant, as for COCO's ``1x``); a pipeline's ``schedule`` (m+n) and a
single phase's ``phase`` (e.g. a high-resolution fine-tune, or one phase of a pipeline read on
its own) label the run; a phase run is kept off the cost axis, its cost being only its own.

A downstream run (detection, segmentation) records its backbone in ``WORK/backbone.json``
(:mod:`runtime.provenance`); when that names an upstream run of this project that exists and
has finished, :func:`attach_upstream` attaches it (``Run.upstream``): its cost is the
downstream run's upstream cost, and its task, variant and schedule join the run's ``key``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from runtime import record
from runtime.cli import UserError, check_keys
from runtime.provenance import read_backbone_record
from runtime.record import BENCHMARK_LABELS, DONE_STATES, MANIFEST, RecordError

from .tasks import primary_metric
from .workdir import EvalPoint, RunError, Session, WorkDir, is_run_dir, normalise_metrics, read_config, read_work_dir

METHODS = ('e2e', 'incubation')
_SCHEDULE = re.compile(r'^\d+\s*\+\s*\d+$')
_DEPTH = re.compile(r'(?:^|[-_ ])D(\d+)(?=$|[-_ ])', re.IGNORECASE)  # 'ViT-D8-W64', 'DeiT-T-D32'
_SUBSET = re.compile(r'[-_ ]?subset(\d+)(?=$|[-_ ])', re.IGNORECASE)  # '224-subset25', '16px-5k-subset50'


# --- small helpers ---------------------------------------------------------------------------


def norm_name(value: Any) -> str:
    """Loose identity of a model or variant name: ``'ViT-B'`` == ``'vit_b'`` == ``'VIT B'``."""
    return re.sub(r'[^0-9a-z+]', '', str(value if value is not None else '').lower())


def model_depth(model: str) -> Optional[int]:
    """The depth in a model name (``'ViT-D8-W64'`` -> 8, ``'DeiT-T-D32'`` -> 32), else None."""
    found = _DEPTH.search(str(model))
    return int(found.group(1)) if found else None


def model_family(model: str) -> str:
    """The model name without its depth (``'ViT-D8-W64'`` -> ``'ViT-W64'``): one line of a depth study."""
    return re.sub(r'--+', '-', _DEPTH.sub('-', str(model), count=1)).strip('-_ ')


def data_share(variant: str) -> Tuple[str, int]:
    """(the variant without its subset, the percent of the training data): ``'16px-5k-subset25'``
    -> ``('16px-5k', 25)``; a variant without ``subset<N>`` is all of it, 100."""
    found = _SUBSET.search(str(variant))
    if not found:
        return str(variant), 100
    return (str(variant)[:found.start()] + str(variant)[found.end():]).strip('-_ '), int(found.group(1))


def config_seed(config: Mapping[str, Any]) -> Optional[int]:
    """``randomness.seed`` of a config (None when it sets none)."""
    seed = (config.get('randomness') or {}).get('seed') if isinstance(config, Mapping) else None
    return None if seed is None else int(seed)


def is_schedule(variant: Optional[str]) -> bool:
    """``'25+25'``-style variants: incubation epochs + fine-tune epochs (the paper's m+n)."""
    return bool(variant) and bool(_SCHEDULE.match(str(variant).strip()))


def check_benchmark(benchmark: Any, where: str) -> Dict[str, Any]:
    """A run's ``benchmark`` labels, checked (:data:`runtime.record.BENCHMARK_LABELS` only; task,
    model and method given; a known method), task and method lower-cased."""
    if not isinstance(benchmark, Mapping):
        raise RunError(f'{where}: no `benchmark = dict(task=..., model=..., method=...)` in its config')
    try:
        check_keys(benchmark, BENCHMARK_LABELS, 'benchmark', 'the benchmark report')
    except UserError as exc:
        raise RunError(f'{where}: {exc}') from None
    benchmark = dict(benchmark)
    for key in ('task', 'model', 'method'):
        if not benchmark.get(key):
            raise RunError(f'{where}: `benchmark` has no {key!r} ({benchmark})')
    benchmark['task'] = str(benchmark['task']).lower()
    benchmark['method'] = str(benchmark['method']).lower()
    if benchmark['method'] not in METHODS:
        raise RunError(f'{where}: benchmark method {benchmark["method"]!r} is not one of {METHODS}')
    return benchmark


# --- data model ------------------------------------------------------------------------------


@dataclass
class Phase:
    """One phase of a pipeline run, as the manifest records it (plus its work dir when found)."""

    name: str
    status: str
    device_hours: Optional[float] = None
    images: Optional[int] = None
    metrics: Dict[str, float] = field(default_factory=dict)
    module_idx: Optional[int] = None
    work_dir: Optional[WorkDir] = None
    charged_from: str = ''  # a meta checkpoint handed to the pipeline: the run that trained it, whose cost counts

    @property
    def charged(self) -> bool:
        return bool(self.charged_from)


@dataclass
class Run:
    """A run as the report sees it: one row of a table, one curve of a plot.

    ``kind`` is ``'train'`` (one work dir), ``'pipeline'`` (a manifest) or ``'test'`` (only test
    results). ``metrics`` are the final ones in percent, with ``<key>-ms`` added from a
    multi-scale (TTA) test. ``cost`` holds ``by_phase`` (device-hours), ``total``,
    ``wall_parallel`` (pipelines), ``images``, ``device_type`` and ``record`` (the raw ``cost.json``
    or manifest ``cost``, read by :func:`benchmarks.costs.run_costs`). ``seed``: the config's
    ``randomness.seed`` (runs that differ only by it are one cell of the seed-grouped tables).
    """

    path: str
    name: str
    kind: str
    benchmark: Dict[str, Any]
    status: str  # 'done', 'partial', 'test only'
    status_detail: str = ''
    metrics: Dict[str, float] = field(default_factory=dict)
    evals: List[EvalPoint] = field(default_factory=list)  # the run's own (fine-tune) evaluations
    cost_offset: float = 0.0  # device-hours spent before the first of ``evals`` (meta + incubation)
    cost: Dict[str, Any] = field(default_factory=dict)
    phases: List[Phase] = field(default_factory=list)
    sources: List[str] = field(default_factory=list)
    seed: Optional[int] = None
    eval_cost: Optional[Dict[str, Any]] = None  # cost.json of the work dir that ``evals`` come from
    flops_offset: Optional[float] = 0.0  # training FLOPs before the first of ``evals`` (None: unknown)
    backbone: Optional[Dict[str, Any]] = None  # WORK/backbone.json of a downstream run (None: it has none)
    upstream: Optional['Run'] = None  # the finished upstream run whose final model the backbone is
    upstream_note: str = ''  # why ``upstream`` is None although ``backbone`` names a checkpoint

    @property
    def task(self) -> str:
        return self.benchmark['task']

    @property
    def model(self) -> str:
        return str(self.benchmark['model'])

    @property
    def method(self) -> str:
        return self.benchmark['method']

    @property
    def variant(self) -> str:
        """The pairing variant: ``variant``, else ``schedule`` (COCO's '1x', ADE20K's '80k')."""
        value = self.benchmark.get('variant')
        if value is None:
            value = self.benchmark.get('schedule')
        return '' if value is None else str(value)

    @property
    def schedule(self) -> str:
        """The schedule when it is not the pairing variant (a pipeline's m+n), else ''."""
        value = self.benchmark.get('schedule')
        return '' if value is None or self.benchmark.get('variant') is None else str(value)

    @property
    def phase(self) -> str:
        """Set when the run is one phase of a pipeline passed on its own (``benchmark.phase``)."""
        value = self.benchmark.get('phase')
        return '' if value is None else str(value)

    @property
    def depth(self) -> Optional[int]:
        return model_depth(self.model)

    @property
    def family(self) -> str:
        return model_family(self.model)

    @property
    def data_percent(self) -> int:
        """The share of the training data (``subset<N>`` in the variant), 100 without one."""
        return data_share(self.variant)[1]

    @property
    def base_key(self) -> Tuple[str, ...]:
        """(task, model, variant): the run's own benchmark labels, without its upstream."""
        return (self.task, norm_name(self.model), norm_name(self.variant))

    @property
    def upstream_tag(self) -> Tuple[str, ...]:
        """(task, variant, schedule) of the attached upstream run, normalised; () when none is attached."""
        up = self.upstream
        return () if up is None else (up.task, norm_name(up.variant), norm_name(up.schedule))

    @property
    def key(self) -> Tuple[str, ...]:
        """The run's identity in the tables: (task, model, variant), plus the upstream's task,
        variant and schedule for a downstream run whose upstream is attached (two downstream runs
        from the 25+25 and the 100+100 upstream, or from the 224 and the 384 one, differ)."""
        return self.base_key + self.upstream_tag

    @property
    def pair_key(self) -> Tuple[str, ...]:
        """What E2E and incubation runs are paired by: :attr:`key` without the upstream's schedule
        (an E2E-pretrained and an incubation-pretrained downstream run of one upstream variant meet)."""
        return self.base_key + self.upstream_tag[:2]

    @property
    def upstream_schedule(self) -> str:
        """The attached upstream run's schedule (its m+n), else ''."""
        return self.upstream.schedule if self.upstream is not None else ''

    @property
    def backbone_sha256(self) -> Optional[str]:
        """The sha256 of the backbone checkpoint ``backbone.json`` recorded, else None."""
        sha = ((self.backbone or {}).get('file') or {}).get('sha256')
        return str(sha) if sha else None

    @property
    def random_init(self) -> bool:
        """A downstream run whose ``backbone.json`` says it started from random weights."""
        return (self.backbone or {}).get('init') == 'random'

    @property
    def upstream_label(self) -> str:
        """``incubation 224 100+100`` / ``E2E 224`` (an attached upstream: method, variant, schedule);
        ``random init``; the recorded method and why the upstream is not attached (``incubation
        (upstream not found)``); '' for a run without ``backbone.json``."""
        up = self.upstream
        if up is not None:
            parts = ['E2E' if up.method == 'e2e' else 'incubation', up.variant, up.schedule]
            return ' '.join(p for p in parts if p) + (f' ({up.phase} phase)' if up.phase else '')
        if self.backbone is None and not self.upstream_note:
            return ''
        if self.random_init:
            return 'random init'
        method = str(((self.backbone or {}).get('upstream') or {}).get('method') or '').lower()
        method = {'e2e': 'E2E', 'incubation': 'incubation'}.get(method, '')
        why = self.upstream_note.split(':', 1)[0] or 'upstream unknown'
        return f'{method} ({why})'.strip()

    def upstream_costs(self) -> Dict[str, Optional[float]]:
        """The attached upstream run's three costs; 0 for a run from random weights (it has no
        upstream); None each where the upstream is unknown."""
        from .costs import COSTS

        if self.upstream is not None:
            return self.upstream.costs()
        return {name: 0.0 if self.random_init else None for name in COSTS}

    def total_costs(self) -> Dict[str, Optional[float]]:
        """Upstream + this run, each of the three costs (None when either part is unknown)."""
        own, up = self.costs(), self.upstream_costs()
        return {name: None if own[name] is None or up[name] is None else float(own[name] + up[name])
                for name in own}

    @property
    def method_label(self) -> str:
        """``E2E``, ``incubation``, ``incubation 25+25``, ``incubation (finetune phase)``; a
        downstream run adds its upstream's schedule (``incubation 100+100``: fine-tuned from the
        100+100 pipeline's model)."""
        label = 'E2E' if self.method == 'e2e' else 'incubation'
        for schedule in (self.schedule, self.upstream_schedule):
            if schedule:
                label += f' {schedule}'
        if self.phase:
            label += f' ({self.phase} phase)'
        return label

    @property
    def label(self) -> str:
        """For plot legends: method, variant, schedule, status."""
        status = '' if self.status == 'done' else f' ({self.status})'
        variant = f' {self.variant}' if self.variant else ''
        method = 'E2E' if self.method == 'e2e' else 'incubation'
        schedule = f' {self.schedule}' if self.schedule else ''
        return f'{method}{variant}{schedule}{status}'

    def curve(self, metric: Optional[str] = None, cost: str = 'train_device_hours') -> List[Tuple[float, float]]:
        """(cumulative cost, metric) for every evaluation that has both; ``cost``:
        ``'train_device_hours'`` or ``'train_flops'`` (FLOPs at an evaluation: the work dir's
        training FLOPs x the share of its training images seen by then)."""
        metric = metric or primary_metric(self.task)
        if cost == 'train_flops':
            return self._flops_curve(metric)
        points = [(self.cost_offset + p.device_hours, p.metrics[metric]) for p in self.evals
                  if p.device_hours is not None and metric in p.metrics]
        if not points and metric in self.metrics and self.cost.get('total') is not None:
            points = [(float(self.cost['total']), self.metrics[metric])]
        return points

    def _flops_curve(self, metric: str) -> List[Tuple[float, float]]:
        from .costs import phase_flops

        if self.flops_offset is None:
            return []
        points = []
        for p in self.evals:
            flops = phase_flops(self.eval_cost, p.images)
            if flops is not None and metric in p.metrics:
                points.append((self.flops_offset + flops, p.metrics[metric]))
        return points

    def own_curve(self, metric: Optional[str] = None) -> List[Tuple[float, float]]:
        """Like :meth:`curve` but without the cost before this run's evaluations (fine-tune cost only)."""
        return [(x - self.cost_offset, y) for x, y in self.curve(metric)] if self.evals else []

    def costs(self) -> Dict[str, Optional[float]]:
        """The three costs (:func:`benchmarks.costs.run_costs`)."""
        from .costs import run_costs

        return run_costs(self)

    def to_dict(self) -> Dict[str, Any]:
        return dict(path=self.path, name=self.name, kind=self.kind, benchmark=self.benchmark, status=self.status,
                    status_detail=self.status_detail, seed=self.seed, metrics=self.metrics, cost=self.cost,
                    costs=self.costs(),
                    curve={m: self.curve(m) for m in sorted({k for p in self.evals for k in p.metrics})},
                    phases=[dict(name=p.name, status=p.status, device_hours=p.device_hours, images=p.images,
                                 metrics=p.metrics, module_idx=p.module_idx) for p in self.phases],
                    sources=self.sources, backbone_sha256=self.backbone_sha256,
                    upstream=None if self.backbone is None and not self.upstream_note else dict(
                        path=None if self.upstream is None else self.upstream.path, label=self.upstream_label,
                        note=self.upstream_note, costs=self.upstream_costs(), total_costs=self.total_costs()))


# --- building runs ---------------------------------------------------------------------------


def _add_tests(run: Run, tests: Iterable[Session], force_ms: bool = False) -> None:
    """Test-session metrics: multi-scale ones as ``<key>-ms``; plain ones fill missing metrics."""
    for session in tests:
        for key, value in session.test_metrics.items():
            if force_ms or session.is_tta:
                run.metrics[f'{key}-ms'] = value
            else:
                run.metrics.setdefault(key, value)
        run.sources.append(str(session.path))


def run_from_work_dir(path: os.PathLike, work: Optional[WorkDir] = None) -> Run:
    work = work or read_work_dir(path)
    benchmark = check_benchmark(work.benchmark, str(work.path))
    if not work.train_sessions:
        run = Run(path=str(work.path), name=work.path.name, kind='test', benchmark=benchmark, status='test only')
        _add_tests(run, work.tests)
        return run
    finished, detail = work.progress()
    status = 'partial' if finished is False else 'done'
    cost_type = (work.cost or {}).get('device_type')
    run = Run(path=str(work.path), name=work.path.name, kind='train', benchmark=benchmark, status=status,
              status_detail=detail if finished is False else '', metrics=work.final_metrics, evals=list(work.evals),
              cost=dict(by_phase={'train': work.device_hours}, total=work.device_hours, images=work.images,
                        device_type=cost_type, record=work.cost),
              seed=config_seed(work.config), eval_cost=work.cost)
    run.sources.append(str(work.path))
    _add_tests(run, work.tests)
    return run


def _resolve(path: Optional[str], base: Path) -> Optional[Path]:
    """A phase's work dir as recorded in the manifest (absolute, or relative to the run or the cwd)."""
    if not path:
        return None
    p = Path(path)
    candidates = [p] if p.is_absolute() else [base / p, base.parent / p, Path.cwd() / p, base / p.name]
    if p.is_absolute():
        candidates.append(base / p.name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def _given_meta(entry: record.PhaseRecord) -> Optional[WorkDir]:
    """The training work dir of a meta checkpoint handed to a pipeline (``--meta``), when the
    checkpoint lies in one (a meta model trained once and shared), else None (e.g. converted)."""
    if entry.status != 'given' or not entry.checkpoint:
        return None
    folder = Path(entry.checkpoint).parent
    if not folder.is_dir() or (folder / MANIFEST).is_file() or not is_run_dir(folder):
        return None
    try:
        return read_work_dir(folder)
    except RecordError:
        return None


def _manifest_phase(entry: record.PhaseRecord, base: Path, recorded_hours: Mapping[str, Any]) -> Phase:
    """A manifest's phase, with its cost taken from its work dir where that is newer.

    A given meta checkpoint costs the pipeline nothing in its manifest; when it was trained by a
    run of its own, that run's whole cost is charged here (every pipeline sharing it pays it).
    """
    phase = Phase(name=entry.name, status=entry.status, module_idx=entry.module_idx,
                  metrics=normalise_metrics(entry.metrics), images=entry.images)
    meta = _given_meta(entry)
    if meta is not None:
        phase.work_dir, phase.charged_from = meta, str(meta.path)
        phase.device_hours, phase.images = meta.device_hours, meta.images
        phase.metrics = phase.metrics or dict(meta.final_metrics)
        return phase
    work_path = _resolve(entry.work_dir, base)
    if work_path is not None:
        try:
            phase.work_dir = read_work_dir(work_path)
        except RecordError:
            phase.work_dir = None
    hours = entry.device_hours
    if hours is None:
        hours = recorded_hours.get(entry.name)
    live = phase.work_dir.device_hours if phase.work_dir is not None else None
    if phase.status not in DONE_STATES and live is not None:
        hours = live  # the manifest is written between phases; a running phase's work dir is newer
    elif hours is None:
        hours = live
    phase.device_hours = None if hours is None else float(hours)
    if phase.images is None and phase.work_dir is not None:
        phase.images = phase.work_dir.images
    return phase


def run_from_manifest(path: os.PathLike) -> Run:
    base = Path(path)
    manifest = record.read_manifest(base)
    source = str(base / MANIFEST)
    benchmark = manifest.benchmark
    if not benchmark and manifest.config and Path(manifest.config).is_file():
        benchmark = read_config(Path(manifest.config)).get('benchmark')
    benchmark = check_benchmark(benchmark, source)
    cost = manifest.cost
    phases = [_manifest_phase(entry, base, cost.get('by_phase') or {}) for entry in manifest.phases]

    final = manifest.final
    unfinished = [p for p in phases if p.status not in DONE_STATES]
    done = final is not None and not unfinished and bool(phases)
    if done:
        detail = ''
    else:
        counts = f'{len(phases) - len(unfinished)}/{len(phases)} phases done'
        states = ', '.join(f'{p.name} {p.status}' for p in unfinished if p.status != 'pending')
        pending = [p.name for p in unfinished if p.status == 'pending']
        detail = '; '.join(x for x in (counts, states, f'pending: {", ".join(pending)}' if pending else '') if x)
        if not unfinished:
            detail += '; no final result'
    finetune = next((p for p in phases if p.name == record.FINETUNE), None)
    before = [p for p in phases if p.name != record.FINETUNE]
    offset = sum(p.device_hours or 0.0 for p in before)
    metrics: Dict[str, float] = {}
    if final is not None:
        metrics = normalise_metrics(final.get('metrics') or {})
    evals: List[EvalPoint] = []
    if finetune is not None and finetune.work_dir is not None:
        evals = list(finetune.work_dir.evals)
        for key, value in finetune.work_dir.final_metrics.items():
            metrics.setdefault(key, value)  # partial: the latest fine-tune evaluation so far
    if not metrics and finetune is not None:
        metrics = dict(finetune.metrics)
    by_phase = {p.name: p.device_hours for p in phases}
    known = [h for h in by_phase.values() if h is not None]
    charged = sum(p.device_hours or 0.0 for p in phases if p.charged)  # not in the manifest's total
    total = cost.get('device_hours') + charged if done and cost.get('device_hours') is not None else (
        sum(known) if known else None)
    wall = cost.get('wall_hours_parallel') if done else None
    if wall is None and known:
        wall = record.critical_path(by_phase)
    images = [p.images for p in phases if p.images is not None]
    device_types = sorted({str(t) for t in [r.device_type for r in manifest.phases]
                           + [(p.work_dir.cost or {}).get('device_type') for p in phases if p.work_dir is not None]
                           if t})
    from .costs import record_costs

    flops_before = [record_costs(p.work_dir.cost if p.work_dir else None)['train_flops']
                    for p in before if p.name != record.ASSEMBLE and (p.status != 'given' or p.charged)]
    seeds = [config_seed(p.work_dir.config) for p in phases if p.work_dir is not None]
    run = Run(path=str(base), name=base.name, kind='pipeline', benchmark=benchmark,
              status='done' if done else 'partial', status_detail=detail, metrics=metrics, evals=evals,
              cost_offset=offset, phases=phases,
              cost=dict(by_phase=by_phase, total=None if total is None else float(total),
                        wall_parallel=None if wall is None else float(wall),
                        images=sum(images) if images else None,
                        device_type=', '.join(device_types) or None, record=dict(cost)),
              seed=next((s for s in seeds if s is not None), None),
              eval_cost=finetune.work_dir.cost if finetune is not None and finetune.work_dir is not None else None,
              flops_offset=None if any(f is None for f in flops_before) else float(sum(flops_before)))
    run.sources.append(source)
    if finetune is not None and finetune.work_dir is not None:
        _add_tests(run, finetune.work_dir.tests)
    return run


def attach_upstream(run: Run, known: Optional[Mapping[Path, Run]] = None) -> Run:
    """Read ``run``'s ``backbone.json`` and attach the upstream run it names, when that exists and
    has finished (``known``: runs already read, by resolved path, used instead of reading again).

    Never raises: a missing or damaged record, an upstream work dir that is gone, unreadable or
    unfinished leaves ``run.upstream`` None and says why in ``run.upstream_note`` (the report
    then shows the upstream cost as missing).
    """
    try:
        recorded = read_backbone_record(run.path)
    except (RecordError, OSError) as exc:
        run.upstream_note = f'backbone.json unreadable: {exc}'
        return run
    if recorded is None:
        return run
    run.backbone = recorded
    if recorded.get('init') != 'pretrained':
        return run
    work_dir = (recorded.get('upstream') or {}).get('work_dir')
    if not work_dir:
        run.upstream_note = f'upstream unknown: {recorded.get("checkpoint")} is not the final model of a run of this project'
        return run
    path = Path(work_dir)
    if not path.is_dir():
        run.upstream_note = f'upstream not found: {path}'
        return run
    upstream = (known or {}).get(path.resolve())
    if upstream is None:
        try:
            upstream = read_run(path, upstream=False)
        except (RecordError, OSError) as exc:
            run.upstream_note = f'upstream unreadable: {exc}'
            return run
    if upstream.status != 'done':
        run.upstream_note = f'upstream unfinished: {path} is {upstream.status}'
        return run
    run.upstream = upstream
    return run


def read_run(path: os.PathLike, upstream: bool = True) -> Run:
    """One run directory: a pipeline (``manifest.json``), a training work dir, or a test-only dir;
    a downstream run with its upstream run attached (:func:`attach_upstream`; ``upstream=False``: not)."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f'{path}: no such directory')
    if (path / MANIFEST).is_file():
        return run_from_manifest(path)
    run = run_from_work_dir(path)
    return attach_upstream(run) if upstream else run


def run_finished(path: os.PathLike) -> bool:
    """Whether the records of the run in ``path`` say it finished (every phase, for a pipeline);
    a folder that is missing or cannot be read as a run has not."""
    try:
        return Path(path).is_dir() and read_run(path, upstream=False).status == 'done'
    except RecordError:
        return False


def find_run_dirs(path: os.PathLike) -> List[Path]:
    """``path`` if it is a run, else the runs directly inside it (e.g. ``work_dirs/``)."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f'{path}: no such directory')
    if is_run_dir(path):
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_dir() and is_run_dir(p))
    if not found:
        raise RunError(f'{path}: neither a run (manifest.json, or <timestamp>/ folders of an mmengine work dir) '
                       'nor a directory of runs')
    return found


def collect_runs(paths: Sequence[os.PathLike], ms_tests: Sequence[os.PathLike] = ()) -> List[Run]:
    """Read every run under ``paths``; fold test-only runs into the run they evaluate.

    A test-only directory (``tools/test.py ... --work-dir DIR``) whose config's ``benchmark``
    matches a training run (same task, model, variant and method) adds its metrics to that run:
    a multi-scale / TTA test (recognised from its config, or passed in ``ms_tests``) as
    ``<key>-ms`` (e.g. ``mIoU-ms``), a plain test only where the run lacks the metric. A test
    with no matching run is reported on its own, as ``test only``. A directory given twice is
    read once.
    """
    runs: List[Run] = []
    tests: List[Tuple[Run, WorkDir, bool]] = []
    seen = set()
    ms_dirs = [Path(p) for p in ms_tests]
    for forced, path in [(False, Path(p)) for p in paths] + [(True, p) for p in ms_dirs]:
        for run_dir in ([path] if forced else find_run_dirs(path)):
            if run_dir.resolve() in seen:
                continue
            seen.add(run_dir.resolve())
            if (run_dir / MANIFEST).is_file() and not forced:
                runs.append(run_from_manifest(run_dir))
                continue
            work = read_work_dir(run_dir)
            if forced or not work.train_sessions:
                if not work.tests:
                    raise RunError(f'{run_dir}: no test results (<timestamp>/<timestamp>.json) to use as a '
                                   'multi-scale test')
                test_run = Run(path=str(run_dir), name=run_dir.name, kind='test',
                               benchmark=check_benchmark(work.benchmark, str(run_dir)), status='test only')
                tests.append((test_run, work, forced))
            else:
                runs.append(run_from_work_dir(run_dir, work))
    known = {Path(r.path).resolve(): r for r in runs}
    for run in runs:
        if run.kind != 'pipeline':
            attach_upstream(run, known)
    for test_run, work, forced in tests:  # a test dir records no backbone: matched without the upstream
        target = next((r for r in runs if r.base_key == test_run.base_key and r.method == test_run.method
                       and r.kind != 'test'), None)
        _add_tests(target or test_run, work.tests, force_ms=forced)
        if target is None:
            runs.append(test_run)
    return runs


def match_e2e(run: Run, runs: Sequence[Run]) -> Optional[Run]:
    """The E2E run an incubation run is compared with on the cost axis.

    Same task, model and variant (so every m+n schedule of a variant meets the same E2E run,
    as in the paper's ViT-H figure); failing that, for a run whose variant is itself an ``m+n``
    schedule, the E2E run of that task and model if there is exactly one whose variant is not a
    schedule. A data subset or a resolution is never compared with a different one; a single
    phase (whose cost leaves out the phases before it) with nothing.
    """
    if run.phase:
        return None
    candidates = [r for r in runs if r.method == 'e2e' and r.kind != 'test' and r.task == run.task
                  and norm_name(r.model) == norm_name(run.model) and not r.phase]
    same = [r for r in candidates if norm_name(r.variant) == norm_name(run.variant)]
    if same:
        return same_seed(run, same)
    plain = [r for r in candidates if not is_schedule(r.variant)]
    if is_schedule(run.variant) and len(plain) == 1:
        return plain[0]
    return None


def same_seed(run: Run, candidates: Sequence[Run]) -> Run:
    """The candidate with ``run``'s seed (seeds pair E2E and incubation runs), else the first."""
    return next((r for r in candidates if r.seed is not None and r.seed == run.seed), candidates[0])
