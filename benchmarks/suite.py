"""``python -m benchmarks suite``: upstream runs -> detection and segmentation runs -> one report.

The downstream benchmark as one resumable command. For every seed of a preset:

* **upstream**: the E2E baseline (``tools/train.py``) and the incubation pipeline
  (``tools/incubate.py``), each ending in a final backbone checkpoint;
* **downstream**: for every upstream run, a Mask R-CNN and an UperNet fine-tuned from that
  checkpoint, handed on by reference (``model.backbone.init_cfg.checkpoint=<upstream>/.../model.pth``,
  nothing copied); within a seed the downstream seed is the same for both methods, so the runs
  differ only in the backbone; plus a **random-init control** per seed (the same config with no
  pretrained weights), which shows whether the benchmark tells backbones apart at all;
* **one report** (:func:`suite_tables`): per method upstream top-1, box AP, mask AP and mIoU
  (last-epoch values), mean ± std over seeds; the paired difference incubation − E2E per seed and
  as mean ± std; the control; the total cost of each row (upstream + downstream) in training FLOPs
  and device-hours; each row's backbone sha256; and a plot of downstream score against total cost.

The whole chain is a graph of ordinary training commands (:mod:`runtime.graph`): ``--launcher
local`` (default) runs it here, two commands at a time; ``--launcher slurm`` submits it as batch
jobs, each downstream job ``afterok`` on its upstream's final job; ``--status`` reports; running the
same command again skips what is done and resumes or resubmits the rest. ``--dry-run`` prints the
graph without running anything.

Every downstream run records its backbone (``backbone.json``: file, sha256, upstream run, load
report; :mod:`runtime.provenance`). A finished downstream run whose checkpoint no longer matches
what it recorded is moved aside and run again (``--no-rerun``: refused, naming the file); the report
refuses such a run too.

Presets: ``smoke`` (toy size, for the tests), ``fashion`` (the CPU benchmark: Fashion-MNIST
upstream, Fashion-MNIST scenes downstream, 3 seeds), and the paper's tables on a cluster, which
cannot run here (``--dry-run`` shows their graph): ``paper-coco``, ``paper-ade``, ``paper-in1k``,
``paper-efficiency``, ``paper-data``.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import os
import os.path as osp
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from runtime import graph, record, slurm
from runtime.cli import UserError
from runtime.graph import Node

from .analysis import MeanStd, beyond_two_se, mean_std
from .render import Cell
from .results import (
    Context,
    Generated,
    HeadlineRows,
    ResultsError,
    generator,
    headline_section,
    measured_on,
    short_verdict,
    verdict,
)
from .runs import run_finished
from .tasks import KINDS, get_task

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS_CONFIGS = osp.join(ROOT, 'classification', 'configs')
DET_CONFIGS = osp.join(ROOT, 'detection', 'configs')
SEG_CONFIGS = osp.join(ROOT, 'segmentation', 'configs')
TRAIN = osp.join(ROOT, 'tools', 'train.py')
INCUBATE = osp.join(ROOT, 'tools', 'incubate.py')
PREFIX = '[suite]'
CONTROL = 'random-init'           # the downstream runs from random weights (``benchmark.variant``)
INITS = ('e2e', 'incubation', CONTROL)
TASKS = tuple(k for k in KINDS if k != 'cls')  # the downstream kinds a suite runs (benchmarks.tasks)
SLURM_STATE = 'suite-slurm.json'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class SuiteError(UserError):
    """A suite that cannot run or report as asked; the message names the file or the option."""


# --- presets -----------------------------------------------------------------------------------

# kind 'fashion': the depth-study configs upstream (benchmarks.fashion_study), Fashion-MNIST scenes
# downstream. ``epochs``/``subset``: upstream overrides (None: the configs' own schedule);
# ``scenes``: training and validation scenes; ``downstream``: cfg-options of every det/seg run.
FASHION_KIND = 'fashion'
PAPER_KIND = 'paper'

PRESETS: Dict[str, Dict[str, Any]] = {
    'smoke': dict(
        kind=FASHION_KIND, depth=8, seeds=(0,), subset=(20, 10), recipe='canvas',
        downstream_model='vit-fashion-canvas-d8', gate=True,
        epochs=dict(e2e=1, meta=1, incubate=1, finetune=1),
        cfg_options=('train_dataloader.batch_size=16', 'effective_batch_size=16'),
        scenes=dict(train=16, val=8, style='plain'),
        downstream=dict(det=['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
                             'train_dataloader.batch_size=4'],
                        seg=['train_cfg.max_iters=4', 'train_cfg.val_interval=4', 'train_dataloader.batch_size=4',
                             'default_hooks.checkpoint.interval=4']),
        about='toy size: checks the whole chain in a few minutes; not a result'),
    'fashion-canvas': dict(
        kind=FASHION_KIND, depth=8, seeds=(0, 1, 2), subset=None, epochs=None, recipe='canvas',
        downstream_model='vit-fashion-canvas-d8', gate=True,
        scenes=dict(train=1000, val=200, style='plain'), downstream=dict(det=[], seg=[]),
        about='the CPU benchmark: depth-8 backbones pretrained on items anywhere on 32x32 canvases, ViTDet '
              'windows downstream, plain Fashion-MNIST scenes, the probe gate first, 3 seeds'),
    'fashion-canvas-frozen': dict(
        kind=FASHION_KIND, depth=8, seeds=(0, 1, 2), subset=None, epochs=None, recipe='canvas',
        downstream_model='vit-fashion-canvas-d8', gate=True, protocol='frozen',
        scenes=dict(train=1000, val=200, style='plain'), downstream=dict(det=[], seg=[]),
        about='the fashion-canvas upstream runs and scenes, the backbones frozen downstream: linear '
              'segmentation and detection heads on the upstream features as they are, 3 seeds'),
    'fashion': dict(
        kind=FASHION_KIND, depth=32, seeds=(0, 1, 2), subset=None, epochs=None,
        scenes=dict(train=1000, val=200), downstream=dict(det=[], seg=[]),
        about='the first CPU benchmark (kept for its record): depth-32 backbones pretrained on centred 16x16 items, '
              'tinted scenes; nothing learnt downstream'),
    'paper-coco': dict(
        kind=PAPER_KIND, seeds=(0,),
        upstream=[('ViT-B', 'e2e', 'vit-b_e2e_300e_in1k.py'), ('ViT-B', 'incubation', 'vit-b_incubation_100e+100e_in1k.py')],
        downstream=[('det', 'mask-rcnn_vit-b_{init}_1x_coco.py'), ('det', 'mask-rcnn_vit-b_{init}_3x_coco.py')],
        about='ImageNet-1K ViT-B (E2E, incubation 100+100) -> COCO Mask R-CNN 1x and 3x'),
    'paper-ade': dict(
        kind=PAPER_KIND, seeds=(0,),
        upstream=[('ViT-L', 'e2e', 'vit-l_e2e_300e_in1k.py'), ('ViT-L', 'incubation', 'vit-l_incubation_100e+100e_in1k.py'),
                  ('ViT-H', 'e2e', 'vit-h_e2e_300e_in1k.py'), ('ViT-H', 'incubation', 'vit-h_incubation_100e+100e_in1k.py')],
        downstream=[('seg', 'upernet_vit-{model}_{init}_80k_ade20k-512x512.py')],
        about='ImageNet-1K ViT-L and ViT-H -> ADE20K UperNet 80k'),
    'paper-in1k': dict(
        kind=PAPER_KIND, seeds=(0,),
        upstream=[(m, meth, f'vit-{s}_{"e2e_300e" if meth == "e2e" else "incubation_100e+100e"}_in1k.py')
                  for m, s in (('ViT-B', 'b'), ('ViT-L', 'l'), ('ViT-H', 'h')) for meth in ('e2e', 'incubation')],
        high_res=[('ViT-B', 'vit-b_{init}-ft384_30e_in1k.py'), ('ViT-L', 'vit-l_{init}-ft384_30e_in1k.py'),
                  ('ViT-H', 'vit-h_{init}-ft392_30e_in1k.py')],
        downstream=[], about='ImageNet-1K top-1 of ViT-B/L/H, both methods, at 224 and 384/392'),
    'paper-efficiency': dict(
        kind=PAPER_KIND, seeds=(0,), shared_meta=('ViT-H', 'vit-h_meta_300e_in1k.py'),
        upstream=[('ViT-H', 'e2e', 'vit-h_e2e_300e_in1k.py'), ('ViT-H', 'incubation', 'vit-h_incubation_25e+25e_in1k.py'),
                  ('ViT-H', 'incubation', 'vit-h_incubation_50e+50e_in1k.py'),
                  ('ViT-H', 'incubation', 'vit-h_incubation_100e+100e_in1k.py')],
        downstream=[], about='ViT-H 25+25 / 50+50 / 100+100 from one meta model, and E2E'),
    'paper-data': dict(
        kind=PAPER_KIND, seeds=(0,),
        upstream=[('ViT-B', meth, f'vit-b_{"e2e_300e" if meth == "e2e" else "incubation_100e+100e"}_in1k-{pct}pct.py')
                  for pct in (25, 50) for meth in ('e2e', 'incubation')],
        downstream=[], about='ViT-B on class-balanced 25% and 50% of ImageNet-1K, both methods'),
}


# --- the plan ----------------------------------------------------------------------------------


@dataclass
class Upstream:
    """An upstream run: its node and the final checkpoint it hands on."""

    node: Node
    method: str
    seed: int
    checkpoint: str
    model: str = ''
    finished: Callable[[], bool] = lambda: False   # its records say it finished (its artifact unchecked)


@dataclass
class Downstream:
    """A detection or segmentation run from one upstream run (or from random weights)."""

    node: Node
    task: str          # 'det' or 'seg'
    init: str          # 'e2e', 'incubation' or CONTROL
    seed: int
    upstream: Optional[Upstream]

    @property
    def checkpoint(self) -> Optional[str]:
        return self.upstream.checkpoint if self.upstream else None


@dataclass
class Plan:
    preset: str
    work_dir: str
    upstream: List[Upstream] = field(default_factory=list)
    downstream: List[Downstream] = field(default_factory=list)
    extra: List[Node] = field(default_factory=list)   # nodes that hand on to upstream runs (a shared meta)
    scenes: Optional[str] = None
    gates: List[Node] = field(default_factory=list)   # the probe of each seed's backbones, before its downstream runs
    upstream_dir: Optional[str] = None
    protocol: str = 'finetune'                        # how the heads meet the backbone (:data:`PROTOCOLS`)

    @property
    def nodes(self) -> List[Node]:
        return self.extra + [u.node for u in self.upstream] + self.gates + [d.node for d in self.downstream]


def _python(script: str, *words: str) -> List[str]:
    return [sys.executable, script, *words]


def _config(folder: str, pattern: str) -> str:
    found = sorted(glob.glob(osp.join(folder, pattern)))
    if len(found) != 1:
        raise SuiteError(f'expected one config matching {osp.join(folder, pattern)}, found {len(found)}')
    return found[0]


_VERIFIED: Dict[str, Tuple[Tuple[int, int], Optional[str]]] = {}


def artifact_problem(path: str) -> Optional[str]:
    """Why an upstream run's final checkpoint is missing or does not load (a truncated file), or
    None; checked once per file state (size, mtime) in this process."""
    from classification.pipeline import artifact_problem as load_problem

    try:
        st = os.stat(path)
    except OSError:
        return f'{path}: missing'
    key = (st.st_size, st.st_mtime_ns)
    cached = _VERIFIED.get(path)
    if cached is None or cached[0] != key:
        cached = _VERIFIED[path] = (key, load_problem(path))
    return cached[1]


def is_pipeline(node: Node) -> bool:
    """Whether a node runs the incubation pipeline (``tools/incubate.py``), not one training run."""
    from classification.incubate import is_pipeline_node

    return is_pipeline_node(node)


def _fashion_upstream(preset: Dict[str, Any], args: argparse.Namespace, up_dir: str) -> Tuple[List[Node], List[Upstream]]:
    """The depth study's runs of the preset's depth (benchmarks.fashion_study.plan): its shared meta
    models (extra nodes) and, per seed, the E2E run and the pipeline that hand on a backbone."""
    from .fashion_study import plan as study_plan

    study = {k: preset[k] for k in ('epochs', 'subset', 'cfg_options', 'recipe') if preset.get(k) is not None}
    runs = study_plan(study, [preset['depth']], _seeds(preset, args), up_dir, 'cpu',
                      osp.abspath(args.data_root) if args.data_root else None, args.threads)
    names = {run.work_dir: f'upstream/{run.name}' for run in runs}
    metas: List[Node] = []
    ups: List[Upstream] = []
    for run in runs:
        if run.method == 'meta':
            final = osp.join(run.work_dir, record.artifact_name('meta'))
        elif run.method == 'e2e':
            final = osp.join(run.work_dir, record.artifact_name('assembled'))
        else:
            final = osp.join(run.work_dir, record.FINETUNE, record.artifact_name('assembled'))
        node = Node(names[run.work_dir], run.argv, run.work_dir, needs=tuple(names[n] for n in run.needs), log=run.log,
                    done=lambda r=run, f=final: run_finished(r.work_dir) and artifact_problem(f) is None,
                    labels=dict(method=run.method, seed=run.seed))
        if run.method == 'meta':
            metas.append(node)
        else:
            ups.append(Upstream(node, run.method, run.seed, final, f'ViT-D{preset["depth"]}-W64',
                                finished=lambda r=run: run_finished(r.work_dir)))
    return metas, ups


def _seeds(preset: Dict[str, Any], args: argparse.Namespace) -> Tuple[int, ...]:
    return tuple(args.seeds) if args.seeds else tuple(preset['seeds'])


def scenes_options(task: str, scenes: str) -> List[str]:
    """cfg-options pointing a fashion-scenes config at the scenes in ``scenes``."""
    if task == 'det':
        ann = {'train': 'instances_training.json', 'val': 'instances_validation.json'}
        return ([f'{loader}.dataset.data_root={scenes}' for loader in LOADERS]
                + [f'{ev}.ann_file={osp.join(scenes, "coco", ann["val"])}' for ev in ('val_evaluator', 'test_evaluator')])
    return [f'{loader}.dataset.data_root={scenes}' for loader in LOADERS]


# How the downstream heads meet the backbone (fashion presets): ``finetune`` trains everything
# (UperNet, Mask R-CNN); ``frozen`` keeps every backbone weight as the upstream run left it
# and reads it with linear heads (DINOv2's linear segmentation protocol; RetinaNet without stacked
# convolutions on a linear neck, whose every anchor is a training example).
PROTOCOL_HEADS = {'finetune': dict(det='Mask R-CNN', seg='UperNet'),
                  'frozen': dict(det='linear RetinaNet, frozen backbone', seg='linear head, frozen backbone')}
PROTOCOLS: Dict[str, Dict[str, str]] = {
    'finetune': dict(det='mask-rcnn_{model}_{init}_*_fashion-scenes*.py', seg='upernet_{model}_{init}_*_fashion-scenes*.py'),
    'frozen': dict(det='retinanet-linear_{model}-frozen_{init}_*_fashion-scenes*.py',
                   seg='linear_{model}-frozen_{init}_*_fashion-scenes*.py'),
}


def protocol_of(preset: Dict[str, Any], args: Optional[argparse.Namespace] = None) -> str:
    """The downstream protocol: ``--protocol``, else the preset's, else ``finetune``."""
    return getattr(args, 'protocol', None) or preset.get('protocol', 'finetune')


