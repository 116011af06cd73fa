"""The whole method in one resumable command (``tools/incubate.py``).

meta -> K incubation runs (independent, optionally concurrent) -> assembly -> fine-tune.

Every phase is an ordinary ``tools/train.py`` run of a phase config in its own work dir, so
any phase can also be run by hand, on a cluster, or resumed alone. A phase is finished when
the files its ExportHook writes at the end of training exist and are sound: when a phase
finishes, each file is loaded once and its size and sha256 are recorded in the manifest; a
later run re-checks them, and a file that is damaged or changed is moved aside (``NAME.damaged-N``)
and its phase re-run, with one line naming it. An unfinished phase is re-run with
``--resume``, which continues from its newest readable checkpoint. The schedule each phase was
started with is recorded too: the same work dir with other epochs is refused (the way out is a
new work dir, or ``--force-phase NAME``, which moves that phase's outputs and those of the phases
depending on it aside, to ``NAME.old-N``, and runs them again).
Each phase is handed its merged config as a file, ``WORK_DIR/<phase>/<phase>_config.py``
(the phase config with the pipeline's and the user's options merged in), so any value an
mmengine config can hold reaches it. The state of the pipeline is kept in
``WORK_DIR/manifest.json`` (:class:`runtime.record.Manifest`).

The module reads top to bottom: phase configs, phases and how they are launched, the plan
(:class:`IncubationPipeline`), the manifest and the run. The command line is
:mod:`classification.incubate`.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from backbones import Division, resolve_arch
from backbones.incubation import load_meta_checkpoint
from runtime import fault, lock, record
from runtime.checkpoint import remove_stale_temp_files
from runtime.cli import UserError, check_keys, one_line
from runtime.configs import check_benchmark_labels, check_config
from runtime.fileio import atomic_write_bytes
from runtime.launch import (
    Backend,
    Command,
    Job,
    LocalBackend,
    PreloadedBackend,
    default_backend,
    python_argv,
    supervise,
    tail,
    torchrun_argv,
)
from runtime.progress import PROGRESS_FILE, Progress
from runtime.record import Manifest, PhaseRecord

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
TEST = osp.join(ROOT, 'tools', 'test.py')


class PipelineError(UserError, RuntimeError):
    """A phase failed or an input is unusable; the message says which and how to retry."""


SECTIONS = ('meta', 'incubate', 'finetune')
# What a pipeline config's ``pipeline = dict(...)`` holds, and each of its sections.
PIPELINE_KEYS = (*SECTIONS, 'common_cfg_options')
SECTION_KEYS = ('config', 'cfg_options')


# --- phase configs --------------------------------------------------------------------------------


def merged_config(path: str, options: Dict[str, Any]) -> Config:
    """The phase config at ``path`` with ``options`` (dotted keys, any values) merged in."""
    cfg = Config.fromfile(path)
    try:
        cfg.merge_from_dict(options)
    except TypeError as exc:  # e.g. a dict option over a value that is not one (mmengine's message)
        raise UserError(f'{path}: the options do not merge: {exc}') from exc
    return cfg


def write_config(cfg: Config, path: str) -> str:
    """Dump ``cfg`` as a self-contained Python config (what tools/train.py and tools/test.py read),
    atomically, so that an interrupted pipeline never leaves half a config behind."""
    return atomic_write_bytes(path, cfg.dump().encode())


# --- phases ---------------------------------------------------------------------------------------


@dataclass
class Phase:
    """One training run of the pipeline: its phase config, the options merged into it, its work dir."""

    name: str
    config: str
    work_dir: str
    artifact: str                      # written by ExportHook when the phase has finished
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    module_idx: Optional[int] = None
    section: str = ''                  # its entry in the pipeline config: meta | incubate | finetune
    also: List[str] = field(default_factory=list)  # other files it exports (model.safetensors)

    @property
    def artifacts(self) -> List[str]:
        """Every file the finished phase has exported."""
        return [self.artifact, *self.also]

    @property
    def config_file(self) -> str:
        """The merged config this phase trains from (written when the phase starts)."""
        return osp.join(self.work_dir, f'{self.name}_config.py')

    @property
    def log_path(self) -> str:
        return osp.join(self.work_dir, record.TRAIN_LOG)

    def finished(self) -> bool:
        """Every artifact is there (:meth:`IncubationPipeline.verify_artifacts` checks them)."""
        return all(osp.isfile(path) for path in self.artifacts)

    def write_config(self) -> str:
        return write_config(merged_config(self.config, self.cfg_options), self.config_file)

    def to_record(self, status: str, artifacts: Optional[Dict[str, Dict[str, Any]]] = None,
                  epochs: Optional[int] = None) -> PhaseRecord:
        cost = record.read_cost(self.work_dir) or {}
        costs = record.CostRecord.from_dict(cost)
        return PhaseRecord(name=self.name, status=status, work_dir=self.work_dir,
                           checkpoint=self.artifact if self.finished() else None,
                           metrics=record.last_val_metrics(self.work_dir),
                           device_hours=cost.get('device_hours', 0.0), images=cost.get('images', 0),
                           device_type=cost.get('device_type'), module_idx=self.module_idx,
                           artifacts=dict(artifacts or {}), epochs=epochs,
                           e2e_device_hours=costs.e2e_device_hours, flops=costs.flops, overhead=costs.overhead)

    def started_epochs(self) -> Optional[int]:
        """The epochs of the config this phase was last started with (its dumped config), if any."""
        if not osp.isfile(self.config_file):
            return None
        return int(Config.fromfile(self.config_file).train_cfg.max_epochs)


@dataclass
class Launcher:
    """How a phase's training is started here: local processes (optionally torchrun groups),
    through a process back-end. (On Slurm, classification/cluster.py submits the phases instead.)

    The default back-end for one process per phase on a machine without CUDA devices forks each
    phase's process from a server that imported torch, timm and mmengine once
    (:class:`runtime.launch.PreloadedBackend`): a short CPU phase spends seconds importing them
    otherwise. torchrun groups are never forked, so with ``nproc_per_worker > 1`` no server is
    started (nor paid for). ``LocalBackend()`` starts every phase in a fresh interpreter
    (``tools/incubate.py --fresh-processes``).
    """

    nproc_per_worker: int = 1
    threads_per_worker: Optional[int] = None
    port: int = 29500
    backend: Optional[Backend] = None

    def __post_init__(self) -> None:
        if self.backend is None:
            self.backend = default_backend() if self.nproc_per_worker == 1 else LocalBackend()

    def warm_up(self) -> float:
        """Get the back-end's preloaded server ready, if it has one; the seconds that took (once)."""
        if isinstance(self.backend, PreloadedBackend):
            return self.backend.warm_up()
        return 0.0

    def argv(self, phase: Phase, slot: int) -> List[str]:
        args = [phase.config_file, '--work-dir', phase.work_dir, '--resume']
        if self.nproc_per_worker > 1:
            return torchrun_argv(TRAIN, *args, nproc=self.nproc_per_worker, port=self.port + 10 * slot)
        return python_argv(TRAIN, *args)

    def command(self, phase: Phase, slot: int) -> Command:
        return Command(self.argv(phase, slot), phase.log_path, env=self.env(), cwd=ROOT)

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        if self.threads_per_worker:
            env['OMP_NUM_THREADS'] = str(self.threads_per_worker)
        return env


