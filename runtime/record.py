"""The run-record contract: what a training run and a pipeline leave on disk, and how it is read.

One writer side (``tools/incubate.py``, :class:`runtime.hooks.DeviceHoursHook`, the export
hook) and one reader side (``python -m benchmarks report``, the tests) share this module, so a
change to a file name or a field is made once. Torch-free: it imports only the standard library
and :mod:`runtime.fileio` (and the leaf :mod:`runtime.errors`).

What a training work dir ``WORK/`` holds (mmengine 0.10 plus this project's hooks):

* ``WORK/<timestamp>/vis_data/scalars.json``: one JSON object a line per session (several after
  a resume); training lines carry ``iter``, validation lines the metrics, ``step`` and the cost
  at that point (``cost/device_hours``, ``cost/images``);
* ``WORK/cost.json``: the cumulative cost (:data:`COST_FILE`);
* ``WORK/train.out``: the process's output when the pipeline started it (:data:`TRAIN_LOG`);
* the artifact the run produced (:func:`artifact_name`), written when training ends; for a
  whole network also ``WORK/timm/`` (:data:`TIMM_FOLDER`), the network as a timm local folder
  (``timm.create_model('local-dir:WORK/timm', pretrained=True)``).

A pipeline work dir holds ``manifest.json`` (:class:`Manifest`), one training work dir per
phase, and ``assemble/metrics.json`` (the assembled network's evaluation).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from .errors import UserError
from .fileio import atomic_write_json

PathLike = Union[str, 'os.PathLike[str]']

# --- file names ---------------------------------------------------------------------------------

MANIFEST = 'manifest.json'
COST_FILE = 'cost.json'
METRICS_FILE = 'metrics.json'      # tools/test.py --metrics-json, e.g. WORK/assemble/metrics.json
TRAIN_LOG = 'train.out'
TEST_LOG = 'test.out'
SCALARS = osp.join('vis_data', 'scalars.json')  # inside a session folder WORK/<timestamp>/
SESSION_PATTERN = re.compile(r'^\d{8}_\d{6}$')   # mmengine's session folder names

# --- phases and artifacts -------------------------------------------------------------------------

META = 'meta'
ASSEMBLE = 'assemble'
SHARED_STARTUP = 'shared_startup_seconds'  # manifest cost: the preloaded server's imports, paid once
FINETUNE = 'finetune'
INCUBATE_PREFIX = 'incubate_'
STATUSES = ('pending', 'started', 'done', 'failed', 'given')
DONE_STATES = ('done', 'given')  # 'given': the pipeline was handed a meta checkpoint
ROLES = ('target', 'meta', 'hybrid', 'assembled')
TIMM_FOLDER = 'timm'  # next to a whole network's model.pth: the same network as a timm local folder
# The labels of a config's ``benchmark = dict(...)``, which the report files its runs by.
BENCHMARK_LABELS = ('task', 'model', 'method', 'variant', 'schedule', 'phase')


def incubate_phase(module_idx: int) -> str:
    """The name of module ``module_idx``'s incubation phase (and of its work dir)."""
    return f'{INCUBATE_PREFIX}{int(module_idx)}'


def is_incubation(phase: str) -> bool:
    return phase.startswith(INCUBATE_PREFIX)


def artifact_name(role: str, module_idx: Optional[int] = None) -> str:
    """The file a run of this model role exports when its training ends.

    Args:
        role: ``'meta'``, ``'hybrid'`` (an incubated module), ``'target'`` or ``'assembled'``.
        module_idx: the incubated module (``'hybrid'`` only).

    Returns:
        ``meta.pth``, ``module_<i>.pth`` or ``model.pth`` (a whole network, written next to its
        ``model.safetensors``).
    """
    if role not in ROLES:
        raise ValueError(f'unknown role {role!r}; one of {ROLES}')
    if role == 'hybrid':
        if module_idx is None:
            raise ValueError('role hybrid needs module_idx for its artifact name')
        return f'module_{int(module_idx)}.pth'
    return 'meta.pth' if role == 'meta' else 'model.pth'


