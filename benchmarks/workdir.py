"""Reading mmengine work dirs: sessions, validation curves, test results, cost.

Formats read (written by mmengine 0.10 and by this project's hooks; file names and the
``scalars.json``/``cost.json`` readers are in :mod:`runtime.record`):

* a training work dir ``WORK/``: the config dump ``WORK/<config name>.py``, one folder per
  session ``WORK/<timestamp>/`` (several after a resume) with ``<timestamp>.log``,
  ``vis_data/config.py`` (that session's config) and ``vis_data/scalars.json``, and
  ``WORK/cost.json`` from :class:`runtime.hooks.DeviceHoursHook`;
* a test session (``tools/test.py``, in its own ``--work-dir`` or inside a training work dir):
  ``WORK/<timestamp>/<timestamp>.json`` holds the metrics, ``vis_data/config.py`` the config
  (with ``--tta`` its ``model`` is the TTA wrapper, which is how a multi-scale test is recognised).

Metric values are normalised to percent (COCO's fractions are multiplied by 100).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from runtime import record
from runtime.record import EvalPoint, RecordError

__all__ = ['EvalPoint', 'RunError', 'Session', 'WorkDir', 'is_run_dir', 'normalise_metrics', 'read_config',
           'read_session', 'read_work_dir']

_FRACTION_PREFIXES = ('coco/',)  # mmdet's CocoMetric reports fractions; everything else is percent


class RunError(RecordError):
    """A directory that cannot be read as a run (the message names the directory and why)."""


def normalise_metrics(metrics: Mapping[str, Any]) -> Dict[str, float]:
    """Metric values as floats in percent; bookkeeping and cost keys are dropped."""
    return {key: value * 100.0 if key.startswith(_FRACTION_PREFIXES) else value
            for key, value in record.metric_values(metrics).items()}


def read_config(path: Path) -> Dict[str, Any]:
    """A dumped mmengine config as a plain dict (custom imports are not executed)."""
    from mmengine.config import Config

    try:
        cfg = Config.fromfile(str(path), import_custom_modules=False)
        return cfg.to_dict()
    except Exception as e:  # noqa: BLE001 - fall back to reading the one entry we need
        benchmark = _benchmark_from_source(path)
        if benchmark is None:
            raise RunError(f'{path}: cannot read the config ({type(e).__name__}: {e})') from e
        return {'benchmark': benchmark}


def _benchmark_from_source(path: Path) -> Optional[Dict[str, Any]]:
    """``benchmark = dict(...)`` read with ``ast`` (for configs that mmengine cannot load here)."""
    import ast

    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == 'benchmark' and isinstance(node.value, ast.Call)):
            try:
                return {kw.arg: ast.literal_eval(kw.value) for kw in node.value.keywords if kw.arg}
            except ValueError:
                return None
    return None



# --- data model ------------------------------------------------------------------------------


@dataclass
class Session:
    """One ``WORK/<timestamp>/`` folder."""

    path: Path
    kind: str  # 'train' or 'test'
    config: Dict[str, Any]
    train_lines: List[Dict[str, Any]] = field(default_factory=list)
    evals: List[EvalPoint] = field(default_factory=list)
    test_metrics: Dict[str, float] = field(default_factory=dict)

    @property
    def is_tta(self) -> bool:
        model = self.config.get('model') or {}
        return isinstance(model, Mapping) and ('TTA' in str(model.get('type', '')) or 'module' in model)


@dataclass
class WorkDir:
    """An mmengine work dir: its sessions merged (later sessions win for equal steps)."""

    path: Path
    benchmark: Optional[Dict[str, Any]]
    config: Dict[str, Any]
    evals: List[EvalPoint]
    tests: List[Session]
    cost: Optional[Dict[str, Any]]
    train_sessions: int
    last_train: Optional[Dict[str, Any]]

    def _cost(self, key: str) -> Optional[float]:
        """``cost.json``'s value, else the one logged with the last evaluation that has it."""
        if self.cost and self.cost.get(key) is not None:
            return self.cost[key]
        logged = [getattr(p, key) for p in self.evals if getattr(p, key) is not None]
        return logged[-1] if logged else None

    @property
    def device_hours(self) -> Optional[float]:
        hours = self._cost('device_hours')
        return None if hours is None else float(hours)

    @property
    def images(self) -> Optional[int]:
        images = self._cost('images')
        return None if images is None else int(images)

    @property
    def final_metrics(self) -> Dict[str, float]:
        return dict(self.evals[-1].metrics) if self.evals else {}

    def progress(self) -> Tuple[Optional[bool], str]:
        """(finished?, 'epoch 3/5'); finished is None when the config does not say how long."""
        train_cfg = self.config.get('train_cfg') or {}
        by_epoch = ('max_epochs' in train_cfg or train_cfg.get('by_epoch')
                    or 'Epoch' in str(train_cfg.get('type', '')))
        cost = self.cost or {}
        last = self.last_train or {}
        if by_epoch and train_cfg.get('max_epochs'):
            total = int(train_cfg['max_epochs'])
            done = cost.get('epoch')
            if done is None:
                done = max([p.step for p in self.evals] + [0])
            return int(done) >= total, f'epoch {int(done)}/{total}'
        if train_cfg.get('max_iters'):
            total = int(train_cfg['max_iters'])
            done = cost.get('iter', last.get('iter', 0))
            return int(done) >= total, f'iter {int(done)}/{total}'
        return None, ''