def downstream_configs(preset: Dict[str, Any], protocol: str = 'finetune',
                       tasks: Sequence[str] = ('det', 'seg')) -> Dict[Tuple[str, str], str]:
    """The detection and segmentation config of each (task, upstream method) of a fashion preset
    under a protocol (:data:`PROTOCOLS`), ``<model>`` the preset's ``downstream_model`` (default
    ``vit-fashion-d<depth>``)."""
    model = preset.get('downstream_model', f'vit-fashion-d{preset["depth"]}')
    folders = dict(det=DET_CONFIGS, seg=SEG_CONFIGS)
    return {(task, init): _config(folders[task], PROTOCOLS[protocol][task].format(model=model, init=init))
            for task in tasks for init in ('e2e', 'incubation')}


def _fashion_downstream(preset: Dict[str, Any], args: argparse.Namespace, work: str, scenes: str,
                        ups: Sequence[Upstream]) -> List[Downstream]:
    tasks = getattr(args, 'tasks', None) or TASKS
    configs = downstream_configs(preset, protocol_of(preset, args), tasks)
    out: List[Downstream] = []
    for seed in _seeds(preset, args):
        by_method = {u.method: u for u in ups if u.seed == seed}
        for task in tasks:
            for init in INITS:
                up = by_method.get(init)
                config = configs[(task, 'e2e' if init == CONTROL else init)]
                options = [f'randomness.seed={seed}', *scenes_options(task, scenes),
                           *preset['downstream'][task], *args.cfg_options]
                if up is None:
                    options += ['model.backbone.init_cfg=None', f'benchmark.variant={CONTROL}']
                else:
                    options.append(f'model.backbone.init_cfg.checkpoint={up.checkpoint}')
                out.append(_downstream_node(work, task, init, seed, config, options, up))
    return out


def _downstream_node(work: str, task: str, init: str, seed: int, config: str, options: Sequence[str],
                     up: Optional[Upstream], name: Optional[str] = None) -> Downstream:
    name = name or f'{init}_seed{seed}'
    work_dir = osp.join(work, task, name)
    argv = _python(TRAIN, config, '--work-dir', work_dir, '--resume', '--cfg-options', *options)
    node = Node(f'{task}/{name}', argv, work_dir, needs=(up.node.name,) if up else (),
                done=lambda w=work_dir: run_finished(w), log=osp.join(work_dir, 'train.out'),
                labels=dict(task=task, init=init, seed=seed))
    return Downstream(node, task, init, seed, up)


