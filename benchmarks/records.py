"""Result records: one versioned JSON file per study, the source of every number the docs quote.

A study (``make demo``, ``benchmarks reproduce``, ``benchmarks speed``, the downstream suite)
ends by writing one record with :func:`write_record`; the tables in ``README.md`` and ``docs/``
are generated from the committed records under ``docs/results/`` (``python -m benchmarks
results``). Like mmpretrain's metafiles, a record says what was run, on what, and what came out:

* ``format`` / ``version`` (:data:`FORMAT`, :data:`VERSION`): a reader meeting another says so;
* ``study``, ``command`` (the argv), ``date`` (UTC), ``seeds``, ``extra`` (study-specific);
* ``git``: ``commit`` and ``dirty`` (uncommitted changes to tracked or untracked, not ignored,
  files) of the checkout that ran it;
* ``machine``: CPU model, a digest of its flags, cores (and those this process may use), memory,
  GPU names (``nvidia-smi``; empty without one), the load average, OS and Python;
* ``versions``: torch, torchvision, timm, mmengine, mmcv, mmdet, mmseg, numpy (None: not installed),
  read with :mod:`importlib.metadata`, so writing a record never imports torch;
* ``runs``: one entry per run. From a :class:`benchmarks.runs.Run` (:func:`run_entry`): its
  benchmark labels, seed, status, the **last** evaluation's metrics (``metrics``, ``last``) and
  the **best** one's, labelled as such (``best``), the three costs (``costs``,
  :mod:`benchmarks.costs`), the evaluation curve and phases (so the report's tables can be rebuilt
  from the record alone: :func:`record_runs`), and the ``{size, sha256}`` of each final checkpoint
  (:func:`runtime.record.fingerprint`; for ``model.safetensors`` also ``weights_sha256``, the
  digest of its tensors alone, :func:`weights_digest`). A plain dict (a speed measurement, a repeatability check)
  is stored as it is.

Torch-free: the standard library, :mod:`runtime.record` and :mod:`benchmarks.runs` (whose
imports are torch-free too).
"""
from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import os.path as osp
import platform
import subprocess
import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from runtime.fileio import atomic_write
from runtime.record import EvalPoint, RecordError, artifact_files, fingerprint, read_json

from .runs import Phase, Run
from .tasks import primary_metric

FORMAT = 'incubation-results'
VERSION = 1
READABLE_VERSIONS = (1,)
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS_DIR = osp.join(ROOT, 'docs', 'results')
# distribution name -> the key in ``versions``
PACKAGES = {'torch': 'torch', 'torchvision': 'torchvision', 'timm': 'timm', 'mmengine': 'mmengine',
            'mmcv': 'mmcv', 'mmdet': 'mmdet', 'mmsegmentation': 'mmseg', 'numpy': 'numpy'}

PathLike = Union[str, 'os.PathLike[str]']
RunLike = Union[Run, Mapping[str, Any]]


# --- where and with what ----------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def cpu_info() -> Dict[str, Any]:
    """``model`` (``/proc/cpuinfo``'s model name, else :func:`platform.processor`) and
    ``flags_sha256`` (a digest of the sorted instruction-set flags: two machines with the same
    digest run the same kernels' code paths), ``flags`` (how many), ``cores`` (logical CPUs of
    the machine) and ``usable_cores`` (those this process may run on)."""
    model, flags = None, []
    for line in _read('/proc/cpuinfo').splitlines():
        key, _, value = line.partition(':')
        key = key.strip()
        if key in ('model name', 'Model', 'cpu model') and model is None:
            model = value.strip()
        elif key in ('flags', 'Features') and not flags:
            flags = sorted(set(value.split()))
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return dict(model=model or platform.processor() or None, arch=platform.machine(),
                flags_sha256=hashlib.sha256(' '.join(flags).encode()).hexdigest()[:16] if flags else None,
                flags=len(flags), cores=os.cpu_count(), usable_cores=usable)


def memory_gib() -> Optional[float]:
    """Total memory (``/proc/meminfo``'s MemTotal) in GiB, or None where it cannot be read."""
    for line in _read('/proc/meminfo').splitlines():
        if line.startswith('MemTotal:'):
            return round(int(line.split()[1]) / 2 ** 20, 1)
    return None