def artifact_files(role: str, module_idx: Optional[int] = None) -> List[str]:
    """Every file a run of this role exports: :func:`artifact_name`, and for a whole network also
    its ``model.safetensors``. A phase is finished only when all of them are there and sound."""
    name = artifact_name(role, module_idx)
    if role in ('target', 'assembled'):
        return [name, osp.splitext(name)[0] + '.safetensors']
    return [name]


# --- artifact fingerprints ------------------------------------------------------------------------


def fingerprint(path: PathLike, chunk: int = 1 << 20) -> Dict[str, Any]:
    """``{size, sha256}`` of a file, as the manifest records a finished phase's artifacts."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while block := f.read(chunk):
            digest.update(block)
    return dict(size=osp.getsize(path), sha256=digest.hexdigest())


def fingerprint_mismatch(path: PathLike, recorded: Mapping[str, Any]) -> Optional[str]:
    """Why ``path`` is not the file whose :func:`fingerprint` was recorded, or None."""
    size = osp.getsize(path)
    if recorded.get('size') is not None and size != recorded['size']:
        return f'{size} bytes where the manifest recorded {recorded["size"]}'
    if recorded.get('sha256') and fingerprint(path)['sha256'] != recorded['sha256']:
        return 'its sha256 differs from the one the manifest recorded'
    return None


# --- reading JSON ---------------------------------------------------------------------------------


class RecordError(UserError):
    """A run record that cannot be read (the message names the file and what is wrong)."""


def read_json(path: PathLike) -> Any:
    """The JSON document in ``path``; a damaged file raises :class:`RecordError` naming it."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise RecordError(f'{os.fspath(path)}: not valid JSON ({e})') from e


def read_json_object(path: PathLike) -> Optional[Dict[str, Any]]:
    """The JSON object in ``path``, or None when the file does not exist (yet)."""
    if not osp.isfile(path):
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise RecordError(f'{os.fspath(path)}: expected a JSON object, found {type(data).__name__}')
    return data


def read_cost(work_dir: PathLike) -> Optional[Dict[str, Any]]:
    """``WORK/cost.json`` (``device_hours``, ``images``, ``devices``, ``device_type``, ``epoch``,
    ``iter``, ``e2e_device_hours``, ``flops``, ``overhead``; see :class:`CostRecord`), or None
    before the first evaluation or the end of training."""
    return read_json_object(osp.join(work_dir, COST_FILE))


OVERHEAD_KEYS = ('startup', 'train', 'eval', 'checkpoint', 'wall')


@dataclass
class CostRecord:
    """What a run cost, three ways (:class:`runtime.hooks.DeviceHoursHook` writes it).

    ``device_hours``: training iterations only (CPU: core-hours of process CPU time);
    ``e2e_device_hours``: the whole process from its start (start-up, data set scan, evaluation
    and checkpoints included); ``flops``: training FLOPs (forward + backward), deterministic.
    ``overhead`` holds wall-clock seconds, every session summed: ``startup`` (process start to
    the first iteration), ``train``, ``eval``, ``checkpoint`` and ``wall`` (process start to the
    last write). A field a run did not record (written by an older version) is None.
    """

    device_hours: float = 0.0
    images: int = 0
    e2e_device_hours: Optional[float] = None
    flops: Optional[int] = None
    overhead: Dict[str, float] = field(default_factory=dict)
    device_type: Optional[str] = None
    devices: Optional[int] = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'CostRecord':
        overhead = data.get('overhead') or {}
        flops, e2e = data.get('flops'), data.get('e2e_device_hours')
        return cls(device_hours=float(data.get('device_hours') or 0.0), images=int(data.get('images') or 0),
                   e2e_device_hours=None if e2e is None else float(e2e), flops=None if flops is None else int(flops),
                   overhead={k: float(overhead[k]) for k in OVERHEAD_KEYS if isinstance(overhead.get(k), (int, float))},
                   device_type=data.get('device_type'), devices=data.get('devices'))

    @property
    def train_fraction(self) -> Optional[float]:
        """Counted training seconds over the wall clock (None when not recorded)."""
        wall = self.overhead.get('wall')
        return self.overhead.get('train', 0.0) / wall if wall else None


