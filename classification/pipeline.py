"""The whole method in one resumable command (``tools/incubate.py``).

meta -> K incubation runs (independent, optionally concurrent) -> assembly -> fine-tune.

Every phase is an ordinary ``tools/train.py`` run of a phase config in its own work dir, so
any phase can also be run by hand, on a cluster, or resumed alone. A phase is finished when
the file its ExportHook writes at the end of training exists (written atomically); an
unfinished phase is re-run with ``--resume``, which continues from its last checkpoint.
Each phase is handed its merged config as a file, ``WORK_DIR/<phase>/<phase>_config.py``
(the phase config with the pipeline's and the user's options merged in), so any value an
mmengine config can hold reaches it. The state of the pipeline is kept in
``WORK_DIR/manifest.json`` (:class:`runtime.record.Manifest`).

The module reads top to bottom: phase configs, phases and how they are launched, the plan
(:class:`IncubationPipeline`), the manifest, the run, and the command line.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from mmengine.config import Config

from backbones import Division, resolve_arch
from backbones.incubation import load_meta_checkpoint
from runtime import record
from runtime.fileio import atomic_write_bytes
from runtime.launch import (
    Backend,
    Command,
    Job,
    LocalBackend,
    latest_progress,
    python_argv,
    supervise,
    tail,
    torchrun_argv,
)
from runtime.record import Manifest, PhaseRecord

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
TEST = osp.join(ROOT, 'tools', 'test.py')


class PipelineError(RuntimeError):
    """A phase failed or an input is unusable; the message says which and how to retry."""


# --- phase configs --------------------------------------------------------------------------------


def merged_config(path: str, options: Dict[str, Any]) -> Config:
    """The phase config at ``path`` with ``options`` (dotted keys, any values) merged in."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
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

    @property
    def config_file(self) -> str:
        """The merged config this phase trains from (written when the phase starts)."""
        return osp.join(self.work_dir, f'{self.name}_config.py')

    @property
    def log_path(self) -> str:
        return osp.join(self.work_dir, record.TRAIN_LOG)

    def finished(self) -> bool:
        return osp.isfile(self.artifact)

    def write_config(self) -> str:
        return write_config(merged_config(self.config, self.cfg_options), self.config_file)

    def to_record(self, status: str) -> PhaseRecord:
        cost = record.read_cost(self.work_dir) or {}
        costs = record.CostRecord.from_dict(cost)
        return PhaseRecord(name=self.name, status=status, work_dir=self.work_dir,
                           checkpoint=self.artifact if self.finished() else None,
                           metrics=record.last_val_metrics(self.work_dir),
                           device_hours=cost.get('device_hours', 0.0), images=cost.get('images', 0),
                           device_type=cost.get('device_type'), module_idx=self.module_idx,
                           e2e_device_hours=costs.e2e_device_hours, flops=costs.flops, overhead=costs.overhead)