def _paper_plan(preset: Dict[str, Any], args: argparse.Namespace, work: str) -> Plan:
    up_dir = osp.abspath(args.upstream_dir) if args.upstream_dir else osp.join(work, 'upstream')
    plan = Plan(args.preset, work, upstream_dir=up_dir)
    imagenet = osp.abspath(args.imagenet)
    meta_node = None
    if preset.get('shared_meta'):
        model, config = preset['shared_meta']
        meta_dir = osp.join(up_dir, f'{model.lower()}_meta')
        meta_ckpt = osp.join(meta_dir, 'meta.pth')
        roots = [f'{loader}.dataset.data_root={imagenet}' for loader in LOADERS]
        meta_node = Node(f'upstream/{model.lower()}_meta', _python(
            TRAIN, osp.join(CLS_CONFIGS, config), '--work-dir', meta_dir, '--resume', '--cfg-options',
            f'randomness.seed={_seeds(preset, args)[0]}', *roots), meta_dir,
            done=lambda p=meta_ckpt: artifact_problem(p) is None)
        plan.extra.append(meta_node)
    for seed in _seeds(preset, args):
        for model, method, config in preset['upstream']:
            name = osp.splitext(config)[0] + f'_seed{seed}'
            work_dir = osp.join(up_dir, name)
            if method == 'e2e':
                argv = _python(TRAIN, osp.join(CLS_CONFIGS, config), '--work-dir', work_dir, '--resume',
                               '--cfg-options', f'randomness.seed={seed}',
                               *[f'{loader}.dataset.data_root={imagenet}' for loader in LOADERS])
                final = osp.join(work_dir, 'model.pth')
            else:
                argv = _python(INCUBATE, osp.join(CLS_CONFIGS, config), '--work-dir', work_dir, '--data-root', imagenet,
                               # --gpus 0 (a CPU partition): one process a phase, not none
                               '--parallel', '4', '--nproc-per-worker', str(max(1, args.gpus)))
                if meta_node is not None:
                    argv += ['--meta', osp.join(meta_node.work_dir, 'meta.pth')]
                argv += ['--cfg-options', f'randomness.seed={seed}']
                final = osp.join(work_dir, record.FINETUNE, 'model.pth')
            node = Node(f'upstream/{name}', argv, work_dir, needs=(meta_node.name,) if meta_node and method != 'e2e' else (),
                        done=lambda w=work_dir, f=final: run_finished(w) and artifact_problem(f) is None,
                        log=osp.join(work_dir, 'suite.out'),
                        labels=dict(method=method, seed=seed, model=model))
            up = Upstream(node, method, seed, final, model, finished=lambda w=work_dir: run_finished(w))
            plan.upstream.append(up)
            for res_model, pattern in preset.get('high_res', []):
                if res_model != model:
                    continue
                res_config = pattern.format(init=method)
                options = [f'randomness.seed={seed}', f'model.init_checkpoint={final}',
                           *[f'{loader}.dataset.data_root={imagenet}' for loader in LOADERS]]
                plan.downstream.append(_downstream_node(osp.join(work, 'high-res'), 'cls',
                                                        method, seed, osp.join(CLS_CONFIGS, res_config), options, up,
                                                        name=osp.splitext(res_config)[0] + f'_seed{seed}'))
            for task, pattern in preset['downstream']:
                config_name = pattern.format(init=method, model=model.split('-')[-1].lower())
                folder = DET_CONFIGS if task == 'det' else SEG_CONFIGS
                options = [f'randomness.seed={seed}', f'model.backbone.init_cfg.checkpoint={final}', *args.cfg_options]
                plan.downstream.append(_downstream_node(work, task, method, seed, osp.join(folder, config_name),
                                                        options + _paper_data(task, args), up,
                                                        name=osp.splitext(config_name)[0] + f'_seed{seed}'))
        # the random-init control: each downstream config of each model once per seed, with no pretrained weights
        controls = {(task, pattern.format(init='e2e', model=model.split('-')[-1].lower()))
                    for model, _method, _config in preset['upstream'] for task, pattern in preset['downstream']}
        for task, config_name in sorted(controls):
            folder = DET_CONFIGS if task == 'det' else SEG_CONFIGS
            options = [f'randomness.seed={seed}', 'model.backbone.init_cfg=None', f'benchmark.variant={CONTROL}',
                       *args.cfg_options, *_paper_data(task, args)]
            name = osp.splitext(config_name)[0].replace('_e2e_', f'_{CONTROL}_') + f'_seed{seed}'
            plan.downstream.append(_downstream_node(work, task, CONTROL, seed, osp.join(folder, config_name),
                                                    options, None, name=name))
    return plan


def _paper_data(task: str, args: argparse.Namespace) -> List[str]:
    data = args.coco if task == 'det' else args.ade
    return [f'{loader}.dataset.data_root={osp.abspath(data)}' for loader in LOADERS] if data else []


# What a paper preset reads, and where (the configs' defaults; each option points elsewhere).
PAPER_DATA = {
    'imagenet': ('--imagenet', 'ImageNet-1K in the folder layout: DIR/train/<class>/*.JPEG and DIR/val/<class>/*.JPEG '
                 '(docs/classification.md)'),
    'det': ('--coco', 'COCO 2017: DIR/annotations/instances_{train,val}2017.json, DIR/train2017/, DIR/val2017/ '
            '(default data/coco; docs/detection.md)'),
    'seg': ('--ade', 'ADE20K (ADEChallengeData2016): DIR/images/{training,validation}/*.jpg and '
            'DIR/annotations/{training,validation}/*.png (default data/ade/ADEChallengeData2016; docs/segmentation.md)'),
}


def data_needed(preset: Dict[str, Any], args: argparse.Namespace) -> List[str]:
    """One line per data set a preset reads: the option, where it points now, whether it is there."""
    if preset['kind'] != PAPER_KIND:
        root = args.data_root or '/usr/share/datasets/fashion-mnist'
        return [f'Fashion-MNIST idx files in {root} (tools/setup_data.sh installs them); the scenes are '
                f'generated from them']
    tasks = ['imagenet'] + sorted({task for task, _ in preset['downstream']})
    where = {'imagenet': args.imagenet, 'det': args.coco or 'data/coco', 'seg': args.ade or 'data/ade/ADEChallengeData2016'}
    return [f'{PAPER_DATA[t][0]} {where[t]} ({"found" if osp.isdir(where[t]) else "missing"}): {PAPER_DATA[t][1]}'
            for t in tasks]


def make_plan(args: argparse.Namespace) -> Plan:
    preset = PRESETS[args.preset]
    work = osp.abspath(args.work_dir or osp.join('work_dirs', f'suite-{args.preset}'))
    if preset['kind'] == PAPER_KIND:
        return _paper_plan(preset, args, work)
    up_dir = osp.abspath(args.upstream_dir) if args.upstream_dir else osp.join(work, 'upstream')
    scenes = osp.abspath(args.scenes_dir) if args.scenes_dir else osp.join(work, 'scenes')
    metas, ups = _fashion_upstream(preset, args, up_dir)
    plan = Plan(args.preset, work, upstream=ups, extra=metas, scenes=scenes, upstream_dir=up_dir,
                protocol=protocol_of(preset, args))
    plan.downstream = _fashion_downstream(preset, args, work, scenes, ups)
    if preset.get('gate'):
        plan.gates = _gate_nodes(args, work, up_dir, scenes, ups)
        by_seed = {g.labels['seed']: g.name for g in plan.gates}
        for down in plan.downstream:
            down.node.needs = down.node.needs + (by_seed[down.seed],)
    return plan


def gate_record(work: str, seed: int) -> str:
    """Where the gate's probe of one seed writes its record."""
    return osp.join(work, 'probe', f'seed{seed}.json')


def _gate_nodes(args: argparse.Namespace, work: str, up_dir: str, scenes: str, ups: Sequence[Upstream]) -> List[Node]:
    """One probe per seed (``python -m benchmarks probe``): its E2E and incubation backbones and a
    random-init one, on frozen features of the scenes; the seed's downstream runs wait for it."""
    nodes = []
    for seed in _seeds(PRESETS[args.preset], args):
        out = gate_record(work, seed)
        argv = [sys.executable, '-m', 'benchmarks', 'probe', '--preset', args.preset, '--upstream-dir', up_dir,
                '--scenes-dir', scenes, '--seeds', str(seed), '--out', out]
        if args.data_root:
            argv += ['--data-root', osp.abspath(args.data_root)]
        nodes.append(Node(f'probe/seed{seed}', argv, osp.dirname(out), log=osp.join(osp.dirname(out), f'seed{seed}.out'),
                          needs=tuple(u.node.name for u in ups if u.seed == seed),
                          done=lambda p=out: osp.isfile(p), labels=dict(seed=seed, task='probe')))
    return nodes


def read_gate(plan: Plan) -> List[Dict[str, Any]]:
    """The probe rows of every seed whose gate has run (one record per seed)."""
    import json
    rows: List[Dict[str, Any]] = []
    for node in plan.gates:
        path = gate_record(plan.work_dir, int(node.labels['seed']))
        if osp.isfile(path):
            with open(path) as f:
                rows += json.load(f).get('runs') or []
    return rows


# --- reusing finished upstream runs -------------------------------------------------------------

REUSE_KEYS = ('model', 'train_cfg.max_epochs', 'randomness.seed', 'train_dataloader.dataset.subset',
              'train_dataloader.batch_size')


def _cfg_options(argv: Sequence[str]) -> Dict[str, Any]:
    """``--cfg-options`` of a command line, parsed as mmengine's ``DictAction`` parses them."""
    from mmengine.config import DictAction

    if '--cfg-options' not in argv:
        return {}
    words = []
    for word in argv[argv.index('--cfg-options') + 1:]:
        if word.startswith('--'):
            break
        words.append(word)
    out: Dict[str, Any] = {}
    for word in words:
        key, value = word.split('=', 1)
        out[key] = DictAction._parse_iterable(value)
    return out


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split('.'):
        if not isinstance(cfg, dict) or part not in cfg:
            return None
        cfg = cfg[part]
    return cfg