def run_phases(phases: Sequence[Phase], launcher: Launcher, parallel: int, on_change: Callable[..., Any],
               poll_seconds: float = 0.25, progress_seconds: float = 20.0, progress: Optional[Progress] = None) -> None:
    """Run unfinished phases, at most ``parallel`` at a time; raise on the first failure.
    ``progress`` (the pipeline's overall progress) is told when each starts and ends."""
    progress = progress or Progress([p.name for p in phases], prefix='[incubate]', what='phase')

    def start(phase: Phase, slot: int) -> Job:
        phase.write_config()
        command = launcher.command(phase, slot)
        print(f'[incubate] {phase.name}: starting -> {phase.log_path}\n[incubate]   {command}', flush=True)
        job = launcher.backend.start(command)
        progress.start(phase.name, log=phase.log_path)
        on_change()
        return job

    def on_exit(phase: Phase, job: Job, code: int) -> None:
        if code != 0 or not phase.finished():
            progress.finish(phase.name, ok=False)
            on_change(failed=phase.name)
            raise PipelineError(
                f'phase {phase.name} failed (exit code {code}); last lines of {phase.log_path}:\n'
                f'{tail(phase.log_path, 25)}\nFix the cause and run the same command again: finished phases are '
                f'kept and {phase.name} resumes from its last checkpoint. To run it alone: {job.command}')
        progress.finish(phase.name)
        print(f'[incubate] {phase.name}: done ({phase.artifact})', flush=True)
        print(f'[incubate]   {record.overhead_line(phase.name, record.read_cost_record(phase.work_dir))}', flush=True)
        on_change()

    supervise([p for p in phases if not p.finished()], start, parallel, on_exit, lambda phase, job: progress.poll(),
              poll_seconds=poll_seconds, progress_seconds=progress_seconds)


