"""Evaluate a checkpoint: ``python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--tta] ...``.

CHECKPOINT is an mmengine training checkpoint of the config's model; for classification
configs it may also be a whole-network file of this project or timm (``model.pth``,
``model.safetensors``), and it may be left out when the config itself loads the weights
(e.g. ``model.role.type=assembled`` with the module checkpoints).

The network evaluated is exactly the config's, with every weight from CHECKPOINT: a file
with a missing or an extra weight, a weight of another shape, or another head count (when
the file records it) is refused with one line naming the file, as is a single module's
file (assemble the modules first). Errors a user can fix are one line (``--debug`` keeps the
traceback); ``--metrics-json`` is written atomically.
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
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from runtime import fault
from runtime.checkpoint import load_weights_only
from runtime.cli import UserError, run_cli
from runtime.fileio import atomic_write_json


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (optional, see above)')
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
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None  # loaded below, strictly, instead of mmengine's lenient load_from
    cfg.resume = False
    classifier = cfg.model.get('type') == 'IncubationClassifier'
    ckpt = read_classifier_checkpoint(cfg, args.checkpoint) if classifier and args.checkpoint else None
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise UserError(f'{args.config}: --tta needs `tta_model` and `tta_pipeline` in the config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    runner = Runner.from_cfg(cfg)
    if ckpt is not None:
        load_classifier_exactly(runner.model, ckpt, args.config)
    elif args.checkpoint:
        load_model_exactly(runner.model, args.checkpoint)
    fault.point('test_start')  # test-only kill point, inert by default
    metrics = runner.test()
    if args.metrics_json:
        atomic_write_json(args.metrics_json, {k: float(v) for k, v in metrics.items()})
    return metrics


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