def gpu_names() -> List[str]:
    """``nvidia-smi``'s GPU names and memory, one string each; [] without nvidia-smi or a GPU."""
    try:
        out = subprocess.run(['nvidia-smi', '--query-gpu=name,memory.total', '--format=csv,noheader'],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def machine_info() -> Dict[str, Any]:
    """What the record's ``machine`` holds: ``cpu`` (:func:`cpu_info`), ``memory_gib``, ``gpus``,
    ``load_average`` (1, 5 and 15 minutes, when the record is written: wall clock and CPU-time
    costs on a shared machine depend on it), ``os`` and ``python``."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return dict(cpu=cpu_info(), memory_gib=memory_gib(), gpus=gpu_names(), load_average=load,
                os=f'{platform.system()} {platform.release()}', python=platform.python_version())


def library_versions() -> Dict[str, Optional[str]]:
    """``{torch, torchvision, timm, mmengine, mmcv, mmdet, mmseg, numpy}`` as installed (None:
    not installed), from the packages' metadata: nothing is imported."""
    out: Dict[str, Optional[str]] = {}
    for dist, key in PACKAGES.items():
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = None
    return out


def git_state(root: PathLike = ROOT) -> Dict[str, Any]:
    """``{commit, dirty}`` of the checkout at ``root`` (both None outside a git checkout)."""
    def git(*args: str) -> Optional[str]:
        try:
            out = subprocess.run(['git', '-C', os.fspath(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git('rev-parse', 'HEAD')
    if commit is None:
        return dict(commit=None, dirty=None)
    status = git('status', '--porcelain', '--untracked-files=normal')
    return dict(commit=commit.strip(), dirty=None if status is None else bool(status.strip()))


# --- runs -------------------------------------------------------------------------------------


def _eval_dict(point: EvalPoint) -> Dict[str, Any]:
    return dict(step=point.step, metrics=dict(point.metrics), device_hours=point.device_hours, images=point.images)


def best_eval(run: Run, metric: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The evaluation with the highest ``metric`` (the task's primary one by default), labelled
    ``'best'``: ``{label, metric, step, value, metrics}``; None without evaluations."""
    metric = metric or primary_metric(run.task)
    points = [p for p in run.evals if metric in p.metrics]
    if not points:
        return None
    best = max(points, key=lambda p: p.metrics[metric])  # the first of equal values: the earliest epoch
    return dict(label='best', metric=metric, step=best.step, value=best.metrics[metric], metrics=dict(best.metrics))


def final_checkpoints(run: Run) -> Dict[str, Dict[str, Any]]:
    """``{file relative to the run's dir: {size, sha256}}`` of what the run finally produced: a
    pipeline's fine-tuned ``finetune/model.{pth,safetensors}``, a training run's exported model
    (``model.pth`` + ``.safetensors``, ``meta.pth`` or ``module_<i>.pth``), else mmengine's last
    checkpoint (``last_checkpoint``). {} when there is none (a test-only run, a deleted file)."""
    base = run.path
    if run.kind == 'pipeline':
        names = [osp.join('finetune', n) for n in artifact_files('target')]
    elif run.kind == 'train':
        modules = os.listdir(base) if osp.isdir(base) else []
        names = artifact_files('target') + ['meta.pth'] + sorted(
            n for n in modules if n.startswith('module_') and n.endswith('.pth'))
    else:
        names = []
    found = [n for n in names if osp.isfile(osp.join(base, n))]
    if not found and run.kind == 'train':
        pointer = _read(osp.join(base, 'last_checkpoint')).strip()
        if pointer and osp.isfile(pointer if osp.isabs(pointer) else osp.join(base, pointer)):
            found = [osp.relpath(pointer, base) if osp.isabs(pointer) else pointer]
    out = {}
    for name in found:
        out[name] = fingerprint(osp.join(base, name))
        if name.endswith('.safetensors'):
            out[name]['weights_sha256'] = weights_digest(osp.join(base, name))
    return out


def weights_digest(path: PathLike) -> Optional[str]:
    """sha256 of a ``.safetensors`` file's tensors (name, dtype, shape and bytes, in name order),
    None when ``safetensors`` is missing or the file does not read as one. Unlike the file's own sha256 it ignores the
    header, whose metadata safetensors writes in no fixed order: equal weights, equal digest."""
    try:
        from safetensors import safe_open
    except ImportError:
        return None
    digest = hashlib.sha256()
    try:
        with safe_open(os.fspath(path), framework='numpy') as f:
            for key in sorted(f.keys()):
                tensor = f.get_tensor(key)
                digest.update(f'{key}:{tensor.dtype}:{list(tensor.shape)};'.encode())
                digest.update(tensor.tobytes())
    except Exception:  # noqa: BLE001 - not a readable safetensors file (its sha256 is still recorded)
        return None
    return digest.hexdigest()


def run_entry(run: Run, base: Optional[PathLike] = None) -> Dict[str, Any]:
    """One run as a record holds it (see the module docstring); ``path`` is relative to ``base``."""
    path = run.path if base is None else osp.relpath(run.path, base)
    last = run.evals[-1] if run.evals else None
    return dict(
        name=run.name, path=path, kind=run.kind, benchmark=dict(run.benchmark), seed=run.seed,
        status=run.status, status_detail=run.status_detail,
        metrics=dict(run.metrics),
        last=None if last is None else dict(label='last', step=last.step, metrics=dict(last.metrics)),
        best=best_eval(run),
        costs=run.costs(), cost=dict(run.cost),
        evals=[_eval_dict(p) for p in run.evals], cost_offset=run.cost_offset, flops_offset=run.flops_offset,
        eval_cost=run.eval_cost,
        phases=[dict(name=p.name, status=p.status, device_hours=p.device_hours, images=p.images,
                     metrics=dict(p.metrics), module_idx=p.module_idx, charged_from=p.charged_from,
                     cost=p.work_dir.cost if p.work_dir is not None else None) for p in run.phases],
        checkpoints=final_checkpoints(run))


def _common_base(runs: Sequence[RunLike]) -> Optional[str]:
    paths = [osp.abspath(r.path) for r in runs if isinstance(r, Run)]
    if not paths:
        return None
    base = osp.commonpath(paths)
    return osp.dirname(base) if len(paths) == 1 or base in paths else base


def _relative(path: str) -> str:
    """``path`` relative to the current directory when it lies below it (records stay portable)."""
    path = osp.abspath(path)
    rel = osp.relpath(path, os.getcwd())
    return path if rel.startswith('..') else rel


# --- writing and reading ----------------------------------------------------------------------


def build_record(study: str, command: Sequence[str], runs: Sequence[RunLike], seeds: Iterable[Any] = (),
                 extra: Optional[Mapping[str, Any]] = None, root: PathLike = ROOT) -> Dict[str, Any]:
    """The record as a dict (what :func:`write_record` writes). ``runs``: :class:`Run` objects
    (converted by :func:`run_entry`, paths relative to their common folder) and/or dicts (kept
    as they are; they must be JSON-serialisable)."""
    base = _common_base(runs)
    entries = [run_entry(r, base) if isinstance(r, Run) else dict(r) for r in runs]
    return dict(format=FORMAT, version=VERSION, study=str(study), command=[str(a) for a in command],
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                git=git_state(root), machine=machine_info(), versions=library_versions(),
                seeds=list(seeds), work_dir=None if base is None else _relative(base), runs=entries,
                extra=dict(extra or {}))


def write_record(path: PathLike, study: str, command: Sequence[str], runs: Sequence[RunLike],
                 seeds: Iterable[Any] = (), extra: Optional[Mapping[str, Any]] = None,
                 root: PathLike = ROOT) -> Dict[str, Any]:
    """Write a study's record to ``path`` (atomically, indented JSON); returns what was written.

    Args:
        path: the record file, e.g. ``WORK/results.json`` (commit a copy under ``docs/results/``).
        study: its name, e.g. ``'demo'``, ``'fashion'``, ``'speed'``.
        command: the command line that ran the study (``sys.argv``, with the interpreter).
        runs: :class:`benchmarks.runs.Run` objects and/or plain dicts (measurements).
        seeds: the seeds the study ran.
        extra: anything else the study wants kept (preset, wall clock, notes).
        root: the checkout whose git state is recorded.
    """
    data = build_record(study, command, runs, seeds, extra, root)
    text = json.dumps(data, indent=1, sort_keys=False, default=_jsonable) + '\n'

    def write(tmp: str) -> None:
        with open(tmp, 'w') as f:
            f.write(text)

    atomic_write(path, write)
    return json.loads(text)


def _jsonable(value: Any) -> Any:
    if hasattr(value, 'to_dict'):
        return value.to_dict()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f'{type(value).__name__} is not JSON-serialisable in a result record')


def read_record(path: PathLike) -> Dict[str, Any]:
    """A record written by :func:`write_record`; :class:`runtime.record.RecordError` naming the
    file when it is damaged, not a result record, or of a version this code does not read."""
    path = os.fspath(path)
    if not osp.isfile(path):
        raise RecordError(f'{path}: no such result record')
    data = read_json(path)
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        found = data.get('format') if isinstance(data, dict) else type(data).__name__
        raise RecordError(f'{path}: not a result record (format {found!r}, expected {FORMAT!r})')
    if data.get('version') not in READABLE_VERSIONS:
        raise RecordError(f'{path}: result record version {data.get("version")!r} is not supported; this code reads '
                          f'version(s) {", ".join(map(str, READABLE_VERSIONS))}')
    return data


class RecordedRun(Run):
    """A :class:`Run` rebuilt from a record: its costs are the recorded ones (its work dirs may be gone)."""

    recorded_costs: Dict[str, Optional[float]]

    def costs(self) -> Dict[str, Optional[float]]:
        return dict(self.recorded_costs)


def entry_run(entry: Mapping[str, Any]) -> RecordedRun:
    """The :class:`Run` that :func:`run_entry` wrote (for :mod:`benchmarks.tables` and plots)."""
    run = RecordedRun(
        path=str(entry.get('path', '')), name=str(entry['name']), kind=str(entry.get('kind', 'train')),
        benchmark=dict(entry['benchmark']), status=str(entry.get('status', 'done')),
        status_detail=str(entry.get('status_detail') or ''), metrics=dict(entry.get('metrics') or {}),
        evals=[EvalPoint(step=int(p['step']), metrics=dict(p['metrics']), device_hours=p.get('device_hours'),
                         images=p.get('images')) for p in entry.get('evals') or []],
        cost_offset=float(entry.get('cost_offset') or 0.0), cost=dict(entry.get('cost') or {}),
        phases=[Phase(name=p['name'], status=p['status'], device_hours=p.get('device_hours'), images=p.get('images'),
                      metrics=dict(p.get('metrics') or {}), module_idx=p.get('module_idx'),
                      charged_from=str(p.get('charged_from') or ''))
                for p in entry.get('phases') or []],
        sources=[], seed=entry.get('seed'), eval_cost=entry.get('eval_cost'),
        flops_offset=entry.get('flops_offset'))
    run.recorded_costs = dict(entry.get('costs') or {})
    return run


def record_runs(data: Mapping[str, Any]) -> List[RecordedRun]:
    """The record's run entries (those :func:`run_entry` wrote, i.e. with ``benchmark``) as runs."""
    return [entry_run(e) for e in data.get('runs') or [] if isinstance(e, Mapping) and 'benchmark' in e]


def study_record_path(work_dir: PathLike) -> str:
    """Where a study run in ``work_dir`` writes its record: ``WORK/results.json``."""
    return osp.join(os.fspath(work_dir), 'results.json')


# The `python -m benchmarks` command this process runs, as benchmarks.__main__ parsed it (also when
# it is called in-process with its own argv, as the tests do): what a study's record names.
_BENCHMARKS_ARGV: Optional[List[str]] = None


def set_benchmarks_command(argv: Sequence[str]) -> None:
    global _BENCHMARKS_ARGV
    _BENCHMARKS_ARGV = list(argv)


def command_line(argv: Optional[Sequence[str]] = None) -> List[str]:
    """This process's command as a user would type it: ``python -m benchmarks reproduce ...``
    for the benchmarks' entry point, else ``python SCRIPT ARGS`` (script path relative to the
    checkout)."""
    if argv is None and _BENCHMARKS_ARGV is not None:
        return ['python', '-m', 'benchmarks', *_BENCHMARKS_ARGV]
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return []
    script = osp.abspath(argv[0])
    if script == osp.join(ROOT, 'benchmarks', '__main__.py'):
        return ['python', '-m', 'benchmarks', *argv[1:]]
    rel = osp.relpath(script, ROOT)
    return ['python', argv[0] if rel.startswith('..') else rel, *argv[1:]]


def write_study_record(work_dir: PathLike, study: str, runs: Sequence[RunLike],
                       extra: Optional[Mapping[str, Any]] = None, command: Optional[Sequence[str]] = None) -> str:
    """A study's one call at its end: :func:`write_record` to ``WORK/results.json``
    (:func:`study_record_path`), the seeds taken from the runs, the command from ``sys.argv``.
    Prints where the record went and returns its path."""
    seeds = sorted({r.seed for r in runs if isinstance(r, Run) and r.seed is not None})
    path = study_record_path(work_dir)
    write_record(path, study, command_line() if command is None else command, runs, seeds=seeds, extra=extra)
    print(f'[{study}] result record: {path} (commit it under docs/results/ to quote it in the docs; '
          'python -m benchmarks results --write regenerates the tables)', flush=True)
    return path
