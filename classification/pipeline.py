"""The whole method in one resumable command (``tools/incubate.py``).

meta -> K incubation runs (independent, optionally concurrent) -> assembly -> fine-tune.

Every phase is an ordinary ``tools/train.py`` run of a phase config in its own work dir, so
any phase can also be run by hand, on a cluster, or resumed alone. A phase is finished when
the file its ExportHook writes at the end of training exists (written atomically); an
unfinished phase is re-run with ``--resume``, which continues from its last checkpoint.
The state of the pipeline is kept in ``WORK_DIR/manifest.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import os.path as osp
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence

from mmengine.config import Config

from backbones import Division, resolve_arch
from backbones.incubation import load_meta_checkpoint
from runtime.hooks import COST_FILE, atomic_write_json

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
TEST = osp.join(ROOT, 'tools', 'test.py')
MANIFEST = 'manifest.json'


class PipelineError(RuntimeError):
    """A phase failed or an input is unusable; the message says which and how to retry."""


# --- reading runs ---------------------------------------------------------------------------------


def last_val_metrics(work_dir: str) -> Dict[str, float]:
    """The last validation line of an mmengine work dir (metrics and cost), or {}."""
    found: Dict[str, float] = {}
    if not osp.isdir(work_dir):
        return found
    for stamp in sorted(d for d in os.listdir(work_dir) if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json'))):
        with open(osp.join(work_dir, stamp, 'vis_data', 'scalars.json')) as f:
            for line in f:
                record = json.loads(line)
                if any(k.startswith('accuracy/') for k in record):
                    found = {k: v for k, v in record.items() if k.startswith(('accuracy/', 'cost/'))}
    return found


def read_cost(work_dir: str) -> Dict[str, Any]:
    return read_json(osp.join(work_dir, COST_FILE))


def read_json(path: str) -> Dict[str, Any]:
    """The JSON object in ``path``, or {} when there is none yet."""
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


# --- phases ---------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    config: str
    work_dir: str
    artifact: str                      # written by ExportHook when the phase has finished
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    module_idx: Optional[int] = None

    def finished(self) -> bool:
        return osp.isfile(self.artifact)

    def record(self, status: str) -> Dict[str, Any]:
        cost = read_cost(self.work_dir)
        metrics = last_val_metrics(self.work_dir)
        out = dict(name=self.name, status=status, work_dir=self.work_dir,
                   checkpoint=self.artifact if self.finished() else None,
                   metrics={k: v for k, v in metrics.items() if k.startswith('accuracy/')},
                   device_hours=cost.get('device_hours', 0.0), images=cost.get('images', 0),
                   device_type=cost.get('device_type'))
        if self.module_idx is not None:
            out['module_idx'] = self.module_idx
        return out


def format_cfg_options(options: Dict[str, Any]) -> List[str]:
    """``--cfg-options`` words for tools/train.py (lists as ``[a,b]``, which DictAction parses)."""
    words = []
    for key, value in options.items():
        if isinstance(value, (list, tuple)):
            value = '[' + ','.join(str(v) for v in value) + ']'
        words.append(f'{key}={value}')
    return words


def _die_with_parent() -> None:
    """Children must not outlive a killed pipeline and keep writing into work dirs."""
    with contextlib.suppress(Exception):
        ctypes.CDLL('libc.so.6').prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Launcher:
    """How a phase's training is started: local processes (optionally torchrun groups) or Slurm."""

    nproc_per_worker: int = 1
    launcher: str = 'none'             # none | slurm
    partition: Optional[str] = None
    threads_per_worker: Optional[int] = None
    port: int = 29500

    def command(self, phase: Phase, slot: int) -> List[str]:
        options = ['--resume']
        if phase.cfg_options:
            options += ['--cfg-options', *format_cfg_options(phase.cfg_options)]
        if self.launcher == 'slurm':
            return ['bash', osp.join(ROOT, 'tools', 'slurm_train.sh'), self.partition or 'gpu',
                    f'incubation-{phase.name}', phase.config, phase.work_dir, *options]
        args = [phase.config, '--work-dir', phase.work_dir, *options]
        if self.nproc_per_worker > 1:
            return [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={self.nproc_per_worker}',
                    f'--master_port={self.port + 10 * slot}', TRAIN, *args, '--launcher', 'pytorch']
        return [sys.executable, TRAIN, *args]

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        if self.threads_per_worker:
            env['OMP_NUM_THREADS'] = str(self.threads_per_worker)
        return env