def read_cost_record(work_dir: PathLike) -> Optional[CostRecord]:
    """``WORK/cost.json`` as a :class:`CostRecord`, or None when it is not written yet."""
    data = read_cost(work_dir)
    return None if data is None else CostRecord.from_dict(data)


def overhead_line(name: str, cost: Optional[CostRecord]) -> str:
    """One console line: where a run's wall clock went (start-up, train, eval, checkpoint seconds)."""
    if cost is None or not cost.overhead:
        return f'{name}: no overhead recorded'
    o = cost.overhead
    parts = ', '.join(f'{key} {o[key]:.1f} s' for key in OVERHEAD_KEYS[:4] if key in o)
    share = cost.train_fraction
    wall = f'; wall {o["wall"]:.1f} s, {100 * share:.0f}% training' if share is not None else ''
    return f'{name}: {parts}{wall}'


# --- scalars.json ---------------------------------------------------------------------------------

# Keys of a scalars line that are not metrics.
BOOKKEEPING = frozenset({'step', 'time', 'data_time', 'epoch', 'iter', 'lr', 'memory', 'eta'})
COST_PREFIX = 'cost/'
HOURS_KEY = COST_PREFIX + 'device_hours'  # logged with every validation by DeviceHoursHook
IMAGES_KEY = COST_PREFIX + 'images'


@dataclass
class EvalPoint:
    """One validation: at ``step`` (epoch or iteration), after ``device_hours`` of training."""

    step: int
    metrics: Dict[str, float]
    device_hours: Optional[float] = None
    images: Optional[int] = None


@dataclass
class Scalars:
    """One session's ``scalars.json``: its training lines and its validations in order."""

    train_lines: List[Dict[str, Any]] = field(default_factory=list)
    evals: List[EvalPoint] = field(default_factory=list)


def metric_values(line: Mapping[str, Any]) -> Dict[str, float]:
    """The metrics of a logged line as floats: bookkeeping, cost, losses, non-numbers and NaN dropped."""
    out: Dict[str, float] = {}
    for key, value in line.items():
        if key in BOOKKEEPING or key.startswith(COST_PREFIX) or key.startswith('loss'):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            continue
        out[key] = float(value)
    return out


def _is_validation(line: Mapping[str, Any]) -> bool:
    return 'iter' not in line and any(k not in BOOKKEEPING and not k.startswith(COST_PREFIX) for k in line)


def read_scalar_lines(path: PathLike) -> List[Dict[str, Any]]:
    """The JSON objects of a ``scalars.json``. A cut-off last line (a killed run) is skipped;
    a damaged line before it raises :class:`RecordError` naming the file and the line."""
    with open(path) as f:
        text = [line.strip() for line in f]
    lines: List[Dict[str, Any]] = []
    last = max((i for i, line in enumerate(text) if line), default=-1)
    for number, line in enumerate(text):
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if number == last:
                continue
            raise RecordError(f'{os.fspath(path)}: line {number + 1} is not valid JSON ({e})') from e
        if isinstance(record, dict):
            lines.append(record)
    return lines


def read_scalars(path: PathLike) -> Scalars:
    """Training lines and evaluation points of one session's ``scalars.json``.

    mmengine logs validation at ``step=runner.epoch`` by default (``log_metric_by_epoch``), which
    is 0 for every evaluation of an iteration-based run: those are keyed by the last training
    iteration before them instead.
    """
    scalars = Scalars()
    val = []  # (line, last training iteration before it)
    last_iter = 0
    for line in read_scalar_lines(path):
        if 'iter' in line:
            scalars.train_lines.append(line)
            last_iter = int(line.get('step', line['iter']))
        elif _is_validation(line):
            val.append((line, last_iter))
    steps = [int(line.get('step', 0)) for line, _ in val]
    degenerate = any(b <= a for a, b in zip(steps, steps[1:])) or (0 in steps and bool(scalars.train_lines))
    for (line, it), step in zip(val, steps):
        scalars.evals.append(EvalPoint(
            step=it if degenerate else step, metrics=metric_values(line),
            device_hours=float(line[HOURS_KEY]) if HOURS_KEY in line else None,
            images=int(line[IMAGES_KEY]) if IMAGES_KEY in line else None))
    return scalars


