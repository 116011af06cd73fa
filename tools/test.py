"""Evaluate a checkpoint: ``python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--tta] ...``.

CHECKPOINT is an mmengine training checkpoint of the config's model; for classification
configs it may also be a whole-network file of this project or timm (``model.pth``,
``model.safetensors``), and it may be left out when the config itself loads the weights
(e.g. ``model.role.type=assembled`` with the module checkpoints).
"""
import argparse
import json
import os
import os.path as osp

import _bootstrap  # noqa: F401
from mmengine.config import Config, DictAction
from mmengine.runner import Runner


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
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    set_checkpoint(cfg, args.checkpoint)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise SystemExit(f'{args.config}: --tta needs `tta_model` and `tta_pipeline` in the config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.metrics_json:
        with open(args.metrics_json, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
    return metrics


def set_checkpoint(cfg: Config, checkpoint) -> None:
    """For the classifier, any whole-network file (ours, timm, or an mmengine classifier
    checkpoint) becomes its initial weights; otherwise mmengine loads the whole model."""
    cfg.load_from = None
    if checkpoint is None:
        return
    if cfg.model.get('type') == 'IncubationClassifier':
        from backbones import CheckpointError, load_checkpoint
        try:
            kind = load_checkpoint(checkpoint).kind
        except CheckpointError:
            kind = None
        if kind == 'model':
            cfg.model.role = dict(type='target')
            cfg.model.init_checkpoint = checkpoint
            return
    cfg.load_from = checkpoint


if __name__ == '__main__':
    main()