def _sessions(path: Path) -> List[Path]:
    return [Path(p) for p in record.session_dirs(path)]


def _session_config(folder: Path, work_dir: Path) -> Dict[str, Any]:
    config = folder / 'vis_data' / 'config.py'
    if config.is_file():
        return read_config(config)
    dumps = sorted(work_dir.glob('*.py'), key=lambda p: p.stat().st_mtime)
    return read_config(dumps[-1]) if dumps else {}



def read_session(folder: Path, work_dir: Path) -> Optional[Session]:
    scalars = folder / record.SCALARS
    test_json = folder / f'{folder.name}.json'
    if scalars.is_file():
        lines = record.read_scalars(scalars)
        session = Session(folder, 'train', _session_config(folder, work_dir), train_lines=lines.train_lines,
                          evals=[dataclasses.replace(p, metrics=normalise_metrics(p.metrics)) for p in lines.evals])
        if session.train_lines or session.evals:
            return session
    if test_json.is_file():
        session = Session(folder, 'test', _session_config(folder, work_dir))
        result = record.read_json(test_json)
        if isinstance(result, dict):
            session.test_metrics = normalise_metrics(result)
        return session
    return None


def read_work_dir(path: os.PathLike) -> WorkDir:
    """Merge every session of an mmengine work dir."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f'{path}: no such directory')
    sessions = [s for s in (read_session(f, path) for f in _sessions(path)) if s is not None]
    train = [s for s in sessions if s.kind == 'train']
    tests = [s for s in sessions if s.kind == 'test']
    if not sessions:
        raise RunError(f'{path}: not an mmengine work dir (no <timestamp>/vis_data/scalars.json '
                       'and no <timestamp>/<timestamp>.json)')
    merged: Dict[int, EvalPoint] = {}
    for session in train:
        for point in session.evals:
            merged[point.step] = point
    config = (train or tests)[-1].config
    if not config.get('benchmark'):
        dumps = sorted(path.glob('*.py'), key=lambda p: p.stat().st_mtime)
        for dump in reversed(dumps):
            config = read_config(dump)
            if config.get('benchmark'):
                break
    last_train = None
    for session in train:
        if session.train_lines:
            last_train = session.train_lines[-1]
    return WorkDir(path=path, benchmark=config.get('benchmark'), config=config,
                   evals=[merged[k] for k in sorted(merged)], tests=tests, cost=record.read_cost(path),
                   train_sessions=len(train), last_train=last_train)


def is_run_dir(path: Path) -> bool:
    """A pipeline dir (``manifest.json``) or a work dir with a training or test session."""
    return (path / record.MANIFEST).is_file() or any(
        (f / record.SCALARS).is_file() or (f / f'{f.name}.json').is_file() for f in _sessions(path))