def session_dirs(work_dir: PathLike) -> List[str]:
    """The session folders ``WORK/<timestamp>/`` of a work dir, oldest first."""
    if not osp.isdir(work_dir):
        return []
    return sorted(osp.join(work_dir, name) for name in os.listdir(work_dir)
                  if SESSION_PATTERN.match(name) and osp.isdir(osp.join(work_dir, name)))


def last_val_metrics(work_dir: PathLike) -> Dict[str, float]:
    """The metrics of the last validation of a work dir's newest session that has one, or {}."""
    for session in reversed(session_dirs(work_dir)):
        path = osp.join(session, SCALARS)
        if osp.isfile(path):
            evals = read_scalars(path).evals
            if evals:
                return dict(evals[-1].metrics)
    return {}


# --- the pipeline manifest ------------------------------------------------------------------------

MANIFEST_FORMAT = 'incubation-manifest'
MANIFEST_VERSION = 1
READABLE_VERSIONS = (1,)


SLURM_STATE = 'slurm-jobs.json'  # ``tools/incubate.py --launcher slurm``: the run graph's jobs (runtime.graph)
FINAL_NODE = 'final'             # its last node: fine-tunes (after the assemble node) and writes the manifest


@dataclass
class JobRecord:
    """The cluster job of a phase, as manifests written before :data:`SLURM_STATE` existed kept it
    (each phase's ``job``): read once, to carry the jobs over to the state file
    (:func:`manifest_jobs`); never written again."""

    id: str
    state: str = 'PENDING'
    log: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return dict(id=self.id, state=self.state, log=self.log)

    @classmethod
    def from_dict(cls, data: Any) -> Optional['JobRecord']:
        """The record, or None for a manifest entry without one (local runs, older manifests)."""
        if not isinstance(data, Mapping) or data.get('id') in (None, ''):
            return None
        return cls(id=str(data['id']), state=str(data.get('state') or 'UNKNOWN'), log=data.get('log'))


@dataclass
class PhaseRecord:
    """One phase as the manifest records it.

    ``device_hours``/``images`` are the phase's own training cost (None: not known);
    ``checkpoint`` is its artifact once it is finished; ``module_idx`` is set for incubations.
    ``artifacts`` maps each file the finished phase produced (its name in the phase's work dir)
    to its :func:`fingerprint`; ``epochs`` is the schedule length the phase was started with;
    ``job`` is the cluster job of a phase submitted with ``--launcher slurm`` by an earlier version
    (:class:`JobRecord`); this version keeps jobs in :data:`SLURM_STATE`.
    """

    name: str
    status: str = 'pending'
    work_dir: Optional[str] = None
    checkpoint: Optional[str] = None
    metrics: Dict[str, float] = field(default_factory=dict)
    device_hours: Optional[float] = None
    images: Optional[int] = None
    device_type: Optional[str] = None
    module_idx: Optional[int] = None
    job: Optional[JobRecord] = None
    artifacts: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    epochs: Optional[int] = None
    e2e_device_hours: Optional[float] = None   # the whole process (CostRecord)
    flops: Optional[int] = None                # training FLOPs (CostRecord)
    overhead: Dict[str, float] = field(default_factory=dict)  # seconds (CostRecord)

    @property
    def done(self) -> bool:
        return self.status in DONE_STATES

    def to_dict(self) -> Dict[str, Any]:
        out = dict(name=self.name, status=self.status, work_dir=self.work_dir, checkpoint=self.checkpoint,
                   metrics=dict(self.metrics), device_hours=self.device_hours, images=self.images,
                   device_type=self.device_type, e2e_device_hours=self.e2e_device_hours, flops=self.flops,
                   overhead=dict(self.overhead))
        if self.module_idx is not None:
            out['module_idx'] = self.module_idx
        if self.job is not None:
            out['job'] = self.job.to_dict()
        if self.artifacts:
            out['artifacts'] = {name: dict(fp) for name, fp in self.artifacts.items()}
        if self.epochs is not None:
            out['epochs'] = self.epochs
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'PhaseRecord':
        module_idx, epochs = data.get('module_idx'), data.get('epochs')
        return cls(name=str(data.get('name')), status=str(data.get('status', 'pending')),
                   work_dir=data.get('work_dir'), checkpoint=data.get('checkpoint'),
                   metrics=dict(data.get('metrics') or {}), device_hours=data.get('device_hours'),
                   images=data.get('images'), device_type=data.get('device_type'),
                   module_idx=None if module_idx is None else int(module_idx),
                   job=JobRecord.from_dict(data.get('job')),
                   artifacts={str(k): dict(v) for k, v in (data.get('artifacts') or {}).items()},
                   epochs=None if epochs is None else int(epochs),
                   e2e_device_hours=data.get('e2e_device_hours'), flops=data.get('flops'),
                   overhead=dict(data.get('overhead') or {}))


