"""Train any task's config: ``python tools/train.py CONFIG [--work-dir DIR] [--resume] ...``.

The OpenMMLab ``tools/train.py`` shape; it works for classification, detection (mmdet) and
segmentation (mmseg) configs of this repository alike. ``--resume`` without a path continues
from the newest checkpoint in the work dir that loads (``runtime.checkpoint``). The config is
checked before anything is built (``runtime.configs``): a key nothing reads, a pipeline config,
a neck that does not fit the backbone are refused. Errors a user can fix are one line
(``--debug`` keeps the traceback).
"""
import argparse
import os
import os.path as osp
import sys

import _bootstrap  # noqa: F401
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from runtime.cli import UserError, config_errors, run_cli
from runtime.configs import check_config
from runtime.schedule import fit_schedule_to_epochs
from runtime.fastpaths import apply_fast_paths
from runtime.vis import BACKENDS, apply_vis_backends


# --cfg-options examples, one per kind of config (tests/test_config_keys.py runs them)
CFG_OPTIONS_EXAMPLES = {'classification': 'model.arch_overrides.drop_path_rate=0.2',
                        'detection, segmentation': 'model.backbone.drop_path_rate=0.2'}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Train a model from a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/CONFIG_NAME)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest one in the work dir')
    parser.add_argument('--amp', nargs='?', const='fp16', choices=['fp16', 'bf16'],
                        help='mixed precision: fp16 (the default of a bare --amp; dynamic loss scaling, CUDA) or '
                             'bf16 (autocast without a GradScaler, any device)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the network (the optimizer step and logging stay eager)')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale lr by the actual batch size')
    examples = ' or '.join(f'{option} ({kind})' for kind, option in CFG_OPTIONS_EXAMPLES.items())
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override config entries, e.g. {examples}; a key nothing reads is refused')
    parser.add_argument('--vis', nargs='+', choices=sorted(BACKENDS), metavar='BACKEND',
                        help='also log to these mmengine visualisation back-ends (tensorboard: event files in '
                             'WORK/<timestamp>/vis_data/, `tensorboard --logdir WORK`); the config key `vis` does '
                             'the same')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help='show the traceback of expected errors too')
    return parser


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        try:
            cfg.merge_from_dict(args.cfg_options)
        except TypeError as exc:  # e.g. a dict option over a value that is not one
            raise UserError(f'--cfg-options: {exc}') from exc
    check_config(cfg, args.config)  # strict keys, the neck fitted to the backbone: before anything is built
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    fit_schedule_to_epochs(cfg)  # a run shorter than the warm-up: clip it (one log line), don't crash
    apply_fast_paths(cfg, compile=args.compile, amp=args.amp)
    try:
        apply_vis_backends(cfg, args.vis)
    except ValueError as e:
        raise UserError(f'{args.config}: {e}') from None
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def check_train_data(runner: Runner) -> None:
    """Refuse, before anything trains, a training set too small for one batch.

    Building the loader here is what ``Runner.train`` does first anyway; it is kept.
    """
    if runner.train_loop is None:  # mmengine refuses that itself
        return
    loader = runner.train_dataloader
    if len(loader) > 0:
        return
    dataset = loader.dataset
    root = getattr(dataset, 'data_root', None) or runner.cfg.train_dataloader.get('dataset', {}).get('data_root')
    raise UserError(f'{root}: the training set has {len(dataset)} images, fewer than one batch of '
                    f'{loader.batch_size} per process with drop_last=True; lower train_dataloader.batch_size '
                    f'or add data')


def build_runner(cfg: Config) -> Runner:
    """The config's Runner (its ``runner_type`` when it names one, as OpenMMLab's tools do)."""
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def train(args) -> None:
    cfg = build_config(args)
    with config_errors(cfg):  # a key a constructor rejects: one line naming it
        runner = build_runner(cfg)
        check_train_data(runner)
        runner.train()


def main(argv=None) -> None:
    """Train; errors propagate (for callers in Python)."""
    train(parse_args(argv))


def cli(argv=None) -> int:
    """The command line: an expected error is one line and exit status 2."""
    args = parse_args(argv)
    return run_cli(lambda: train(args), debug=args.debug)


if __name__ == '__main__':
    sys.exit(cli())