def run_phases(phases: Sequence[Phase], launcher: Launcher, parallel: int,
               on_change, poll_seconds: float = 1.0, progress_seconds: float = 20.0) -> None:
    """Run unfinished phases, at most ``parallel`` at a time; raise on the first failure."""
    pending = [p for p in phases if not p.finished()]
    running: Dict[str, tuple] = {}
    last_progress = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < parallel:
                phase = pending.pop(0)
                os.makedirs(phase.work_dir, exist_ok=True)
                log_path = osp.join(phase.work_dir, 'train.out')
                cmd = launcher.command(phase, slot=len(running))
                print(f'[incubate] {phase.name}: starting -> {log_path}\n[incubate]   {shlex.join(cmd)}', flush=True)
                log = open(log_path, 'a')
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=launcher.env(),
                                        cwd=ROOT, preexec_fn=_die_with_parent)
                running[phase.name] = (phase, proc, log, cmd)
                on_change()
            time.sleep(poll_seconds)
            for name, (phase, proc, log, cmd) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                log.close()
                del running[name]
                if code != 0 or not phase.finished():
                    on_change(failed=name)
                    tail = _tail(osp.join(phase.work_dir, 'train.out'), 25)
                    raise PipelineError(
                        f'phase {name} failed (exit code {code}); last lines of {phase.work_dir}/train.out:\n{tail}\n'
                        f'Fix the cause and run the same command again: finished phases are kept and '
                        f'{name} resumes from its last checkpoint. To run it alone: {shlex.join(cmd)}')
                print(f'[incubate] {name}: done ({phase.artifact})', flush=True)
                on_change()
            if running and time.monotonic() - last_progress > progress_seconds:
                last_progress = time.monotonic()
                for name, (phase, *_rest) in running.items():
                    print(f'[incubate] {name}: {latest_progress(osp.join(phase.work_dir, "train.out"))}', flush=True)
    finally:
        for _phase, proc, log, _cmd in running.values():
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
                if proc.poll() is None:
                    proc.kill()
            log.close()


def _tail(path: str, lines: int) -> str:
    if not osp.isfile(path):
        return '(no log)'
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def latest_progress(path: str) -> str:
    """The newest 'Epoch(train)' or 'Epoch(val)' log line, shortened."""
    if not osp.isfile(path):
        return 'starting'
    with open(path, errors='replace') as f:
        for line in reversed(f.readlines()[-200:]):
            if 'Epoch(' in line:
                line = line.strip()
                return line[line.index('Epoch('):][:160]
    return 'starting'


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
        cfg = Config.fromfile(self.incubate_cfg)
        cfg.merge_from_dict(self._options('incubate'))
        return resolve_arch(cfg.model.arch, **dict(cfg.model.get('arch_overrides', {}) or {}))

    # plan ------------------------------------------------------------------------------------

    @property
    def meta_checkpoint(self) -> str:
        return self.meta_given or osp.join(self.work_dir, 'meta', 'meta.pth')

    def meta_phase(self) -> Phase:
        return Phase('meta', self._phase_config('meta'), osp.join(self.work_dir, 'meta'),
                     osp.join(self.work_dir, 'meta', 'meta.pth'), self._options('meta'))

    def incubate_phases(self) -> List[Phase]:
        phases = []
        for idx in range(self.division.num_modules):
            work = osp.join(self.work_dir, f'incubate_{idx}')
            phases.append(Phase(f'incubate_{idx}', self.incubate_cfg, work, osp.join(work, f'module_{idx}.pth'),
                                self._options('incubate', **{'model.role.module_idx': idx,
                                                             'model.role.meta_checkpoint': self.meta_checkpoint}),
                                module_idx=idx))
        return phases

    def finetune_phase(self) -> Phase:
        modules = [p.artifact for p in self.incubate_phases()]
        work = osp.join(self.work_dir, 'finetune')
        return Phase('finetune', self._phase_config('finetune'), work, osp.join(work, 'model.pth'),
                     self._options('finetune', **{'model.role.module_checkpoints': modules}))

    # checks ----------------------------------------------------------------------------------

    def check_inputs(self) -> None:
        """Fail before any training on a data root or meta checkpoint that cannot work."""
        for key, root in self.common.items():
            if key.endswith('.dataset.data_root'):
                for split in ('train', 'val'):
                    folder = osp.join(root, split)
                    if not osp.isdir(folder) or not any(e.is_dir() for e in os.scandir(folder)):
                        raise PipelineError(f'{folder}: expected the ImageNet layout {root}/{{train,val}}/<class>/<image>')
                break
        if self.meta_given:
            load_meta_checkpoint(self.meta_given, self.arch)

    # manifest --------------------------------------------------------------------------------

    def manifest(self, failed: Optional[str] = None) -> Dict[str, Any]:
        phases = [] if self.meta_given else [self.meta_phase()]
        phases += self.incubate_phases() + [self.finetune_phase()]
        records = []
        for phase in phases:
            status = 'done' if phase.finished() else 'failed' if phase.name == failed else (
                'started' if osp.isfile(osp.join(phase.work_dir, 'train.out')) else 'pending')  # running or interrupted
            records.append(phase.record(status))
        if self.meta_given:
            records.insert(0, dict(name='meta', status='given', work_dir=None, checkpoint=self.meta_given,
                                   metrics={}, device_hours=0.0, images=0))
        assembled = read_json(osp.join(self.work_dir, 'assemble', 'metrics.json'))
        records.insert(len(records) - 1, dict(
            name='assemble', status='done' if assembled else 'pending', work_dir=osp.join(self.work_dir, 'assemble'),
            checkpoint=None, metrics=assembled, device_hours=0.0, images=0))
        by_phase = {r['name']: r['device_hours'] for r in records}
        incubations = [by_phase[f'incubate_{i}'] for i in range(self.division.num_modules)]
        finetune = records[-1]
        benchmark = dict(self.cfg.get('benchmark', {}))
        # the m+n label follows the epochs the phases actually run, whatever overrode them
        benchmark['schedule'] = '+'.join(str(self._effective_epochs(name)) for name in ('incubate', 'finetune'))
        return dict(
            format='incubation-manifest', version=1, config=self.config_path,
            benchmark=benchmark, arch=dict(self.arch, depths=list(self.arch['depths'])),
            phases=records,
            final=(dict(checkpoint=finetune['checkpoint'], metrics=finetune['metrics'])
                   if finetune['status'] == 'done' else None),
            cost=dict(device_hours=sum(by_phase.values()), by_phase=by_phase,
                      wall_hours_parallel=by_phase['meta'] + max(incubations) + by_phase['finetune']))

    def _effective_epochs(self, name: str) -> int:
        if name not in self._epochs_cache:
            cfg = Config.fromfile(self._phase_config(name))
            cfg.merge_from_dict(self._options(name))
            self._epochs_cache[name] = int(cfg.train_cfg.max_epochs)
        return self._epochs_cache[name]

    def write_manifest(self, failed: Optional[str] = None) -> Dict[str, Any]:
        manifest = self.manifest(failed)
        atomic_write_json(osp.join(self.work_dir, MANIFEST), manifest)
        return manifest

    # run -------------------------------------------------------------------------------------

    def evaluate_assembled(self, launcher: Launcher) -> None:
        """Top-1 of the assembled network before fine-tuning (the method's step 3 on its own)."""
        out = osp.join(self.work_dir, 'assemble')
        metrics_path = osp.join(out, 'metrics.json')
        if osp.isfile(metrics_path):
            return
        phase = self.finetune_phase()
        cmd = [sys.executable, TEST, phase.config, '--work-dir', out,
               '--metrics-json', metrics_path, '--cfg-options', *format_cfg_options(phase.cfg_options)]
        print(f'[incubate] assemble: evaluating the assembled network\n[incubate]   {shlex.join(cmd)}', flush=True)
        os.makedirs(out, exist_ok=True)
        with open(osp.join(out, 'test.out'), 'w') as log:
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=launcher.env(), cwd=ROOT,
                                   preexec_fn=_die_with_parent)
        if code != 0:
            raise PipelineError(f'evaluating the assembled network failed; see {out}/test.out:\n'
                                f'{_tail(osp.join(out, "test.out"), 25)}')

    def run(self, launcher: Launcher, parallel: int = 1, evaluate_assembled: bool = True) -> Dict[str, Any]:
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