# --- the pipeline ---------------------------------------------------------------------------------


class IncubationPipeline:
    """Plans and runs the phases of one pipeline config into ``work_dir``."""

    def __init__(self, config: str, work_dir: str, meta: Optional[str] = None, data_root: Optional[str] = None,
                 cfg_options: Optional[Dict[str, Any]] = None, modules: Optional[Sequence[int]] = None,
                 epochs: Optional[Dict[str, int]] = None) -> None:
        self.config_path = osp.abspath(config)
        if not osp.isfile(self.config_path):
            raise PipelineError(f'{config}: pipeline config not found')
        self.cfg = Config.fromfile(self.config_path)
        if 'pipeline' not in self.cfg:
            raise PipelineError(f'{config}: not a pipeline config (no `pipeline = dict(meta=..., incubate=..., '
                                f'finetune=...)`); phase configs run with tools/train.py')
        self.check_pipeline_dict()
        self.work_dir = osp.abspath(work_dir)
        self.meta_given = osp.abspath(meta) if meta else None
        self.common = dict(self.cfg.pipeline.get('common_cfg_options', {}))
        if data_root:
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
                self.common[f'{loader}.dataset.data_root'] = osp.abspath(data_root)
        self.common.update(cfg_options or {})
        # per-phase schedule lengths (the paper's m+n ablation), on top of the phase configs
        self.epochs = {k: _check_epochs(v, f'--{k}-epochs') for k, v in (epochs or {}).items() if v is not None}
        self._epochs_cache: Dict[str, int] = {}
        self._section_configs: Dict[str, Config] = {}
        self._fingerprints: Dict[str, Tuple[Tuple[int, int], Dict[str, Any]]] = {}  # path -> (stat, fingerprint)
        self._previous: Optional[Manifest] = None  # the manifest found when this run started
        self.shared_startup_seconds = 0.0  # this session's preloaded server (Launcher.warm_up)
        self.check_phase_configs()
        self.incubate_cfg = self._phase_config('incubate')
        self.arch = self._target_arch()
        self.division = Division(self.arch['depths'])
        self.modules = list(range(self.division.num_modules)) if modules is None else list(modules)
        for idx in self.modules:
            if isinstance(idx, bool) or not isinstance(idx, int):
                raise PipelineError(f'--modules {idx!r}: module indices are whole numbers '
                                    f'0..{self.division.num_modules - 1}')
            self.division.check_module(idx)

    # configs ---------------------------------------------------------------------------------

    def check_pipeline_dict(self) -> None:
        """Refuse a key of ``pipeline`` (or of one of its sections) or a ``benchmark`` label
        that nothing reads, with the closest known one."""
        what = f'the pipeline config {self.config_path}'
        check_keys(self.cfg.pipeline, PIPELINE_KEYS, 'pipeline', what)
        for name in SECTIONS:
            if isinstance(self.cfg.pipeline.get(name), dict):
                check_keys(self.cfg.pipeline[name], SECTION_KEYS, f'pipeline.{name}', what)
        check_benchmark_labels(self.cfg.get('benchmark'))

    def check_phase_configs(self) -> None:
        """Every phase config as its phase will train it (options merged), checked before any
        phase starts as ``tools/train.py`` would check it: a misspelt ``--cfg-options`` key
        fails here, in one line, not in a phase's log."""
        for name in SECTIONS:
            if name != 'meta' or not self.meta_given:
                path = self._phase_config(name)
                check_config(self._section_config(name), path)

    def _phase_config(self, name: str) -> str:
        entry = self.cfg.pipeline.get(name)
        if not entry or 'config' not in entry:
            raise PipelineError(f'{self.config_path}: pipeline.{name}.config is missing')
        path = osp.join(osp.dirname(self.config_path), entry['config'])
        if not osp.isfile(path):
            raise PipelineError(f'{self.config_path}: phase config {path} not found')
        return path

    def _section_config(self, name: str) -> Config:
        """The phase config of ``pipeline.<name>`` with this run's options merged in (read once; not
        the per-phase options such as ``model.role.module_idx``)."""
        if name not in self._section_configs:
            self._section_configs[name] = merged_config(self._phase_config(name), self._options(name))
        return self._section_configs[name]

    def _options(self, name: str, **extra: Any) -> Dict[str, Any]:
        options = dict(self.common)
        options.update(self.cfg.pipeline[name].get('cfg_options', {}) or {})
        if name in self.epochs:
            options['train_cfg.max_epochs'] = self.epochs[name]
        options.update(extra)
        return options

    def _target_arch(self) -> Dict[str, Any]:
        cfg = self._section_config('incubate')
        return resolve_arch(cfg.model.arch, **dict(cfg.model.get('arch_overrides', {}) or {}))

    def _effective_epochs(self, name: str) -> int:
        if name not in self._epochs_cache:
            cfg = self._section_config(name)
            self._epochs_cache[name] = _check_epochs(cfg.get('train_cfg', {}).get('max_epochs'),
                                                     f'train_cfg.max_epochs of pipeline.{name} ({cfg.filename})')
        return self._epochs_cache[name]

    # plan ------------------------------------------------------------------------------------

    def _phase(self, name: str, section: str, role: str, module_idx: Optional[int] = None, **extra: Any) -> Phase:
        """Phase ``name`` of ``pipeline.<section>``, whose model has ``role`` (its artifact's name)."""
        work = osp.join(self.work_dir, name)
        files = [osp.join(work, f) for f in record.artifact_files(role, module_idx)]
        return Phase(name, self._phase_config(section), work, files[0], self._options(section, **extra),
                     module_idx=module_idx, section=section, also=files[1:])

    @property
    def meta_checkpoint(self) -> str:
        return self.meta_given or self.meta_phase().artifact

    def meta_phase(self) -> Phase:
        return self._phase(record.META, 'meta', 'meta')

    def incubate_phases(self) -> List[Phase]:
        return [self._phase(record.incubate_phase(idx), 'incubate', 'hybrid', module_idx=idx,
                            **{'model.role.module_idx': idx, 'model.role.meta_checkpoint': self.meta_checkpoint})
                for idx in range(self.division.num_modules)]

    def finetune_phase(self) -> Phase:
        modules = [p.artifact for p in self.incubate_phases()]
        return self._phase(record.FINETUNE, 'finetune', 'assembled',
                           **{'model.role.module_checkpoints': modules})

    def trained_phases(self) -> List[Phase]:
        """Every training phase in order: meta (unless given), the incubations, fine-tune."""
        return ([] if self.meta_given else [self.meta_phase()]) + self.incubate_phases() + [self.finetune_phase()]

    @property
    def assemble_dir(self) -> str:
        return osp.join(self.work_dir, record.ASSEMBLE)

    @property
    def assembled_metrics(self) -> str:
        return osp.join(self.assemble_dir, record.METRICS_FILE)

    def phase_names(self) -> List[str]:
        names = [p.name for p in self.trained_phases()]
        return names[:-1] + [record.ASSEMBLE, names[-1]]

    def dependents(self, name: str) -> List[str]:
        """``name`` and every phase that uses what it produced, in pipeline order."""
        if name == 'incubate':  # every incubation
            return [n for n in self.phase_names() if record.is_incubation(n)] + [record.ASSEMBLE, record.FINETUNE]
        if name not in self.phase_names():
            raise PipelineError(f'--force-phase {name}: no such phase here; one of {", ".join(self.phase_names())} '
                                f'or incubate (every incubation)')
        if name == record.META:
            return self.phase_names()
        if record.is_incubation(name):
            return [name, record.ASSEMBLE, record.FINETUNE]
        return [name]

    # checks ----------------------------------------------------------------------------------

    def check_inputs(self) -> None:
        """Fail before any training on epochs, a seed, a data root or a meta checkpoint that cannot work."""
        seed = (self._section_config('incubate').get('randomness') or {}).get('seed')
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise PipelineError(f'randomness.seed = {seed!r}: a seed is a whole number >= 0')
        for section in ('meta', 'incubate', 'finetune'):
            if section != 'meta' or not self.meta_given:
                self._effective_epochs(section)
        dataset = self._section_config('incubate').train_dataloader.dataset
        folder_layout = 'Folder' in str(dataset.get('type', ''))  # not e.g. FashionMNISTDataset's idx files
        for key, root in self.common.items():
            if folder_layout and key.endswith('.dataset.data_root'):
                for split in ('train', 'val'):
                    folder = osp.join(root, split)
                    if not osp.isdir(folder) or not any(e.is_dir() for e in os.scandir(folder)):
                        raise PipelineError(f'{folder}: expected the ImageNet layout {root}/{{train,val}}/<class>/<image>')
                break
        if self.meta_given:
            load_meta_checkpoint(self.meta_given, self.arch)

    def check_schedule(self, exempt: Sequence[str] = ()) -> None:
        """Refuse to continue a phase with other epochs than it was started with: the result
        would be a schedule that never ran under the label of the one asked for."""
        previous = {p.name: p for p in self._previous.phases} if self._previous else {}
        changed = []
        for phase in self.trained_phases():
            if phase.name in exempt:
                continue
            old = previous.get(phase.name)
            started = old.epochs if old is not None and old.epochs is not None else phase.started_epochs()
            wanted = self._effective_epochs(phase.section)
            if started is not None and started != wanted:
                changed.append(f'{phase.name} was started with {started} epochs, this command asks for {wanted}')
        if changed:
            names = [c.split()[0] for c in changed]
            if all(record.incubate_phase(i) in names for i in range(self.division.num_modules)):
                names = [n for n in names if not record.is_incubation(n)] + ['incubate']
            names = [n for n in names if not any(n != m and n in self.dependents(m) for m in names)]
            raise PipelineError(
                f'{self.work_dir}: {"; ".join(changed)}. Use a new --work-dir, or run them again with '
                f'{" ".join("--force-phase " + n for n in names)} (the phases that depend on them run again too; '
                f'old outputs are moved aside)')

    # artifacts -------------------------------------------------------------------------------

    def _read_previous(self) -> Optional[Manifest]:
        path = record.manifest_path(self.work_dir)
        if not osp.isfile(path):
            return None
        try:
            return record.read_manifest(self.work_dir)
        except record.RecordError as exc:
            moved = move_aside(path, 'damaged')
            print(f'[incubate] {one_line(exc)}; moved to {moved}, finished phases are checked by '
                  f'loading their files', flush=True)
            return None

    def _artifact_sets(self) -> List[Tuple[str, List[str]]]:
        """(phase name, its artifact files) for every phase, the assembled evaluation included."""
        sets = [(p.name, p.artifacts) for p in self.trained_phases()]
        return sets[:-1] + [(record.ASSEMBLE, [self.assembled_metrics])] + sets[-1:]

    def fingerprint(self, path: str) -> Dict[str, Any]:
        """The artifact's size and sha256, after checking once that it loads (cached while the
        file is unchanged); a file that does not load raises :class:`PipelineError` naming it."""
        st = os.stat(path)
        key = (st.st_size, st.st_mtime_ns)
        cached = self._fingerprints.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        problem = artifact_problem(path)
        if problem is not None:
            raise PipelineError(problem)
        found = record.fingerprint(path)
        self._fingerprints[path] = (key, found)
        return found

    def verify_artifacts(self) -> List[str]:
        """Check every artifact already on disk against the manifest (or, when it recorded none,
        by loading it); move a damaged or changed one aside so that its phase runs again.

        Returns the phases that will run again for that reason.
        """
        previous = {p.name: p for p in self._previous.phases} if self._previous else {}
        redo = []
        for name, paths in self._artifact_sets():
            recorded = previous[name].artifacts if name in previous else {}
            for path in paths:
                if not osp.isfile(path):
                    continue
                problem = self._artifact_mismatch(path, recorded.get(osp.basename(path)))
                if problem is None:
                    continue
                moved = move_aside(path, 'damaged')
                print(f'[incubate] {problem}; moved to {osp.basename(moved)}, phase {name} runs again', flush=True)
                redo.append(name)
        return redo

    def _artifact_mismatch(self, path: str, recorded: Optional[Dict[str, Any]]) -> Optional[str]:
        if recorded:
            mismatch = record.fingerprint_mismatch(path, recorded)
            if mismatch is not None:
                return f'{path}: damaged or changed ({mismatch})'
            st = os.stat(path)
            self._fingerprints[path] = ((st.st_size, st.st_mtime_ns), dict(size=recorded['size'],
                                                                            sha256=recorded['sha256']))
            return None
        try:
            self.fingerprint(path)
        except PipelineError as exc:
            return str(exc)
        return None

    def force(self, names: Sequence[str]) -> List[str]:
        """Move the outputs of ``names`` and of the phases depending on them aside; they run again."""
        redo = [n for n in self.phase_names() if any(n in self.dependents(name) for name in names)]
        for name in redo:
            folder = osp.join(self.work_dir, name)
            if osp.exists(folder):
                print(f'[incubate] --force-phase: {folder} moved to {osp.basename(move_aside(folder, "old"))}',
                      flush=True)
        return redo

    def prepare(self, force: Sequence[str] = ()) -> None:
        """Everything before the first phase starts (also for a scheduler back-end): check the
        inputs and the schedule, move forced and damaged outputs aside, record the manifest."""
        self.check_inputs()
        for folder in [self.work_dir, self.assemble_dir, *(p.work_dir for p in self.trained_phases())]:
            for path in remove_stale_temp_files(folder):
                print(f'[incubate] removed {path}, left by an interrupted write', flush=True)
        self._previous = self._read_previous()
        redo = [n for name in force for n in self.dependents(name)]
        self.check_schedule(exempt=redo)
        self.force(force)
        self.verify_artifacts()
        self.write_manifest()

    # manifest --------------------------------------------------------------------------------

    @staticmethod
    def _status(phase: Phase, failed: Optional[str]) -> str:
        if phase.finished():
            return 'done'
        if phase.name == failed:
            return 'failed'
        return 'started' if osp.isfile(phase.log_path) else 'pending'  # running, or interrupted

    def _phase_record(self, phase: Phase, failed: Optional[str]) -> PhaseRecord:
        status = self._status(phase, failed)
        artifacts = {osp.basename(p): self.fingerprint(p) for p in phase.artifacts} if status == 'done' else {}
        epochs = None if status == 'pending' else self._effective_epochs(phase.section)
        return phase.to_record(status, artifacts=artifacts, epochs=epochs)

    def phase_records(self, failed: Optional[str] = None) -> List[PhaseRecord]:
        """Every phase in order (meta, incubations, assembly, fine-tune) as it stands on disk."""
        records = [self._phase_record(phase, failed) for phase in self.trained_phases()]
        if self.meta_given:
            records.insert(0, PhaseRecord(record.META, 'given', checkpoint=self.meta_given, device_hours=0.0,
                                          images=0))
        path = self.assembled_metrics
        done = osp.isfile(path)
        assembled = record.read_json_object(path) if done else {}
        records.insert(len(records) - 1, PhaseRecord(record.ASSEMBLE, 'done' if done else 'pending',
                                                     work_dir=self.assemble_dir, metrics=assembled,
                                                     device_hours=0.0, images=0,
                                                     artifacts={record.METRICS_FILE: self.fingerprint(path)} if done
                                                     else {}))
        return records

    def manifest(self, failed: Optional[str] = None) -> Manifest:
        benchmark = dict(self.cfg.get('benchmark', {}))
        # `--cfg-options benchmark.variant=...` relabels every phase; the manifest says the same
        benchmark.update({key.split('.', 1)[1]: value for key, value in self.common.items()
                          if key.startswith('benchmark.') and key.count('.') == 1})
        # the m+n label follows the epochs the phases actually run, whatever overrode them
        benchmark['schedule'] = '+'.join(str(self._effective_epochs(name)) for name in ('incubate', 'finetune'))
        manifest = Manifest.from_phases(self.config_path, self.phase_records(failed), benchmark,
                                        arch=dict(self.arch, depths=list(self.arch['depths'])))
        # The imports the phases' processes did not pay count once, on one device, in the
        # end-to-end cost; earlier sessions' too (their phases' records are kept across a resume).
        before = float((self._previous.cost if self._previous else {}).get(record.SHARED_STARTUP, 0.0) or 0.0)
        shared = before + self.shared_startup_seconds
        if shared:
            manifest.cost[record.SHARED_STARTUP] = shared
            if manifest.cost.get('e2e_device_hours') is not None:
                manifest.cost['e2e_device_hours'] += shared / 3600.0
        return manifest

    def write_manifest(self, failed: Optional[str] = None) -> Manifest:
        manifest = self.manifest(failed)
        record.write_manifest(self.work_dir, manifest)
        return manifest

    # run -------------------------------------------------------------------------------------

    def evaluate_assembled(self, launcher: Launcher) -> None:
        """Top-1 of the assembled network before fine-tuning (the method's step 3 on its own)."""
        out = self.assemble_dir
        metrics_path = self.assembled_metrics
        if osp.isfile(metrics_path):
            return
        phase = self.finetune_phase()
        config = write_config(merged_config(phase.config, phase.cfg_options), osp.join(out, 'assemble_config.py'))
        log_path = osp.join(out, record.TEST_LOG)
        command = Command(python_argv(TEST, config, '--work-dir', out, '--metrics-json', metrics_path), log_path,
                          env=launcher.env(), cwd=ROOT, append=False)
        print(f'[incubate] assemble: evaluating the assembled network\n[incubate]   {command}', flush=True)
        fault.point('assemble_before')  # test-only kill points, inert by default
        if launcher.backend.start(command).wait() != 0:
            raise PipelineError(f'evaluating the assembled network failed; see {log_path}:\n{tail(log_path, 25)}')
        fault.point('assemble_after')

    def phases_to_run(self, evaluate_assembled: bool = True) -> List[str]:
        """The names of the phases this machine still has to run."""
        names = [p.name for p in self.trained_phases()
                 if not p.finished() and (p.module_idx is None or p.module_idx in self.modules)]
        if evaluate_assembled and not osp.isfile(self.assembled_metrics):
            names.append(record.ASSEMBLE)
        return names

    def phase_weights(self) -> Dict[str, float]:
        """Each phase's rough share of the work, for the ETA: epochs x the blocks its network
        runs (meta: one per module; incubating module i: the meta blocks of the others plus
        module i's; fine-tune: every block; the assembled evaluation: a fifth of a fine-tune epoch)."""
        depths = list(self.arch['depths'])
        k = len(depths)
        weights = {record.META: float(self._effective_epochs('meta') * k)}
        for idx, depth in enumerate(depths):
            weights[record.incubate_phase(idx)] = float(self._effective_epochs('incubate') * (k - 1 + depth))
        weights[record.ASSEMBLE] = 0.2 * sum(depths)
        weights[record.FINETUNE] = float(self._effective_epochs('finetune') * sum(depths))
        return weights

    def progress(self, evaluate_assembled: bool = True, interval: float = 30.0) -> Progress:
        """The pipeline's overall progress (this machine's phases), finished phases marked as such;
        its state is kept in ``WORK_DIR/progress.json`` for a study running this pipeline."""
        names = [n for n in self.phase_names()
                 if (n != record.META or not self.meta_given) and (n != record.ASSEMBLE or evaluate_assembled)
                 and (not record.is_incubation(n) or int(n[len(record.INCUBATE_PREFIX):]) in self.modules)]
        progress = Progress(names, prefix='[incubate]', what='phase', weights=self.phase_weights(),
                            interval=interval, status_path=osp.join(self.work_dir, PROGRESS_FILE))
        todo = set(self.phases_to_run(evaluate_assembled))
        for name in names:
            if name not in todo:
                progress.skip(name)
        return progress

    def run(self, launcher: Launcher, parallel: int = 1, evaluate_assembled: bool = True,
            force: Sequence[str] = (), stop_after: Optional[str] = None) -> Manifest:
        """Run every phase this machine still has to run, in order, and write the manifest.

        Args:
            launcher: how each phase's training process starts.
            parallel: incubation runs at the same time.
            evaluate_assembled: evaluate the assembled network before fine-tuning it.
            force: phases to run again although finished.
            stop_after: ``'assemble'``: stop once the assembled network is checked and evaluated
                (the assemble node of the pipeline's run graph; its fine-tune is the next node).
        """
        if stop_after not in (None, record.ASSEMBLE):
            raise PipelineError(f'stop_after {stop_after!r}: only {record.ASSEMBLE!r} is a place to stop')
        if stop_after == record.ASSEMBLE and not evaluate_assembled:
            raise PipelineError('--stop-after assemble evaluates the assembled network; leave out --no-assembled-eval')
        os.makedirs(self.work_dir, exist_ok=True)
        with exclusive(osp.join(self.work_dir, '.lock')):
            self.prepare(force)
            update = lambda failed=None: self.write_manifest(failed)  # noqa: E731
            progress = self.progress(evaluate_assembled)
            if self.phases_to_run(evaluate_assembled):
                self.shared_startup_seconds = launcher.warm_up()
                if self.shared_startup_seconds:
                    print(f'[incubate] preloaded torch, timm and mmengine in {self.shared_startup_seconds:.1f} s, once: '
                          f'each phase runs in a process forked from that server', flush=True)
            if not self.meta_given:
                run_phases([self.meta_phase()], launcher, 1, update, progress=progress)
            incubate = [p for p in self.incubate_phases() if p.module_idx in self.modules]
            run_phases(incubate, launcher, parallel, update, progress=progress)
            if any(not p.finished() for p in self.incubate_phases()):
                missing = [p.artifact for p in self.incubate_phases() if not p.finished()]
                print(f'[incubate] waiting for modules from elsewhere: {missing}', flush=True)
                print(progress.close(), flush=True)
                return update()
            # Assembly checks every module file before anything is built (clear error naming it).
            from backbones.checkpoints import load_module_checkpoints
            load_module_checkpoints([p.artifact for p in self.incubate_phases()], self.arch)
            if evaluate_assembled and not osp.isfile(self.assembled_metrics):
                progress.start(record.ASSEMBLE, log=None)
                self.evaluate_assembled(launcher)
                progress.finish(record.ASSEMBLE)
                update()
            if stop_after == record.ASSEMBLE:
                print(progress.close(), flush=True)
                return update()
            run_phases([self.finetune_phase()], launcher, 1, update, progress=progress)
            manifest = update()
            print(progress.close(), flush=True)
        return manifest