def reuse_mismatch(node: Node) -> Optional[str]:
    """Why a finished upstream run is not the run this node would make, or None.

    A training run (E2E, a meta model) is compared on :data:`REUSE_KEYS` of its dumped config
    against the node's config with its ``--cfg-options``; a pipeline on its config, seed and the
    incubation epochs its manifest records.
    """
    from mmengine.config import Config

    argv = list(node.argv)
    config = argv[2]
    options = _cfg_options(argv)
    if not is_pipeline(node):
        dump = osp.join(node.work_dir, osp.basename(config))
        if not osp.isfile(dump):
            return None
        want = Config.fromfile(config, import_custom_modules=False)
        want.merge_from_dict(options)
        have = Config.fromfile(dump, import_custom_modules=False)
        for key in REUSE_KEYS:
            a, b = _get(have.to_dict(), key), _get(want.to_dict(), key)
            if a != b:
                return f'{node.work_dir}: its recorded {key} is {a!r}, the suite would run {b!r}'
        return None
    manifest = record.read_manifest(node.work_dir)
    if manifest.config and osp.basename(manifest.config) != osp.basename(config):
        return f'{node.work_dir}: a pipeline of {osp.basename(manifest.config)}, the suite would run {osp.basename(config)}'
    if '--incubate-epochs' in argv:
        epochs = int(argv[argv.index('--incubate-epochs') + 1])
        recorded = {p.epochs for p in manifest.phases if record.is_incubation(p.name) and p.epochs is not None}
        if recorded and recorded != {epochs}:
            return f'{node.work_dir}: its modules were incubated {sorted(recorded)} epochs, the suite would run {epochs}'
    seed = options.get('randomness.seed')
    dumped = osp.join(node.work_dir, record.FINETUNE, f'{record.FINETUNE}_config.py')
    if seed is not None and osp.isfile(dumped):
        have = (Config.fromfile(dumped, import_custom_modules=False).get('randomness') or {}).get('seed')
        if have is not None and int(have) != int(seed):
            return f'{node.work_dir}: its recorded randomness.seed is {have}, the suite would run {seed}'
    return None


def check_reuse(plan: Plan) -> None:
    """Refuse finished upstream runs that another config or schedule made (one line naming the dir)."""
    for node in plan.extra + [u.node for u in plan.upstream]:
        if node.done():
            why = reuse_mismatch(node)
            if why:
                raise SuiteError(f'{why}; point --upstream-dir elsewhere (or --work-dir) to run it afresh')


# --- provenance --------------------------------------------------------------------------------


# A downstream run's config as the suite started it: its file and the sha256 of the config as mmengine
# resolves it (its _base_ files included) with the options that are not paths (a copied or moved work
# dir changes the paths, not the run; the checkpoint's content is its backbone record's business).
INPUTS_FILE = 'suite-inputs.json'
PATH_OPTIONS = ('data_root', 'ann_file', 'checkpoint', 'init_cfg')


def config_inputs(node: Node) -> Dict[str, str]:
    """``{'config': file name, 'sha256': ...}`` of the run ``node`` would make (see :data:`INPUTS_FILE`)."""
    return dict(_config_inputs(tuple(node.argv)))


@functools.lru_cache(maxsize=None)
def _config_inputs(argv: Tuple[str, ...]) -> Dict[str, str]:
    # once a command: resolving a config takes about half a second, and the provenance check and
    # the report both ask for every downstream run's
    import hashlib
    import json

    from mmengine.config import Config

    cfg = Config.fromfile(argv[2], import_custom_modules=False)
    options = {k: v for k, v in _cfg_options(list(argv)).items() if k.split('.')[-1] not in PATH_OPTIONS}
    # the resolved dict with sorted keys: the same config through another _base_ layout is the same run
    text = json.dumps(dict(config=cfg.to_dict(), options=options), sort_keys=True, default=str)
    return dict(config=osp.basename(argv[2]), sha256=hashlib.sha256(text.encode()).hexdigest())


def write_config_inputs(plan: Plan) -> None:
    """Record :func:`config_inputs` in each downstream run's folder before it first starts."""
    from runtime.fileio import atomic_write_json

    for down in plan.downstream:
        path = osp.join(down.node.work_dir, INPUTS_FILE)
        if down.task != 'cls' and not down.node.done() and not osp.isfile(path):
            os.makedirs(down.node.work_dir, exist_ok=True)
            atomic_write_json(path, config_inputs(down.node))


def config_mismatch(node: Node) -> Optional[str]:
    """Why a downstream run was made by another config than the one ``node`` would run, or None:
    its recorded :data:`INPUTS_FILE` differs, or (a run from before that file) the config it
    dumped has another name."""
    then = record.read_json_object(osp.join(node.work_dir, INPUTS_FILE))
    if then is not None:
        now = config_inputs(node)
        if then.get('sha256') == now['sha256']:
            return None
        return (f'{node.work_dir}: ran {then.get("config")} as it was then (config sha256 '
                f'{str(then.get("sha256"))[:12]}), the suite would run {now["config"]} ({now["sha256"][:12]})')
    name = osp.basename(node.argv[2])  # no need to resolve the config: its name is the test
    if not osp.isdir(node.work_dir) or osp.isfile(osp.join(node.work_dir, name)):
        return None
    dumped = sorted(f for f in os.listdir(node.work_dir) if f.endswith('.py'))
    if not dumped:
        return None
    return f'{node.work_dir}: ran {dumped[0]}, the suite would run {name}'


def stale_runs(plan: Plan) -> List[Tuple[Downstream, str]]:
    """Finished downstream runs whose recorded backbone is not their upstream checkpoint as it is
    now, or whose config is not the one the suite would run (:func:`config_mismatch`)."""
    from runtime.provenance import provenance_mismatch

    stale = []
    for down in plan.downstream:
        if down.task == 'cls' or not down.node.done():
            continue
        why = provenance_mismatch(down.node.work_dir, down.checkpoint) or config_mismatch(down.node)
        if why:
            stale.append((down, why))
    return stale


def move_aside(path: str) -> str:
    n = 1
    while osp.exists(f'{path}.stale-{n}'):
        n += 1
    os.replace(path, f'{path}.stale-{n}')
    return f'{path}.stale-{n}'


def check_provenance(plan: Plan, rerun: bool) -> None:
    for down, why in stale_runs(plan):
        if not rerun:
            raise SuiteError(f'{why}: its result no longer holds; run the suite again without --no-rerun to re-run '
                             f'{down.node.name}')
        moved = move_aside(down.node.work_dir)
        print(f'{PREFIX} {why}: {down.node.name} runs again (the old run is kept as {moved})', flush=True)


# --- before anything runs ----------------------------------------------------------------------


def check_inputs(plan: Plan, args: argparse.Namespace) -> None:
    """Refuse, in one line and before anything starts, what would only fail later inside a run:
    a negative seed, and an ``--upstream-dir`` that holds none of the plan's finished upstream runs
    (a typo there would otherwise start every upstream training in a new folder)."""
    bad = [s for s in (args.seeds or ()) if s < 0]
    if bad:
        raise SuiteError(f'--seeds {" ".join(map(str, args.seeds))}: seeds are whole numbers >= 0')
    if not args.upstream_dir:
        return
    where = plan.upstream_dir or osp.abspath(args.upstream_dir)
    if not osp.isdir(where):
        raise SuiteError(f'--upstream-dir {where}: no such folder; point it at finished upstream runs, or leave it '
                         f'out to train them in {osp.join(plan.work_dir, "upstream")}')
    if plan.upstream and not any(u.finished() for u in plan.upstream):
        raise SuiteError(f'--upstream-dir {where}: holds none of the {len(plan.upstream)} finished upstream runs this '
                         f'preset reuses (e.g. {plan.upstream[0].node.work_dir}); point it at them, or leave it out to '
                         f'train them in {osp.join(plan.work_dir, "upstream")}')


def damaged_upstream(plan: Plan) -> List[Tuple[Upstream, str]]:
    """Upstream runs whose records say they finished but whose final checkpoint does not load."""
    out = []
    for up in plan.upstream:
        if up.finished():
            why = artifact_problem(up.checkpoint)
            if why:
                out.append((up, why))
    return out


def remake_damaged(plan: Plan, args: argparse.Namespace) -> None:
    """Run the finished upstream runs whose checkpoint is damaged again (their commands resume
    and export it anew) before the provenance of their downstream runs is judged."""
    damaged = damaged_upstream(plan)
    if not damaged:
        return
    for up, why in damaged:
        print(f'{PREFIX} {why}: {up.node.name} makes it again', flush=True)
    run_here(Plan(plan.preset, plan.work_dir, upstream=plan.upstream, extra=plan.extra, protocol=plan.protocol), args)


# --- running -----------------------------------------------------------------------------------


def _env(threads: int) -> Dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS=str(threads),
                PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))


def write_scenes(plan: Plan, args: argparse.Namespace) -> None:
    if plan.scenes is None:
        return
    from .fashion_scenes import DEFAULT_STYLE, write_fashion_scenes

    preset = PRESETS[args.preset]
    kwargs = dict(num_train=preset['scenes']['train'], num_val=preset['scenes']['val'],
                  style=preset['scenes'].get('style', DEFAULT_STYLE))
    if args.data_root:
        kwargs['data_root'] = osp.abspath(args.data_root)
    started = time.monotonic()
    write_fashion_scenes(plan.scenes, **kwargs)
    print(f'{PREFIX} scenes in {plan.scenes} ({kwargs["num_train"]} training, {kwargs["num_val"]} validation, '
          f'{kwargs["style"]}; '
          f'{time.monotonic() - started:.1f} s)', flush=True)