@dataclass
class Launcher:
    """How a phase's training is started here: local processes (optionally torchrun groups),
    through a process back-end. (On Slurm, classification/cluster.py submits the phases instead.)"""

    nproc_per_worker: int = 1
    threads_per_worker: Optional[int] = None
    port: int = 29500
    backend: Backend = field(default_factory=LocalBackend)

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
               poll_seconds: float = 1.0, progress_seconds: float = 20.0) -> None:
    """Run unfinished phases, at most ``parallel`` at a time; raise on the first failure."""

    def start(phase: Phase, slot: int) -> Job:
        phase.write_config()
        command = launcher.command(phase, slot)
        print(f'[incubate] {phase.name}: starting -> {phase.log_path}\n[incubate]   {command}', flush=True)
        job = launcher.backend.start(command)
        on_change()
        return job

    def on_exit(phase: Phase, job: Job, code: int) -> None:
        if code != 0 or not phase.finished():
            on_change(failed=phase.name)
            raise PipelineError(
                f'phase {phase.name} failed (exit code {code}); last lines of {phase.log_path}:\n'
                f'{tail(phase.log_path, 25)}\nFix the cause and run the same command again: finished phases are '
                f'kept and {phase.name} resumes from its last checkpoint. To run it alone: {job.command}')
        print(f'[incubate] {phase.name}: done ({phase.artifact})', flush=True)
        print(f'[incubate]   {record.overhead_line(phase.name, record.read_cost_record(phase.work_dir))}', flush=True)
        on_change()

    def on_progress(phase: Phase, job: Job) -> None:
        print(f'[incubate] {phase.name}: {latest_progress(phase.log_path)}', flush=True)

    supervise([p for p in phases if not p.finished()], start, parallel, on_exit, on_progress,
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
        self.work_dir = osp.abspath(work_dir)
        self.meta_given = osp.abspath(meta) if meta else None
        self.common = dict(self.cfg.pipeline.get('common_cfg_options', {}))
        if data_root:
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
                self.common[f'{loader}.dataset.data_root'] = osp.abspath(data_root)
        self.common.update(cfg_options or {})
        # per-phase schedule lengths (the paper's m+n ablation), on top of the phase configs
        self.epochs = {k: int(v) for k, v in (epochs or {}).items() if v is not None}
        self._epochs_cache: Dict[str, int] = {}
        self.incubate_cfg = self._phase_config('incubate')
        self.arch = self._target_arch()
        self.division = Division(self.arch['depths'])
        self.modules = list(range(self.division.num_modules)) if modules is None else list(modules)
        for idx in self.modules:
            self.division.check_module(idx)

    # configs ---------------------------------------------------------------------------------

    def _phase_config(self, name: str) -> str:
        entry = self.cfg.pipeline.get(name)
        if not entry or 'config' not in entry:
            raise PipelineError(f'{self.config_path}: pipeline.{name}.config is missing')
        path = osp.join(osp.dirname(self.config_path), entry['config'])
        if not osp.isfile(path):
            raise PipelineError(f'{self.config_path}: phase config {path} not found')
        return path

    def _options(self, name: str, **extra: Any) -> Dict[str, Any]:
        options = dict(self.common)
        options.update(self.cfg.pipeline[name].get('cfg_options', {}) or {})
        if name in self.epochs:
            options['train_cfg.max_epochs'] = self.epochs[name]
        options.update(extra)
        return options

    def _target_arch(self) -> Dict[str, Any]:
        cfg = merged_config(self.incubate_cfg, self._options('incubate'))
        return resolve_arch(cfg.model.arch, **dict(cfg.model.get('arch_overrides', {}) or {}))

    def _effective_epochs(self, name: str) -> int:
        if name not in self._epochs_cache:
            cfg = merged_config(self._phase_config(name), self._options(name))
            self._epochs_cache[name] = int(cfg.train_cfg.max_epochs)
        return self._epochs_cache[name]

    # plan ------------------------------------------------------------------------------------

    def _phase(self, name: str, section: str, role: str, module_idx: Optional[int] = None, **extra: Any) -> Phase:
        """Phase ``name`` of ``pipeline.<section>``, whose model has ``role`` (its artifact's name)."""
        work = osp.join(self.work_dir, name)
        return Phase(name, self._phase_config(section), work, osp.join(work, record.artifact_name(role, module_idx)),
                     self._options(section, **extra), module_idx=module_idx)

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

    @property
    def assemble_dir(self) -> str:
        return osp.join(self.work_dir, record.ASSEMBLE)

    # checks ----------------------------------------------------------------------------------

    def check_inputs(self) -> None:
        """Fail before any training on a data root or meta checkpoint that cannot work."""
        dataset = merged_config(self.incubate_cfg, self._options('incubate')).train_dataloader.dataset
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

    # manifest --------------------------------------------------------------------------------

    @staticmethod
    def _status(phase: Phase, failed: Optional[str]) -> str:
        if phase.finished():
            return 'done'
        if phase.name == failed:
            return 'failed'
        return 'started' if osp.isfile(phase.log_path) else 'pending'  # running, or interrupted

    def phase_records(self, failed: Optional[str] = None) -> List[PhaseRecord]:
        """Every phase in order (meta, incubations, assembly, fine-tune) as it stands on disk."""
        phases = [] if self.meta_given else [self.meta_phase()]
        phases += self.incubate_phases() + [self.finetune_phase()]
        records = [phase.to_record(self._status(phase, failed)) for phase in phases]
        if self.meta_given:
            records.insert(0, PhaseRecord(record.META, 'given', checkpoint=self.meta_given, device_hours=0.0,
                                          images=0))
        assembled = record.read_json_object(osp.join(self.assemble_dir, record.METRICS_FILE)) or {}
        records.insert(len(records) - 1, PhaseRecord(record.ASSEMBLE, 'done' if assembled else 'pending',
                                                     work_dir=self.assemble_dir, metrics=assembled,
                                                     device_hours=0.0, images=0))
        return records

    def manifest(self, failed: Optional[str] = None) -> Manifest:
        benchmark = dict(self.cfg.get('benchmark', {}))
        # the m+n label follows the epochs the phases actually run, whatever overrode them
        benchmark['schedule'] = '+'.join(str(self._effective_epochs(name)) for name in ('incubate', 'finetune'))
        return Manifest.from_phases(self.config_path, self.phase_records(failed), benchmark,
                                    arch=dict(self.arch, depths=list(self.arch['depths'])))

    def write_manifest(self, failed: Optional[str] = None) -> Manifest:
        manifest = self.manifest(failed)
        record.write_manifest(self.work_dir, manifest)
        return manifest

    # run -------------------------------------------------------------------------------------

    def evaluate_assembled(self, launcher: Launcher) -> None:
        """Top-1 of the assembled network before fine-tuning (the method's step 3 on its own)."""
        out = self.assemble_dir
        metrics_path = osp.join(out, record.METRICS_FILE)
        if osp.isfile(metrics_path):
            return
        phase = self.finetune_phase()
        config = write_config(merged_config(phase.config, phase.cfg_options), osp.join(out, 'assemble_config.py'))
        log_path = osp.join(out, record.TEST_LOG)
        command = Command(python_argv(TEST, config, '--work-dir', out, '--metrics-json', metrics_path), log_path,
                          env=launcher.env(), cwd=ROOT, append=False)
        print(f'[incubate] assemble: evaluating the assembled network\n[incubate]   {command}', flush=True)
        if LocalBackend().start(command).wait() != 0:
            raise PipelineError(f'evaluating the assembled network failed; see {log_path}:\n{tail(log_path, 25)}')

    def run(self, launcher: Launcher, parallel: int = 1, evaluate_assembled: bool = True) -> Manifest:
        os.makedirs(self.work_dir, exist_ok=True)
        with _exclusive(osp.join(self.work_dir, '.lock')):
            self.check_inputs()
            update = lambda failed=None: self.write_manifest(failed)  # noqa: E731
            update()
            if not self.meta_given:
                run_phases([self.meta_phase()], launcher, 1, update)
            incubate = [p for p in self.incubate_phases() if p.module_idx in self.modules]
            run_phases(incubate, launcher, parallel, update)
            if any(not p.finished() for p in self.incubate_phases()):
                missing = [p.artifact for p in self.incubate_phases() if not p.finished()]
                print(f'[incubate] waiting for modules from elsewhere: {missing}', flush=True)
                return update()
            # Assembly checks every module file before anything is built (clear error naming it).
            from backbones.checkpoints import load_module_checkpoints
            load_module_checkpoints([p.artifact for p in self.incubate_phases()], self.arch)
            if evaluate_assembled:
                self.evaluate_assembled(launcher)
                update()
            run_phases([self.finetune_phase()], launcher, 1, update)
            manifest = update()
        return manifest


@contextlib.contextmanager
def _exclusive(path: str) -> Iterator[None]:
    """One pipeline per work dir at a time."""
    with open(path, 'w') as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineError(f'{osp.dirname(path)} is in use by another tools/incubate.py') from None
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='Deep Incubation: meta -> K incubations -> assembly -> fine-tune')
    parser.add_argument('config', help='pipeline config (has `pipeline = dict(meta=, incubate=, finetune=)`)')
    parser.add_argument('--work-dir', required=True, help='where every phase and the manifest go')
    parser.add_argument('--meta', help='start from this meta checkpoint (ours or converted official) instead of training one')
    parser.add_argument('--data-root', help='ImageNet-layout data root for every phase')
    parser.add_argument('--parallel', type=int, default=1, help='incubation runs at the same time')
    parser.add_argument('--nproc-per-worker', type=int, default=1, help='processes (GPUs) per run, through torchrun')
    parser.add_argument('--threads-per-worker', type=int, help='OMP threads per local process (CPU runs)')
    parser.add_argument('--modules', type=int, nargs='+', help='incubate only these modules here (others elsewhere)')
    parser.add_argument('--launcher', choices=['none', 'slurm'], default='none',
                        help='slurm: submit every phase as a dependent sbatch job and return; run the same '
                             'command again to see their state and resubmit what failed (docs/slurm.md)')
    parser.add_argument('--meta-epochs', type=int, help='override the meta phase\'s epochs')
    parser.add_argument('--incubate-epochs', type=int, help='override each incubation run\'s epochs (the paper\'s m)')
    parser.add_argument('--finetune-epochs', type=int, help='override the fine-tune epochs (the paper\'s n)')
    parser.add_argument('--no-assembled-eval', action='store_true', help='skip evaluating the assembled network')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='overrides for every phase')
    from classification import cluster
    cluster.add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser.add_argument('--compile', action='store_true', help='torch.compile the network in every phase')
    args = parser.parse_args(argv)

    pipeline = IncubationPipeline(args.config, args.work_dir, meta=args.meta, data_root=args.data_root,
                                  cfg_options=dict(args.cfg_options or {}, **({'compile_network': True} if args.compile else {})),
                                  modules=args.modules,
                                  epochs=dict(meta=args.meta_epochs, incubate=args.incubate_epochs,
                                              finetune=args.finetune_epochs))
    if args.launcher == 'slurm' or args.status:
        return cluster.main(pipeline, args, argv)
    launcher = Launcher(nproc_per_worker=args.nproc_per_worker, threads_per_worker=args.threads_per_worker)
    try:
        manifest = pipeline.run(launcher, parallel=max(1, args.parallel), evaluate_assembled=not args.no_assembled_eval)
    except PipelineError as exc:
        print(f'[incubate] ERROR: {exc}', file=sys.stderr, flush=True)
        return 1
    print(summary(manifest), flush=True)
    return 0