def _check_epochs(value: Any, what: str) -> int:
    """A schedule length: a whole number >= 1, else a one-line refusal naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PipelineError(f'{what} = {value!r}: epochs must be a whole number >= 1')
    return value


def artifact_problem(path: str) -> Optional[str]:
    """Why an exported file does not load as what its name says, or None."""
    if path.endswith('.json'):
        try:
            data = record.read_json_object(path)
        except record.RecordError as exc:
            return str(exc)
        if not data or not all(isinstance(v, (int, float)) for v in data.values()):
            return f'{path}: expected a JSON object of metrics'
        return None
    from backbones.checkpoints import CheckpointError, load_checkpoint
    try:
        load_checkpoint(path)
    except CheckpointError as exc:
        return str(exc)
    return None


def move_aside(path: str, tag: str) -> str:
    """Rename ``path`` to the first free ``PATH.TAG-N``, never deleting anything."""
    n = 1
    while osp.exists(f'{path}.{tag}-{n}'):
        n += 1
    os.replace(path, f'{path}.{tag}-{n}')
    return f'{path}.{tag}-{n}'


@contextlib.contextmanager
def exclusive(path: str, busy: str = 'is in use by another tools/incubate.py') -> Iterator[None]:
    """One process holding the lock file ``path`` at a time (one pipeline, or one submitter, per
    work dir); another gets a PipelineError saying the folder ``busy`` (:mod:`runtime.lock`)."""
    with lock.exclusive(path, busy, PipelineError):
        yield


def summary(manifest: Manifest) -> str:
    """A short table of the phases for the console."""
    lines = [f'{"phase":<12} {"status":<8} {"top-1":>7} {"device-h":>9}  checkpoint']
    for phase in manifest.phases:
        top1 = phase.metrics.get('accuracy/top1')
        lines.append(f'{phase.name:<12} {phase.status:<8} {"" if top1 is None else f"{top1:.2f}":>7} '
                     f'{phase.device_hours or 0.0:>9.4f}  {phase.checkpoint or ""}')
    cost = manifest.cost
    lines.append(f'total device-hours {cost["device_hours"]:.4f}; with the K incubations in parallel, '
                 f'critical path {cost["wall_hours_parallel"]:.4f}')
    return '\n'.join(lines)