# What the detection and segmentation runs import, preloaded once with torch, timm and mmengine
# (runtime.launch.PreloadedBackend): a downstream run forked from that server starts in about a
# second instead of importing mmdet or mmseg for several seconds.
DOWNSTREAM_PRELOAD = ('mmdet.models', 'mmdet.datasets', 'mmdet.evaluation', 'mmseg.models', 'mmseg.datasets',
                      'mmseg.evaluation', 'detection', 'segmentation')


def suite_backend():
    """Processes forked from one preloaded server on machines without CUDA devices, else fresh ones."""
    from runtime.launch import PRELOAD, LocalBackend, PreloadedBackend, cuda_devices_present

    return LocalBackend() if cuda_devices_present() else PreloadedBackend(PRELOAD + DOWNSTREAM_PRELOAD)


def _progress_source(node: Node) -> str:
    """Where a node's ETA is read: a pipeline's status file, a training run's mmengine log."""
    from runtime.progress import PROGRESS_FILE

    return osp.join(node.work_dir, PROGRESS_FILE) if is_pipeline(node) else osp.join(node.work_dir, record.TRAIN_LOG)


def run_here(plan: Plan, args: argparse.Namespace) -> None:
    from runtime.progress import Progress

    nodes = graph.check_graph(plan.nodes)
    todo = [n for n in nodes if not n.done()]
    print(f'{PREFIX} {len(nodes) - len(todo)} of {len(nodes)} runs done before; {len(todo)} to run, '
          f'{args.jobs} at a time', flush=True)
    progress = Progress([n.name for n in nodes], prefix=PREFIX, interval=60.0,
                        status_path=osp.join(plan.work_dir, 'progress.json'))
    for node in nodes:
        if node not in todo:
            progress.skip(node.name)

    def on_start(node: Node) -> None:
        print(f'{PREFIX} start {node.name} -> {node.log}', flush=True)
        progress.start(node.name, log=_progress_source(node))

    def on_exit(node: Node, code: int) -> None:
        ok = code == 0 and node.done()
        if ok:
            print(f'{PREFIX} {node.name}: finished', flush=True)
        else:
            print(f'{PREFIX} {node.name}: FAILED (exit {code}): {node_failure(node, code)}; log {node.log}', flush=True)
        progress.finish(node.name, ok=ok)

    _ran, failed = graph.run_local(nodes, suite_backend(), args.jobs, on_start, on_exit,
                                   on_progress=lambda node: progress.poll(), env=_env(args.threads), cwd=ROOT,
                                   progress_seconds=10.0)
    print(progress.close(), flush=True)
    left = [n.name for n in nodes if not n.done()]
    if failed or left:
        first = failed[0] if failed else None
        cause = f'; {first.name}: {node_failure(first)}' if first else ''
        raise SuiteError(f'{len(left)} run(s) not done: {", ".join(left)} (failed: '
                         f'{", ".join(n.name for n in failed) or "none"}{cause}); fix that and run the command again '
                         'to resume them')


def node_failure(node: Node, code: Optional[int] = None) -> str:
    """Why a node failed, in one line: the cause its log ends with, else what is missing."""
    from runtime.launch import failure_cause

    cause = failure_cause(node.log)
    if cause:
        return cause
    if code == 0:
        return 'it exited 0 but its records do not say it finished (or its checkpoint does not load)'
    return f'exit {code}, no cause in its log' if code is not None else 'no cause in its log'


def node_states(plan: Plan) -> List[Tuple[Node, str]]:
    """Each node's state for ``--status``: done, running (the suite holding the work dir's lock
    has started it), failed (with the cause its log ends with), or waiting (on what)."""
    from runtime.launch import failure_cause
    from runtime.lock import LOCK_FILE, is_locked

    nodes = graph.check_graph(plan.nodes)
    running = set()
    if is_locked(osp.join(plan.work_dir, LOCK_FILE)):  # a suite command is at work: its status file holds
        items = (record.read_json_object(osp.join(plan.work_dir, 'progress.json')) or {}).get('items') or {}
        running = {name for name, state in items.items() if state == 'running'}
    done = {n.name for n in nodes if n.done()}
    out = []
    for node in nodes:
        if node.name in done:
            state = 'done'
        elif node.name in running:
            state = 'running'
        else:
            cause = failure_cause(node.log)
            waits = [n for n in node.needs if n not in done]
            if cause:
                state = f'failed: {cause}'
            elif waits:
                state = f'waiting for {", ".join(waits)}'
            else:
                state = 'waiting' + (' (started before, will resume)' if osp.isfile(node.log) else '')
        out.append((node, state))
    return out


def slurm_options(args: argparse.Namespace) -> Callable[[Node], slurm.SbatchOptions]:
    """The sbatch options of each node the suite submits (every Slurm option of the command line)."""
    from classification.incubate import node_job_options

    return node_job_options(args, 'suite', args.threads, chdir=ROOT)


def slurm_graph(nodes: Sequence[Node], write_configs: bool = False) -> List[Node]:
    """The graph as Slurm runs it: each pipeline node spliced in as its own nodes
    (:func:`classification.incubate.splice_pipelines`)."""
    from classification.incubate import splice_pipelines

    return splice_pipelines(nodes, write_configs)


def run_slurm(plan: Plan, args: argparse.Namespace) -> bool:
    """Submit (or with ``--status`` only report); True when every node is done."""
    states = graph.submit_slurm(slurm_graph(plan.nodes, write_configs=not args.status), osp.join(plan.work_dir, SLURM_STATE),
                                slurm_options(args), status_only=args.status)
    print(graph.slurm_report(states, f'{PREFIX} slurm jobs of {plan.work_dir}:'), flush=True)
    return all(s.verdict == 'done' for s in states)


# --- the report --------------------------------------------------------------------------------


METRICS = (('det', 'coco/bbox_mAP', 'APb'), ('det', 'coco/segm_mAP', 'APm'), ('det', 'coco/fgIoU', 'fgIoU (det)'),
           ('seg', 'mIoU', 'mIoU'), ('seg', 'fgIoU', 'fgIoU (seg)'), ('seg', 'bg_only_mIoU', 'mIoU if all background'))
FLOOR_METRICS = ('bg_only_mIoU',)  # what a degenerate run scores: shown, never compared
UPSTREAM_METRIC = 'accuracy/top1'
INIT_LABEL = {'e2e': 'E2E', 'incubation': 'incubation', CONTROL: 'random init (control)'}


@dataclass
class SuiteRow:
    """One (init, seed): its upstream and downstream runs as read from their work dirs."""

    init: str
    seed: int
    sha256: Optional[str] = None
    upstream: Any = None                       # benchmarks.runs.Run
    downstream: Dict[str, Any] = field(default_factory=dict)   # task -> Run

    def metric(self, key: str) -> Optional[float]:
        if key == UPSTREAM_METRIC:
            return None if self.upstream is None else self.upstream.metrics.get(key)
        task = next(t for t, k, _ in METRICS if k == key)
        run = self.downstream.get(task)
        return None if run is None else run.metrics.get(key)

    def total(self, task: str, cost: str) -> Optional[float]:
        """Upstream + ``task``'s downstream run, in one of :data:`benchmarks.costs.COSTS`."""
        down = self.downstream.get(task)
        if down is None:
            return None
        parts = [down.costs()[cost]] + ([] if self.upstream is None else [self.upstream.costs()[cost]])
        return None if any(p is None for p in parts) else float(sum(parts))


def row_order(row: SuiteRow) -> Tuple[int, int]:
    """Report order: E2E, incubation, the control (then anything else), each by seed."""
    return (INITS.index(row.init) if row.init in INITS else len(INITS), row.seed)


def read_rows(plan: Plan) -> List[SuiteRow]:
    """Every (init, seed) with the runs it has; raises :class:`SuiteError` on a stale provenance."""
    from runtime.provenance import read_backbone_record

    from .runs import read_run

    stale = stale_runs(plan)
    if stale:
        raise SuiteError(f'{stale[0][1]}: the result of {stale[0][0].node.name} no longer holds; run the suite again '
                         'to re-run it')
    rows: Dict[Tuple[str, int], SuiteRow] = {}
    for down in plan.downstream:
        if down.task == 'cls':
            continue
        row = rows.setdefault((down.init, down.seed), SuiteRow(down.init, down.seed))
        if down.node.done():
            row.downstream[down.task] = read_run(down.node.work_dir, upstream=False)
            recorded = read_backbone_record(down.node.work_dir) or {}
            sha = (recorded.get('file') or {}).get('sha256')
            if row.sha256 and sha and sha != row.sha256:
                raise SuiteError(f'{down.node.work_dir}: backbone sha256 {sha[:12]} differs from the other task\'s '
                                 f'{row.sha256[:12]} for {down.init} seed {down.seed}')
            row.sha256 = row.sha256 or sha
        if down.upstream is not None and down.upstream.node.done() and row.upstream is None:
            row.upstream = read_run(down.upstream.node.work_dir)
    return sorted(rows.values(), key=row_order)


def record_rows(rows: Sequence[SuiteRow], runs: Sequence[Any]) -> List[Dict[str, Any]]:
    """The rows as the suite's result record keeps them: init, seed, sha256 and the record paths
    of the upstream and downstream runs (relative to the runs' common folder, as
    :func:`benchmarks.records.build_record` writes them)."""
    from .records import _common_base

    base = _common_base(list(runs))

    def rel(run: Any) -> Optional[str]:
        return None if run is None else (run.path if base is None else osp.relpath(run.path, base))

    return [dict(init=r.init, seed=r.seed, sha256=r.sha256, upstream=rel(r.upstream),
                 downstream={task: rel(run) for task, run in r.downstream.items()}) for r in rows]