def _known_sum(values: Iterable[Optional[float]]) -> Optional[float]:
    """The sum, or None when a part is unknown: a partial sum would read as a smaller cost."""
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def critical_path(by_phase: Mapping[str, Optional[float]]) -> float:
    """Device-hours on the critical path of a pipeline: meta + the slowest incubation + assembly +
    fine-tune, i.e. every phase in order with the K incubations (which can run on K machines at
    once) counted once, as the slowest of them. ``by_phase`` maps phase names, in pipeline order,
    to their device-hours; an unknown cost (None) counts as 0."""
    incubations = [hours or 0.0 for name, hours in by_phase.items() if is_incubation(name)]
    total = 0.0
    counted = False
    for name, hours in by_phase.items():
        if not is_incubation(name):
            total += hours or 0.0
        elif not counted:
            total += max(incubations)
            counted = True
    return total


@dataclass
class Manifest:
    """``WORK_DIR/manifest.json``: the state, metrics and cost of one pipeline run.

    ``final`` (``checkpoint``, ``metrics``) is set once the fine-tune is done; ``cost`` holds
    ``device_hours`` (all phases), ``by_phase``, ``wall_hours_parallel`` (the critical path),
    ``e2e_device_hours`` (all phases, whole processes, plus the imports of a preloaded server the
    phases were forked from, counted once: ``shared_startup_seconds``) and ``flops`` (the phases
    that counted them).
    """

    config: str
    phases: List[PhaseRecord]
    benchmark: Dict[str, Any] = field(default_factory=dict)
    arch: Optional[Dict[str, Any]] = None
    final: Optional[Dict[str, Any]] = None
    cost: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_phases(cls, config: str, phases: Sequence[PhaseRecord], benchmark: Mapping[str, Any],
                    arch: Optional[Mapping[str, Any]] = None) -> 'Manifest':
        """A manifest whose ``final`` and ``cost`` are derived from ``phases``."""
        phases = list(phases)
        by_phase = {p.name: p.device_hours for p in phases}
        finetune = next((p for p in phases if p.name == FINETUNE), None)
        final = (dict(checkpoint=finetune.checkpoint, metrics=dict(finetune.metrics))
                 if finetune is not None and finetune.status == 'done' else None)
        training = [p for p in phases if p.name != ASSEMBLE and p.status != 'given']
        cost = dict(device_hours=sum(h or 0.0 for h in by_phase.values()), by_phase=by_phase,
                    wall_hours_parallel=critical_path(by_phase),
                    e2e_device_hours=_known_sum(p.e2e_device_hours for p in training),
                    flops=_known_sum(p.flops for p in training))
        return cls(config=config, phases=phases, benchmark=dict(benchmark),
                   arch=None if arch is None else dict(arch), final=final, cost=cost)

    def phase(self, name: str) -> Optional[PhaseRecord]:
        return next((p for p in self.phases if p.name == name), None)

    def to_dict(self) -> Dict[str, Any]:
        return dict(format=MANIFEST_FORMAT, version=MANIFEST_VERSION, config=self.config, benchmark=self.benchmark,
                    arch=self.arch, phases=[p.to_dict() for p in self.phases], final=self.final, cost=self.cost)

    @classmethod
    def from_dict(cls, data: Any, source: str = MANIFEST) -> 'Manifest':
        """Read a manifest; ``source`` (its path) names it in the errors."""
        if not isinstance(data, dict) or data.get('format') != MANIFEST_FORMAT:
            found = data.get('format') if isinstance(data, dict) else type(data).__name__
            raise RecordError(f'{source}: not an incubation manifest (format {found!r}, expected {MANIFEST_FORMAT!r})')
        version = data.get('version')
        if version not in READABLE_VERSIONS:
            raise RecordError(f'{source}: manifest version {version!r} is not supported; this code reads version(s) '
                              f'{", ".join(map(str, READABLE_VERSIONS))} (was it written by a newer tools/incubate.py?)')
        return cls(config=str(data.get('config') or ''), phases=[PhaseRecord.from_dict(p) for p in data.get('phases') or []],
                   benchmark=dict(data.get('benchmark') or {}), arch=data.get('arch'), final=data.get('final') or None,
                   cost=dict(data.get('cost') or {}))


