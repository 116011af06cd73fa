"""Evaluate a checkpoint: ``python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--tta] ...``.

CHECKPOINT is an mmengine training checkpoint of the config's model; for classification
configs it may also be a whole-network file of this project or timm (``model.pth``,
``model.safetensors``). The first line printed says which weights are evaluated: the file and
the start of its sha256, or, without CHECKPOINT (nor a ``load_from`` in the config), the
weights the config itself loads: the network assembled from ``model.role.module_checkpoints``
(a fine-tune config before its fine-tuning), ``model.init_checkpoint``, a dense backbone's
``init_cfg`` (with fresh neck and heads), or else freshly initialised weights.

The network evaluated is exactly the config's, with every weight from CHECKPOINT: a file
with a missing or an extra weight, a weight of another shape, or another head count (when
the file records it) is refused with one line naming the file, as is a single module's
file (assemble the modules first). Only the test data is read (``test_dataloader``): the
training data need not exist. Errors a user can fix are one line (``--debug`` keeps the
traceback); ``--metrics-json`` is written atomically once the metrics are computed.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, Optional

import _bootstrap  # noqa: F401
import torch
from mmengine.config import Config, DictAction
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from runtime import fault, record
from runtime.checkpoint import load_weights_only
from runtime.cli import UserError, config_errors, run_cli
from runtime.configs import check_config
from runtime.fileio import atomic_write_json


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file. Without it (and without load_from in the config) the weights the '
                             'config loads itself are evaluated: for a fine-tune config the network assembled from '
                             'model.role.module_checkpoints, before any fine-tuning; else model.init_checkpoint or '
                             'the backbone\'s init_cfg; else fresh weights. The first line printed names them')
    parser.add_argument('--work-dir', help='where the evaluation logs go')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (the config\'s tta_model/tta_pipeline)')
    parser.add_argument('--metrics-json', help='also write the metrics to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help='show the traceback of expected errors too')
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def evaluate(args) -> Dict[str, float]:
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        try:
            cfg.merge_from_dict(args.cfg_options)
        except TypeError as exc:  # e.g. a dict option over a value that is not one
            raise UserError(f'--cfg-options: {exc}') from exc
    check_config(cfg, args.config)  # strict keys, the neck fitted to the backbone: before anything is built
    checkpoint = args.checkpoint or cfg.get('load_from')
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None  # loaded below, strictly, instead of mmengine's lenient load_from
    cfg.resume = False
    print(f'[test] evaluating {weights_evaluated(cfg, checkpoint, args.checkpoint is None)}', flush=True)
    classifier = cfg.model.get('type') == 'IncubationClassifier'
    ckpt = read_classifier_checkpoint(cfg, checkpoint) if classifier and checkpoint else None
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise UserError(f'{args.config}: --tta needs `tta_model` and `tta_pipeline` in the config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    with config_errors(cfg):  # a key a constructor rejects: one line naming it
        runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
        if ckpt is not None:
            load_classifier_exactly(runner.model, ckpt, args.config)
        elif checkpoint:
            load_model_exactly(runner.model, checkpoint)
        fault.point('test_start')  # test-only kill point, inert by default
        metrics = runner.test()
    if args.metrics_json:
        atomic_write_json(args.metrics_json, {k: float(v) for k, v in metrics.items()})
    return metrics


def weights_evaluated(cfg: Config, checkpoint: Optional[str], from_config: bool) -> str:
    """Which weights this evaluation uses, in words (the first line the tool prints).

    Args:
        cfg: the config, options merged.
        checkpoint: the file given (or the config's ``load_from``), if any.
        from_config: whether ``checkpoint`` is the config's ``load_from`` (no CHECKPOINT given).
    """
    if checkpoint:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'{checkpoint}: checkpoint file not found')
        sha = record.fingerprint(checkpoint)['sha256'][:12]
        source = ', the config\'s load_from' if from_config else ''
        return f'the weights of {checkpoint} (sha256 {sha}...{source})'
    model = cfg.model
    role = model.get('role') or {}
    given = 'no CHECKPOINT given'
    if role.get('type') == 'assembled' and role.get('module_checkpoints'):
        modules = list(role['module_checkpoints'])
        names = f'{modules[0]} ... {modules[-1]}' if len(modules) > 2 else ', '.join(modules)
        return (f'the network assembled from the {len(modules)} module checkpoints of model.role.module_checkpoints '
                f'({names}), not fine-tuned ({given})')
    if role.get('type') == 'hybrid':
        return (f'the hybrid network of {role.get("meta_checkpoint")} with module {role.get("module_idx")} freshly '
                f'initialised ({given})')
    if model.get('init_checkpoint'):
        return f'model.init_checkpoint {model.init_checkpoint} ({given})'
    init = (model.get('backbone') or {}).get('init_cfg') or {}
    if init.get('type') == 'Pretrained':
        return f'the backbone from {init.get("checkpoint")} (model.backbone.init_cfg) with fresh neck and heads ({given})'
    return f'freshly initialised weights: {given} and the config loads none'


def read_classifier_checkpoint(cfg: Config, path: str):
    """The file as a whole network for the config's classifier, or a one-line refusal.

    A whole-network file replaces the config's own weights: an ``assembled`` role (weights
    from module files) becomes the same network as a ``target``.
    """
    from backbones import load_checkpoint

    ckpt = load_checkpoint(path)
    if ckpt.kind == 'module':
        raise UserError(f'{path}: holds module {ckpt.module_idx} only, not the whole network {cfg.filename} '
                        f'evaluates; assemble the modules (model.role.type=assembled '
                        f'model.role.module_checkpoints=[...]) or give the whole network\'s checkpoint')
    if cfg.model.get('role', {}).get('type') == 'assembled':
        cfg.model.role = dict(type='target')
    return ckpt


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    if is_model_wrapper(model):
        model = model.module
    return model.module if isinstance(model, BaseTTAModel) else model


def load_classifier_exactly(model: torch.nn.Module, ckpt, config: str) -> None:
    """Every weight of the classifier's network from ``ckpt``, same architecture, or refuse."""
    from backbones.checkpoints import check_arch, check_state_shapes

    network = _unwrap(model).network
    what = f'network of {config}'
    check_arch(ckpt, network.arch_config(), what)
    check_state_shapes(ckpt, network.state_dict(), what)
    network.load_state_dict(ckpt.state_dict, strict=True)


def load_model_exactly(model: torch.nn.Module, path: str, few: int = 4) -> None:
    """An mmengine checkpoint of any task's model, loaded strictly (one line on a misfit)."""
    raw = load_weights_only(path)
    state: Optional[dict] = raw.get('state_dict', raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict):
        raise UserError(f'{path}: no state dict in the file')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    target = _unwrap(model)
    own = target.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise UserError(f'{path}: does not fit the config\'s model: {len(missing)} missing (e.g. {missing[:few]}), '
                        f'{len(unexpected)} unexpected (e.g. {unexpected[:few]}), {len(wrong)} of another shape '
                        f'(e.g. {wrong[:few]})')
    _load_checkpoint_to_model(target, dict(state_dict=state), strict=True)


def main(argv=None) -> Dict[str, float]:
    """Evaluate; errors propagate (for callers in Python)."""
    return evaluate(parse_args(argv))


def cli(argv=None) -> int:
    """The command line: an expected error is one line and exit status 2."""
    args = parse_args(argv)
    return run_cli(lambda: evaluate(args), debug=args.debug)


if __name__ == '__main__':
    sys.exit(cli())