def rows_from_record(data: Dict[str, Any]) -> List[SuiteRow]:
    """The suite's rows rebuilt from its result record (what :func:`record_rows` wrote), for the
    docs' generated tables; the work dirs need not exist."""
    from .records import record_runs

    by_path = {run.path: run for run in record_runs(data)}
    rows = []
    for entry in (data.get('extra') or {}).get('rows') or []:
        row = SuiteRow(str(entry['init']), int(entry['seed']), entry.get('sha256'))
        missing = [p for p in [entry.get('upstream'), *(entry.get('downstream') or {}).values()]
                   if p is not None and p not in by_path]
        if missing:
            raise SuiteError(f'the suite record names run {missing[0]!r}, which it does not hold')
        row.upstream = by_path.get(entry.get('upstream')) if entry.get('upstream') else None
        row.downstream = {task: by_path[path] for task, path in (entry.get('downstream') or {}).items()}
        rows.append(row)
    return rows


def _hash(sha: Optional[str], init: str) -> str:
    return 'random' if init == CONTROL else (sha[:12] if sha else '–')


def tasks_run(rows: Sequence[SuiteRow]) -> Tuple[str, ...]:
    """The downstream tasks some row has a run of (all of :data:`TASKS` when none has any)."""
    ran = tuple(t for t in TASKS if any(t in r.downstream for r in rows))
    return ran or TASKS


def suite_tables(rows: Sequence[SuiteRow], title: str):
    """The per-run table and the summary (mean ± std, paired Δ, control), as :class:`benchmarks.render.Table`."""
    from .analysis import mean_std
    from .render import Cell, Table

    ran = tasks_run(rows)
    metric_cols = [('upstream top-1', UPSTREAM_METRIC)] + [(label, key) for t, key, label in METRICS if t in ran]
    cost_cols = [(f'total {what} ({task})', task, cost) for cost, what in
                 (('train_flops', 'training FLOPs'), ('train_device_hours', 'training device-h'))
                 for task in TASKS if task in ran]
    columns = ['backbone', 'seeds', 'sha256'] + [c for c, _ in metric_cols] + [c for c, _t, _k in cost_cols]
    align = ['l', 'l', 'l'] + ['r'] * (len(columns) - 3)
    cost_kind = {'train_flops': 'flops', 'train_device_hours': 'hours'}

    per_run = Table('suite_runs', f'{title}: every run (last-epoch values)', list(columns), align=list(align))
    for row in rows:
        cells = [Cell(INIT_LABEL.get(row.init, row.init)), Cell(str(row.seed)), Cell(_hash(row.sha256, row.init))]
        cells += [Cell(row.metric(key), 'metric') for _c, key in metric_cols]
        cells += [Cell(row.total(task, cost), cost_kind[cost]) for _c, task, cost in cost_cols]
        per_run.add(cells)

    summary = Table('suite_summary', f'{title}: mean ± std over seeds (last-epoch values)', list(columns),
                    align=list(align))
    by_init: Dict[str, List[SuiteRow]] = {}
    for row in rows:
        by_init.setdefault(row.init, []).append(row)
    for init, group in by_init.items():
        cells = [Cell(INIT_LABEL.get(init, init)), Cell(', '.join(str(r.seed) for r in group)),
                 Cell(', '.join(_hash(r.sha256, init) for r in group))]
        cells += [Cell(mean_std([r.metric(key) for r in group]), 'meanstd:metric') for _c, key in metric_cols]
        cells += [Cell(mean_std([r.total(task, cost) for r in group]), f'meanstd:{cost_kind[cost]}')
                  for _c, task, cost in cost_cols]
        summary.add(cells)
    e2e = {r.seed: r for r in by_init.get('e2e', [])}
    pairs = [(r, e2e[r.seed]) for r in by_init.get('incubation', []) if r.seed in e2e]

    def diff(a: Optional[float], b: Optional[float]) -> Optional[float]:
        return None if a is None or b is None else a - b

    for inc, base in pairs:
        cells = [Cell('Δ incubation − E2E'), Cell(str(inc.seed)),
                 Cell(f'{_hash(inc.sha256, "incubation")} − {_hash(base.sha256, "e2e")}')]
        cells += [Cell(diff(inc.metric(key), base.metric(key)), 'delta') for _c, key in metric_cols]
        cells += [Cell(diff(inc.total(task, cost), base.total(task, cost)),
                       'hoursdelta' if cost == 'train_device_hours' else 'flops') for _c, task, cost in cost_cols]
        summary.add(cells)
    if pairs:
        cells = [Cell('Δ incubation − E2E (paired)'), Cell(', '.join(str(i.seed) for i, _ in pairs)),
                 Cell(', '.join(f'{_hash(i.sha256, "incubation")[:8]}−{_hash(b.sha256, "e2e")[:8]}' for i, b in pairs))]
        cells += [Cell(mean_std([diff(i.metric(key), b.metric(key)) for i, b in pairs]), 'meanstd:delta')
                  for _c, key in metric_cols]
        cells += [Cell(None, 'na') for _ in cost_cols]
        summary.add(cells)
    control = {r.seed: r for r in by_init.get(CONTROL, [])}
    for init in ('e2e', 'incubation'):
        against = [(r, control[r.seed]) for r in by_init.get(init, []) if r.seed in control]
        if not against:
            continue
        cells = [Cell(f'Δ {INIT_LABEL[init]} − control (paired)'), Cell(', '.join(str(r.seed) for r, _ in against)),
                 Cell(', '.join(_hash(r.sha256, init)[:8] for r, _ in against))]
        cells += [Cell(None, 'na') if key == UPSTREAM_METRIC else
                  Cell(mean_std([diff(r.metric(key), c.metric(key)) for r, c in against]), 'meanstd:delta')
                  for _c, key in metric_cols]
        cells += [Cell(None, 'na') for _ in cost_cols]
        summary.add(cells)
    notes = ['Last-epoch values of each run (no best-epoch selection). Box / mask AP: COCO mAP (mmdet CocoMetric) on '
             'the validation scenes; mIoU: mmseg IoUMetric, single scale. fgIoU: foreground IoU, every item class '
             'merged (det: the union of the masks scored at least 0.5, or of the boxes for a detector without '
             'masks); "mIoU if all background": what a segmentor that labels every pixel background scores on the '
             'same pixels (a run at that value learnt nothing).',
             'Totals add the upstream run (E2E training, or the whole incubation pipeline: meta, incubations, '
             'fine-tune) to the downstream run; the control has no upstream cost.',
             'sha256: the first 12 hex digits of the backbone checkpoint each downstream run recorded '
             '(backbone.json).']
    summary.notes.extend(notes)
    per_run.notes.extend(notes[:1])
    return [summary, per_run]


def plot_rows(rows: Sequence[SuiteRow], out_dir: str, title: str) -> List[str]:
    """Downstream score against total training FLOPs (upstream + downstream), one point per run."""
    from .plots import _pyplot

    plt = _pyplot()
    panels = [('det', 'coco/bbox_mAP', 'box AP'), ('seg', 'mIoU', 'mIoU')]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    markers = {'e2e': 'o', 'incubation': 's', CONTROL: 'x'}
    for ax, (task, key, label) in zip(axes, panels):
        for init in INITS:
            pts = [(r.total(task, 'train_flops'), r.metric(key)) for r in rows if r.init == init]
            pts = [(x, y) for x, y in pts if x is not None and y is not None]
            if pts:
                ax.scatter([x for x, _ in pts], [y for _, y in pts], marker=markers[init],
                           label=INIT_LABEL[init], s=40)
        ax.set_xlabel('total training FLOPs (upstream + downstream)')
        ax.set_ylabel(f'{label} (last epoch)')
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:  # e.g. no detection above the test score threshold: the metric has no value to plot
            ax.text(0.5, 0.5, f'no run has a {label} value', ha='center', va='center', transform=ax.transAxes)
    fig.suptitle(title)
    return _save_figure(plt, fig, out_dir, 'suite_score_vs_cost', dpi=120)


def _save_figure(plt: Any, fig: Any, out_dir: str, stem: str, dpi: int) -> List[str]:
    """``OUT_DIR/STEM.{png,svg}``, the figure closed; the paths."""
    fig.tight_layout()
    paths = [osp.join(out_dir, f'{stem}.{ext}') for ext in ('png', 'svg')]
    for path in paths:
        fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return paths


CURVE_PANELS = (('det', 'coco/bbox_mAP', 'box AP'), ('det', 'coco/fgIoU', 'foreground IoU (det)'),
                ('seg', 'mIoU', 'mIoU'), ('seg', 'fgIoU', 'foreground IoU (seg)'))


def score_curves(rows: Sequence[SuiteRow], task: str, key: str) -> Dict[str, List[List[Tuple[float, float]]]]:
    """Per backbone kind, one curve per seed: (downstream training images seen, ``key``) at each evaluation."""
    out: Dict[str, List[List[Tuple[float, float]]]] = {}
    for row in rows:
        run = row.downstream.get(task)
        if run is None:
            continue
        points = [(float(p.images), float(p.metrics[key])) for p in run.evals
                  if key in p.metrics and p.images is not None]
        if points:
            out.setdefault(row.init, []).append(points)
    return out