def summary(manifest: Dict[str, Any]) -> str:
    """A short table of the phases for the console."""
    lines = [f'{"phase":<12} {"status":<8} {"top-1":>7} {"device-h":>9}  checkpoint']
    for record in manifest['phases']:
        top1 = record['metrics'].get('accuracy/top1')
        lines.append(f'{record["name"]:<12} {record["status"]:<8} {"" if top1 is None else f"{top1:.2f}":>7} '
                     f'{record["device_hours"]:>9.4f}  {record["checkpoint"] or ""}')
    cost = manifest['cost']
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
                        help='slurm: each run is `tools/slurm_train.sh PARTITION ...` (srun), K at a time')
    parser.add_argument('--partition', help='Slurm partition')
    parser.add_argument('--meta-epochs', type=int, help='override the meta phase\'s epochs')
    parser.add_argument('--incubate-epochs', type=int, help='override each incubation run\'s epochs (the paper\'s m)')
    parser.add_argument('--finetune-epochs', type=int, help='override the fine-tune epochs (the paper\'s n)')
    parser.add_argument('--no-assembled-eval', action='store_true', help='skip evaluating the assembled network')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='overrides for every phase')
    args = parser.parse_args(argv)

    pipeline = IncubationPipeline(args.config, args.work_dir, meta=args.meta, data_root=args.data_root,
                                  cfg_options=args.cfg_options, modules=args.modules,
                                  epochs=dict(meta=args.meta_epochs, incubate=args.incubate_epochs,
                                              finetune=args.finetune_epochs))
    launcher = Launcher(nproc_per_worker=args.nproc_per_worker, launcher=args.launcher, partition=args.partition,
                        threads_per_worker=args.threads_per_worker)
    parallel = pipeline.division.num_modules if args.launcher == 'slurm' else max(1, args.parallel)
    try:
        manifest = pipeline.run(launcher, parallel=parallel, evaluate_assembled=not args.no_assembled_eval)
    except PipelineError as exc:
        print(f'[incubate] ERROR: {exc}', file=sys.stderr, flush=True)
        return 1
    print(summary(manifest), flush=True)
    return 0