def manifest_jobs(work_dir: PathLike) -> Dict[str, Dict[str, Optional[str]]]:
    """The jobs an earlier version kept in the manifest, by run-graph node (``meta``,
    ``incubate_i``, ``final`` for the fine-tune's), as the state file holds them; {} when none."""
    if not osp.isfile(manifest_path(work_dir)):
        return {}
    jobs: Dict[str, Dict[str, Optional[str]]] = {}
    for phase in read_manifest(work_dir).phases:
        if phase.job is not None and phase.name != ASSEMBLE:  # the final job ran assembly and fine-tune
            jobs[FINAL_NODE if phase.name == FINETUNE else phase.name] = dict(job=phase.job.id, log=phase.job.log)
    return jobs


def read_slurm_jobs(path: PathLike) -> Dict[str, Dict[str, str]]:
    """A run graph's state file (:data:`SLURM_STATE`, the suite's): each node's recorded job,
    ``{name: {"job": id, "log": path}}``; {} when there is none."""
    jobs = (read_json_object(path) or {}).get('jobs')
    return dict(jobs) if isinstance(jobs, dict) else {}


def pipeline_final_job(work_dir: PathLike) -> Optional[str]:
    """The job id of the final node of the pipeline submitted into ``work_dir``, or None."""
    path = osp.join(work_dir, SLURM_STATE)
    jobs = read_slurm_jobs(path) if osp.isfile(path) else manifest_jobs(work_dir)
    return (jobs.get(FINAL_NODE) or {}).get('job')


def manifest_path(work_dir: PathLike) -> str:
    return osp.join(work_dir, MANIFEST)


def read_manifest(work_dir: PathLike) -> Manifest:
    """``WORK_DIR/manifest.json``; raises :class:`RecordError` naming the file when it is damaged,
    not a manifest, or of a version this code does not read."""
    path = manifest_path(work_dir)
    return Manifest.from_dict(read_json(path), source=path)


def write_manifest(work_dir: PathLike, manifest: Manifest, keep_jobs: bool = True) -> Dict[str, Any]:
    """Write ``WORK_DIR/manifest.json`` atomically; returns what was written.

    With ``keep_jobs``, a phase of ``manifest`` without a job takes the job the manifest on disk
    records for it (set on ``manifest`` too): a writer that knows nothing of cluster jobs (the
    pipeline running inside the final Slurm job) keeps the submitter's record of them.
    """
    if keep_jobs and osp.isfile(manifest_path(work_dir)):
        try:
            recorded = {p.name: p.job for p in read_manifest(work_dir).phases if p.job is not None}
        except RecordError:
            recorded = {}
        for phase in manifest.phases:
            if phase.job is None:
                phase.job = recorded.get(phase.name)
    data = manifest.to_dict()
    atomic_write_json(manifest_path(work_dir), data)
    return data
