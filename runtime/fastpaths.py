"""Opt-in training fast paths: bf16 autocast without a GradScaler, fused AdamW, ``torch.compile``
of the network, and logging without a host synchronisation every iteration.

Every piece is an ordinary mmengine component (an optimizer wrapper, an optimizer-wrapper
constructor, two hooks) registered when :mod:`runtime.openmmlab` is imported, so a config names
them and ``tools/train.py``, ``mim train`` or a Python caller get the same behaviour.
:func:`apply_fast_paths` is what ``tools/train.py --compile --amp bf16`` does to a config.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, List, Optional

import torch
from mmengine.hooks import Hook, RuntimeInfoHook
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import HOOKS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

AMP_DTYPES = ('bf16', 'fp16')


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under ``torch.autocast(dtype)``, without a GradScaler.

    bfloat16 has float32's exponent range, so gradients need no loss scaling; mmengine's
    ``AmpOptimWrapper`` always creates a GradScaler (whose ``step`` reads ``found_inf`` back to
    the host every iteration) and refuses the CPU. This wrapper works on any device.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if self.cast_dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f'AutocastOptimWrapper: dtype must be bfloat16 (or float16), got {dtype!r}')

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        device = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device, dtype=self.cast_dtype):
            yield


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FastOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """The default constructor, with torch's fused Adam/AdamW kernel where every parameter is on
    CUDA and the optimizer config does not choose (``fused``/``foreach`` unset). On other devices
    the optimizer is built exactly as by the default constructor (same results on the CPU)."""

    FUSABLE = ('Adam', 'AdamW', 'SGD')

    def __call__(self, model: torch.nn.Module) -> OptimWrapper:
        optimizer_cfg = self.optimizer_cfg
        chosen = 'fused' in optimizer_cfg or 'foreach' in optimizer_cfg
        on_cuda = all(p.is_cuda for p in model.parameters() if p.requires_grad)
        if optimizer_cfg.get('type') in self.FUSABLE and not chosen and on_cuda and any(True for _ in model.parameters()):
            self.optimizer_cfg = dict(optimizer_cfg, fused=True)
            try:
                return super().__call__(model)
            finally:
                self.optimizer_cfg = optimizer_cfg
        return super().__call__(model)


@HOOKS.register_module()
class DeferredRuntimeInfoHook(RuntimeInfoHook):
    """mmengine's ``RuntimeInfoHook`` without a host synchronisation every iteration.

    The stock hook hands each iteration's loss tensors to the ``MessageHub``, which calls
    ``.item()`` on them: on a GPU that waits for the step to finish, every iteration. This hook
    keeps them (detached, on the device) and hands them over in one transfer when the logger is
    about to print (its interval, the end of an epoch, before validation, the end of training),
    so the ``MessageHub`` sees the same values in the same order and the logs are unchanged.
    """

    def __init__(self, interval: Optional[int] = None) -> None:
        self.interval = interval
        self._pending: List[Dict[str, Any]] = []

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.interval is None:
            from mmengine.hooks import LoggerHook
            loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
            self.interval = loggers[0].interval if loggers else 1

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None, outputs: Optional[dict] = None) -> None:
        if outputs is not None:
            self._pending.append({k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in outputs.items()})
        last = runner.iter + 1 >= runner.max_iters
        if (self.every_n_inner_iters(batch_idx, self.interval) or self.every_n_train_iters(runner, self.interval)
                or self.end_of_epoch(runner.train_dataloader, batch_idx) or last):
            self.flush(runner)

    def flush(self, runner) -> None:
        """Hand every kept value to the MessageHub (one device-to-host transfer)."""
        if not self._pending:
            return
        tensors = [v for out in self._pending for v in out.values() if isinstance(v, torch.Tensor)]
        host = iter(torch.stack([t.float().reshape(()) for t in tensors]).tolist()) if tensors else iter(())
        for out in self._pending:
            for key, value in out.items():
                runner.message_hub.update_scalar(f'train/{key}', next(host) if isinstance(value, torch.Tensor)
                                                 else value)
        self._pending.clear()

    def before_val(self, runner) -> None:
        self.flush(runner)
        super().before_val(runner)

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)


def _network(runner) -> torch.nn.Module:
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    return getattr(model, 'network', model)


@HOOKS.register_module()
class CompileNetworkHook(Hook):
    """``torch.compile`` the network's forward in place (``nn.Module.compile``) before training.

    Only the network is compiled, not mmengine's whole ``train_step`` (what the Runner's
    ``compile`` key does): the optimizer step, the logging and the data preprocessor stay eager,
    so a learning rate that changes every iteration causes no recompilation. In-place
    compilation keeps the state-dict keys, so checkpoints, resume and export are unchanged; the
    frozen meta modules of a hybrid are traced like any other module.
    """

    priority = 'LOWEST'

    def __init__(self, **compile_kwargs: Any) -> None:
        self.compile_kwargs = compile_kwargs
        self.compiled = False

    def before_train(self, runner) -> None:
        if not self.compiled:
            _network(runner).compile(**self.compile_kwargs)
            self.compiled = True
            runner.logger.info(f'compiled the network with torch.compile({self.compile_kwargs or ""}); '
                               'the first iterations (and the first evaluation) include compilation')


def apply_fast_paths(cfg, compile: bool = False, amp: Optional[str] = None) -> None:
    """What ``--compile`` and ``--amp {bf16,fp16}`` change in an mmengine config, in place.

    ``compile`` adds :class:`CompileNetworkHook`; ``amp='bf16'`` switches a plain
    ``OptimWrapper`` to :class:`AutocastOptimWrapper` (bf16, no GradScaler); ``amp='fp16'`` to
    mmengine's ``AmpOptimWrapper`` with dynamic loss scaling (CUDA only). A config can also ask
    for them itself: ``compile_network = True`` or ``compile_network = dict(mode=...)``.
    """
    compile_cfg = cfg.get('compile_network', None)
    if compile and not compile_cfg:
        compile_cfg = True
    if compile_cfg:
        hooks = list(cfg.get('custom_hooks', None) or [])
        if not any(h.get('type') == 'CompileNetworkHook' for h in hooks):
            hooks.append(dict(type='CompileNetworkHook', **(compile_cfg if isinstance(compile_cfg, dict) else {})))
        cfg.custom_hooks = hooks
    if amp is None:
        return
    if amp not in AMP_DTYPES:
        raise ValueError(f'--amp must be one of {AMP_DTYPES}, got {amp!r}')
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper not in ('OptimWrapper', 'AutocastOptimWrapper', 'AmpOptimWrapper'):
        raise ValueError(f'--amp {amp}: the config\'s optim_wrapper is {wrapper!r}; set its dtype in the config')
    if amp == 'bf16':
        cfg.optim_wrapper.type = 'AutocastOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
        cfg.optim_wrapper.pop('loss_scale', None)
    else:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        cfg.optim_wrapper.dtype = 'float16'