def plot_curves(rows: Sequence[SuiteRow], out_dir: str, title: str) -> List[str]:
    """Downstream score against downstream training images seen, per backbone kind: the mean over
    seeds and a band from the lowest to the highest seed, at each evaluation."""
    import numpy as np

    from .plots import _pyplot

    plt = _pyplot()
    panels = [p for p in CURVE_PANELS if p[0] in tasks_run(rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    styles = {'e2e': ('C0', 'o'), 'incubation': ('C1', 's'), CONTROL: ('C7', 'x')}
    for ax, (task, key, label) in zip(axes[0], panels):
        curves = score_curves(rows, task, key)
        floor = [y for c in score_curves(rows, task, 'bg_only_mIoU').values() for curve in c for _, y in curve]
        if key == 'mIoU' and floor:
            ax.axhline(max(floor), color='k', ls='--', lw=0.8, label='all background')
        for init in INITS:
            seeds = curves.get(init)
            if not seeds:
                continue
            common = sorted(set.intersection(*[{x for x, _ in c} for c in seeds]))
            values = np.array([[dict(c)[x] for x in common] for c in seeds])
            color, marker = styles[init]
            ax.plot(common, values.mean(0), color=color, marker=marker, label=f'{INIT_LABEL[init]} (n={len(seeds)})')
            if len(seeds) > 1:
                ax.fill_between(common, values.min(0), values.max(0), color=color, alpha=0.2)
        ax.set_xlabel('downstream training images seen')
        ax.set_ylabel(label)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, f'no run has a {label} curve', ha='center', va='center', transform=ax.transAxes)
    fig.suptitle(f'{title}\nscore along the downstream schedule (mean over seeds; band: lowest to highest seed)',
                 fontsize=9)
    return _save_figure(plt, fig, out_dir, 'suite_score_vs_iterations', dpi=110)


def write_suite_report(plan: Plan, out_dir: Optional[str] = None) -> Dict[str, Any]:
    """Tables (Markdown, CSV, LaTeX), the plot and ``runs.json`` in ``WORK/report``."""
    import json

    out = out_dir or osp.join(plan.work_dir, 'report')
    os.makedirs(out, exist_ok=True)
    rows = read_rows(plan)
    title = f'Downstream suite `{plan.preset}`'
    tables = suite_tables(rows, title)
    files = []
    for table in tables:
        for ext, text in (('md', table.to_markdown()), ('csv', table.to_csv()), ('tex', table.to_latex())):
            path = osp.join(out, f'{table.name}.{ext}')
            with open(path, 'w') as f:
                f.write(text)
            files.append(path)
    plots = (plot_rows(rows, out, title) + plot_curves(rows, out, title)) if any(r.downstream for r in rows) else []
    gate = read_gate(plan)
    if gate:
        from .probe_table import gate_warning, summary_table
        with open(osp.join(out, 'gate.md'), 'w') as f:
            f.write(summary_table([dict(runs=gate, extra=dict(scenes=PRESETS[plan.preset].get('scenes')))]))
        warning = gate_warning(gate)
        if warning:
            print(f'{PREFIX} warning: {warning}', flush=True)
    entries = []
    for row in rows:
        entries.append(dict(init=row.init, seed=row.seed, sha256=row.sha256,
                            upstream=None if row.upstream is None else row.upstream.to_dict(),
                            downstream={t: r.to_dict() for t, r in row.downstream.items()}))
    runs_json = osp.join(out, 'runs.json')
    with open(runs_json, 'w') as f:
        json.dump(dict(preset=plan.preset, rows=entries), f, indent=1, default=str)
    # the result record (benchmarks.records): every upstream and downstream run, with its backbone
    from .records import write_study_record

    runs = [r.upstream for r in rows if r.upstream is not None] + [d for r in rows for d in r.downstream.values()]
    unique = list({run.path: run for run in runs}.values())
    write_study_record(plan.work_dir, 'suite', unique, extra=dict(
        preset=plan.preset, protocol=plan.protocol, title=title, rows=record_rows(rows, unique),
        scenes=PRESETS.get(plan.preset, {}).get('scenes'), gate=gate))
    markdown = '\n'.join(t.to_markdown() for t in tables)
    report = osp.join(out, 'report.md')
    with open(report, 'w') as f:
        f.write(f'# {title}\n\n{markdown}\n' + ''.join(f'![{osp.basename(p)}]({osp.basename(p)})\n'
                                                    for p in plots if p.endswith('.png')))
    return dict(tables=tables, files=files + plots + [runs_json, report], markdown=markdown, rows=rows)


# --- the command -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--preset', choices=sorted(PRESETS), default='smoke',
                        help='; '.join(f'{k}: {v["about"]}' for k, v in PRESETS.items()).replace('%', '%%'))
    parser.add_argument('--work-dir', help='default: work_dirs/suite-<preset>')
    parser.add_argument('--upstream-dir', help='where the upstream runs live (default: WORK_DIR/upstream); point it '
                                               'at finished runs to reuse them, e.g. the depth study\'s work dir')
    parser.add_argument('--scenes-dir', help='fashion presets: where the scenes are written (default: WORK_DIR/scenes)')
    parser.add_argument('--data-root', help='fashion presets: the Fashion-MNIST idx files (default: Debian\'s path)')
    parser.add_argument('--imagenet', default='data/imagenet', help='paper presets: ImageNet in the folder layout')
    parser.add_argument('--coco', help='paper presets: COCO root (default: the configs\' data/coco)')
    parser.add_argument('--ade', help='paper presets: ADE20K root (default: the configs\' data/ade/ADEChallengeData2016)')
    parser.add_argument('--seeds', type=int, nargs='+', help='override the preset\'s seeds')
    parser.add_argument('--tasks', nargs='+', choices=TASKS, help='fashion presets: the downstream tasks to run '
                        '(default: all); the report shows what ran')
    parser.add_argument('--protocol', choices=sorted(PROTOCOLS),
                        help='fashion presets: finetune (train the backbone with the heads) or frozen (heads on '
                             'the upstream features as they are); default: the preset\'s')
    parser.add_argument('--jobs', type=int, default=2, help='runs at the same time here (local launcher)')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads of each run')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='extra overrides of every downstream run')
    parser.add_argument('--dry-run', action='store_true', help='print the graph (commands, dependencies) and stop')
    parser.add_argument('--status', action='store_true', help='report what is done, running and failed; run nothing')
    parser.add_argument('--no-rerun', action='store_true',
                        help='refuse, instead of re-running, a finished run whose backbone file changed')
    parser.add_argument('--report-only', action='store_true', help='write the report from the runs there are')
    group = parser.add_argument_group('Slurm (--launcher slurm)')
    group.add_argument('--launcher', choices=['local', 'slurm'], default='local')
    slurm.add_sbatch_arguments(group, gpus_help='Paper presets: also the processes of each pipeline run '
                                                    '(--nproc-per-worker)')


def run(args: argparse.Namespace) -> int:
    from runtime.cli import run_cli

    return run_cli(lambda: _run(args), debug=getattr(args, 'debug', False))


def _run(args: argparse.Namespace) -> None:
    plan = make_plan(args)
    if args.dry_run:
        print(f'{PREFIX} preset {args.preset} ({PRESETS[args.preset]["about"]}): {len(plan.nodes)} runs, '
              f'work dir {plan.work_dir}', flush=True)
        nodes = slurm_graph(plan.nodes) if args.launcher == 'slurm' else plan.nodes
        print(graph.describe(nodes, args.launcher), flush=True)
        for line in data_needed(PRESETS[args.preset], args):
            print(f'{PREFIX} data: {line}', flush=True)
        return
    if args.status:
        if args.launcher == 'slurm':
            run_slurm(plan, args)
        else:
            for node, state in node_states(plan):
                print(f'{PREFIX} {node.name:<28} {state}  {node.work_dir}', flush=True)
        return
    if args.report_only:
        _report(plan)
        return
    check_inputs(plan, args)
    from runtime.lock import LOCK_FILE, exclusive

    busy = 'is in use by another `benchmarks suite` or `benchmarks reproduce`; wait for it to end, or use another folder'
    dirs = sorted({plan.work_dir, plan.upstream_dir or plan.work_dir})
    with contextlib.ExitStack() as locks:
        for folder in dirs:
            locks.enter_context(exclusive(osp.join(folder, LOCK_FILE), busy, SuiteError))
        write_scenes(plan, args)
        check_reuse(plan)
        if args.launcher == 'slurm':
            check_provenance(plan, rerun=not args.no_rerun)
            write_config_inputs(plan)
            if not run_slurm(plan, args):
                print(f'{PREFIX} run the same command (or with --status) to watch; it resubmits only what failed; '
                      'the report is written once every job is done', flush=True)
                return
        else:
            remake_damaged(plan, args)
            check_provenance(plan, rerun=not args.no_rerun)
            write_config_inputs(plan)
            run_here(plan, args)
        _report(plan)


def _report(plan: Plan) -> None:
    written = write_suite_report(plan)
    print(written['markdown'], flush=True)
    print(f'{PREFIX} report in {osp.dirname(written["files"][-1])} '
          f'(command: {shlex.join(["python", "-m", "benchmarks", "suite", *sys.argv[2:]])})', flush=True)


# --- the generated blocks of its page (python -m benchmarks results) ---------------------------


