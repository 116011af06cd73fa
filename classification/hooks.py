"""Hooks of the classification runs: effective batch size and the export of what a run produced."""
from __future__ import annotations

import math
import os

from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from backbones import export_timm, save_checkpoint


@HOOKS.register_module()
class EffectiveBatchHook(Hook):
    """Keeps the effective batch (per-device batch x devices x accumulation) at the config's
    ``effective_batch_size`` on any number of devices by setting the gradient accumulation.

    The recipe's learning rate is written for that effective batch (DeiT: 5e-4 x batch / 512),
    so the same config trains the same recipe on 8 GPUs, 64 GPUs or one.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        target = runner.cfg.get('effective_batch_size')
        if not target or not hasattr(runner, 'optim_wrapper') or isinstance(runner.optim_wrapper, dict):
            return  # no target, or test / val only
        per_step = runner.train_dataloader.batch_size * get_world_size()
        counts = max(1, math.ceil(target / per_step))
        if counts * per_step != target:
            runner.logger.warning(f'effective batch {target} is not a multiple of {per_step} '
                                  f'(batch x devices); using {counts * per_step}')
        # OptimWrapper reads this when the train loop starts counting (Runner.train, after before_run).
        runner.optim_wrapper._accumulative_counts = counts
        runner.logger.info(f'effective batch {counts * per_step} = {runner.train_dataloader.batch_size} x '
                           f'{get_world_size()} device(s) x {counts} accumulation step(s)')


@HOOKS.register_module()
class ExportHook(Hook):
    """At the end of training, writes what the run produced in the project's checkpoint format:
    ``meta.pth`` (meta model), ``module_<i>.pth`` (an incubated module with its metadata), or
    ``model.pth`` + ``model.safetensors`` (a whole network, also loadable by timm) and the same
    network as a timm local folder ``timm/`` (``timm.create_model('local-dir:WORK/timm', pretrained=True)``).
    Every training checkpoint records the network's architecture (``meta.arch``), so that
    ``tools/test.py`` can check a file against a config without guessing its head count.
    """

    priority = 'LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        checkpoint.setdefault('meta', {})['arch'] = model.network.arch_config()

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        ckpt = model.export_checkpoint()
        path = os.path.join(runner.work_dir, model.export_name())
        if ckpt.kind == 'model':
            written = export_timm(ckpt, path)
            runner.logger.info(f'exported {written["pth"]} and {written["safetensors"]} (timm format) and '
                               f'{written["timm"]} (timm.create_model(\'local-dir:{written["timm"]}\', pretrained=True))')
        else:
            save_checkpoint(ckpt, path)
            runner.logger.info(f'exported {ckpt.kind} checkpoint {path}')