def _suite_rows(ctx: Context, name: str):
    """The rows of one suite record, or of several of one preset that ran different seeds (seeds
    run on different machines or days): a seed's runs must all come from one record, so that
    its paired differences compare runs of one commit and one machine."""
    if not ctx.records:
        raise ResultsError(f'{name} takes at least one suite record, the marker names none')
    first = (ctx.records[0].get('extra') or {}).get('preset')
    rows, owner = [], {}
    for source, rec in zip(ctx.sources, ctx.records):
        if rec.get('study') != 'suite':
            raise ResultsError(f'{name}: {source} is a {rec.get("study")!r} record, not a suite one '
                               f'(python -m benchmarks suite)')
        preset = (rec.get('extra') or {}).get('preset')
        if preset != first:
            raise ResultsError(f'{name}: {source} is of preset {preset!r}, {ctx.sources[0]} of {first!r}; '
                               f'one table takes one preset')
        try:
            these = rows_from_record(rec)
        except SuiteError as err:
            raise ResultsError(f'{name}: {source}: {err}') from err
        for seed in sorted({r.seed for r in these}):
            if seed in owner:
                raise ResultsError(f'{name}: seed {seed} is in {owner[seed]} and in {source}; '
                                   f'name each seed\'s record once')
            owner[seed] = source
        rows += these
    rows.sort(key=row_order)
    return ctx.records[0], rows


def _paired(rows, init_a: str, init_b: str, key: str) -> Optional[MeanStd]:
    a = {r.seed: r.metric(key) for r in rows if r.init == init_a}
    b = {r.seed: r.metric(key) for r in rows if r.init == init_b}
    return mean_std([a[s] - b[s] for s in sorted(a) if s in b and a[s] is not None and b[s] is not None])


def _separation(rows, key: str, label: str) -> str:
    """Whether the pretrained backbones beat the random-init control on ``key``, paired by seed."""
    parts, clear = [], True
    for init in ('e2e', 'incubation'):
        d = _paired(rows, init, CONTROL, key)
        if d is None:
            return f'{label}: no paired control run.'
        clear = clear and beyond_two_se(d) == 1
        parts.append(f'{INIT_LABEL[init]} − control {d.mean:+.2f}' + (f' ± {d.std:.2f}' if d.std is not None else ''))
    ok = ('both pretrained backbones are ahead of the control by more than two standard errors' if clear else
          'not both pretrained backbones are ahead of the control by more than two standard errors')
    return f'{label}: {", ".join(parts)} (paired by seed): {ok}.'


def _control_cell(rows, key: str) -> str:
    """The control's score and whether both pretrained backbones beat it (paired, the 2-SE rule)."""
    control = mean_std([r.metric(key) for r in rows if r.init == CONTROL])
    if control is None:
        return 'not run'
    deltas = [_paired(rows, init, CONTROL, key) for init in ('e2e', 'incubation')]
    beaten = all(d is not None and beyond_two_se(d) == 1 for d in deltas)
    spread = f' ± {control.std:.2f}' if control.std is not None else ''
    return f'{control.mean:.2f}{spread}: {"beaten by both" if beaten else "not beaten by both"}'


def _suite_title(rec: Mapping[str, Any]) -> str:
    return str((rec.get('extra') or {}).get('title') or 'suite')


@generator('suite-table')
def suite_table(ctx: Context) -> Generated:
    """A suite's summary table (mean ± std per backbone, paired Δ, the control) with a verdict per
    metric, whether the control separates the backbones, and what the runs cost."""
    rec, rows = _suite_rows(ctx, 'suite-table')
    summary = suite_tables(rows, _suite_title(rec))[0]
    lines = [summary.to_markdown(title=False).rstrip('\n'), '']
    ran = tasks_run(rows)
    compared = [(k, lab) for t, k, lab in METRICS if k not in FLOOR_METRICS and t in ran]
    for key, label in [(UPSTREAM_METRIC, 'upstream top-1')] + compared:
        lines.append(f'- {label}: {verdict(_paired(rows, "incubation", "e2e", key), label)}')
    for key, label in compared:
        lines.append(f'- Control, {_separation(rows, key, label)}')
    hours = {}
    for row in rows:
        for part, run in [('upstream', row.upstream)] + [('downstream', r) for r in row.downstream.values()]:
            if run is not None:
                hours.setdefault(part, {})[run.path] = run.costs().get('e2e_device_hours')
    spent = {k: sum(v for v in d.values() if v is not None) for k, d in hours.items()}
    counts = {k: len(d) for k, d in hours.items()}
    if spent:
        lines.append('- Cost of the runs in the record (end-to-end device-hours; on the CPU core-hours of the '
                     'processes, one thread each): '
                     + '; '.join(f'{counts[k]} {k} runs {spent[k]:.2f} h' for k in ('upstream', 'downstream') if k in spent)
                     + (f', i.e. {spent["downstream"] / 2 * 60:.0f} minutes of 2 cores for the downstream runs alone'
                        if 'downstream' in spent else '') + '.')
    lines.append(measured_on(ctx))
    return Generated('\n'.join(lines))


@generator('suite-runs')
def suite_runs_table(ctx: Context) -> Generated:
    """A suite's every-run table (one row per backbone and seed)."""
    rec, rows = _suite_rows(ctx, 'suite-runs')
    return Generated(suite_tables(rows, _suite_title(rec))[1].to_markdown(title=False))


def _suite_plot(ctx: Context, name: str, kind: str, plotter: Callable, alt: str) -> Generated:
    """A suite plot (``plotter(rows, folder, title)`` writes it) as a figure block."""
    rec, rows = _suite_rows(ctx, name)
    title = _suite_title(rec).replace('`', '')
    path = ctx.figure_path(kind)

    def drawer(folder: Path) -> Path:
        return Path(next(p for p in plotter(rows, str(folder), title) if p.endswith('.png')))

    return Generated(f'![{alt}]({ctx.link(path)})\n', {path: drawer})


@generator('suite-figure')
def suite_figure(ctx: Context) -> Generated:
    return _suite_plot(ctx, 'suite-figure', 'score_vs_cost', plot_rows,
                       'downstream score against total training FLOPs (upstream + downstream), one point per run')


@generator('suite-curves')
def suite_curves(ctx: Context) -> Generated:
    """A suite's score-vs-downstream-schedule plot (mean over seeds, seed band) per backbone kind."""
    return _suite_plot(ctx, 'suite-curves', 'score_vs_iterations', plot_curves,
                       'downstream score along the downstream schedule per backbone, mean over seeds with a band '
                       'from the lowest to the highest seed')


def _gate_runs(ctx: Context, name: str) -> List[Dict[str, Any]]:
    gate: List[Dict[str, Any]] = []
    for rec in ctx.records:
        if rec.get('study') != 'suite':
            raise ResultsError(f'{name}: a {rec.get("study")!r} record is not a suite record')
        gate += list((rec.get('extra') or {}).get('gate') or [])
    if not gate:
        raise ResultsError(f'{name}: the suite record holds no gate (a preset without gate=True)')
    return gate


@generator('suite-gate')
def suite_gate(ctx: Context) -> Generated:
    """The suite's gate: the dense and instance probes of its backbones against random init, by seed."""
    from .probe_table import summary_table

    gate = _gate_runs(ctx, 'suite-gate')
    scenes = (ctx.records[0].get('extra') or {}).get('scenes')
    return Generated(summary_table([dict(runs=gate, extra=dict(scenes=scenes))]) + measured_on(ctx))


@generator('suite-gate-line')
def suite_gate_line(ctx: Context) -> Generated:
    """The gate's verdict in one sentence (for the README)."""
    from .probe_table import gate_line

    scenes = (ctx.records[0].get('extra') or {}).get('scenes') or {}
    return Generated(gate_line(_gate_runs(ctx, 'suite-gate-line'), scenes.get('style', '?')) + '\n')


@headline_section('suite')
def headline_rows(ctx: Context) -> HeadlineRows:
    """The README headline's rows of suite records: one per preset, protocol and task (its first
    metric: box AP, mIoU), with the random-init control; the incubation / E2E ratio of the total
    (upstream + downstream) training FLOPs."""
    out = HeadlineRows()
    presets: Dict[Tuple[str, str], List[Tuple[str, Dict[str, Any]]]] = {}
    for source, rec in zip(ctx.sources, ctx.records):  # a preset's seeds may be several records
        extra = rec.get('extra') or {}
        presets.setdefault((extra.get('preset', ''), extra.get('protocol', 'finetune')), []).append((source, rec))
    for (_preset, protocol), group in presets.items():
        sub = Context([r for _s, r in group], [s for s, _r in group], ctx.doc, ctx.root)
        _record, rows = _suite_rows(sub, 'headline')
        model = next((row.upstream.model for row in rows if row.upstream is not None), '')
        for task_key in tasks_run(rows):
            key, label = next((k, lab) for t, k, lab in METRICS if k not in FLOOR_METRICS and t == task_key)
            task = next((run.task for row in rows for kind, run in row.downstream.items()
                         if run is not None and kind == task_key), '')
            delta = _paired(rows, 'incubation', 'e2e', key)
            totals = [mean_std([r.total(task_key, 'train_flops') for r in rows if r.init == init])
                      for init in ('e2e', 'incubation')]
            if totals[0] is not None and totals[1] is not None and totals[0].mean:
                out.flops_ratios.append(totals[1].mean / totals[0].mean)
            title = f'{get_task(task).title.split(" (")[0]} ({PROTOCOL_HEADS[protocol][task_key]})'
            out.rows.append([Cell(title), Cell(model), Cell(100, 'int'), Cell(label),
                             Cell(', '.join(str(s) for s in sorted({r.seed for r in rows}))),
                             Cell(mean_std([r.metric(key) for r in rows if r.init == 'e2e']), 'meanstd:metric'),
                             Cell(mean_std([r.metric(key) for r in rows if r.init == 'incubation']), 'meanstd:metric'),
                             Cell(delta, 'meanstd:delta'), Cell(short_verdict(delta)), Cell(_control_cell(rows, key))])
    return out
