"""Training-cost accounting shared by every task."""
from __future__ import annotations

import functools
import os
import time
from typing import Any, Dict, Optional, Tuple

import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from .fileio import atomic_write_json
from .record import COST_FILE, HOURS_KEY, IMAGES_KEY, read_cost

_IMPORTED_AT = time.time()  # the fallback for the process start where /proc is not there


def device_type() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    threads = torch.get_num_threads()
    return f'cpu core-hours ({threads} thread{"s" if threads > 1 else ""}, {os.cpu_count()}-core machine)'


def process_start_time() -> float:
    """When this process started (``time.time()`` scale): from ``/proc/self/stat`` (the start in
    clock ticks after boot) and ``/proc/uptime``; where they are missing, when this module was
    imported (``tools/train.py`` imports it at start-up)."""
    try:
        with open('/proc/self/stat') as f:
            # the command name (field 2) may hold spaces: count fields after its closing ')'
            fields = f.read().rsplit(')', 1)[1].split()
        with open('/proc/uptime') as f:
            uptime = float(f.read().split()[0])
        started_after_boot = int(fields[19]) / os.sysconf('SC_CLK_TCK')
        return time.time() - (uptime - started_after_boot)
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT


def _network(runner) -> torch.nn.Module:
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    return getattr(model, 'network', model)


def train_step_flops(network: torch.nn.Module, input_shape: Tuple[int, ...]) -> int:
    """Forward + backward FLOPs of one training step of ``network`` on a batch of ``input_shape``.

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode` on the meta device (shapes
    only: no memory, no random numbers drawn, nothing of the real model touched): the network
    runs with meta copies of its parameters, which keep their ``requires_grad``, and a
    cross-entropy loss is back-propagated. What autograd does is what is counted: frozen
    modules of a hybrid cost their forward, plus the input gradients where a trainable module
    comes before them, and no weight gradients. Deterministic: the same network and shape
    always give the same count, whatever the machine and kernel: attention is counted as its
    math (the backward twice the forward), not with the score recomputation of a flash kernel's
    backward. The optimizer step is not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    state = {name: torch.empty_like(p, device='meta').requires_grad_(p.requires_grad)
             for name, p in network.named_parameters()}
    state.update({name: torch.empty_like(b, device='meta') for name, b in network.named_buffers()})
    x = torch.empty(input_shape, device='meta')
    counter = FlopCounterMode(display=False)
    with torch.compiler.set_stance('force_eager'), counter:  # an in-place compiled network runs eagerly
        logits = torch.func.functional_call(network, state, (x,))
        target = torch.zeros(logits.shape[0], dtype=torch.long, device='meta')
        loss = torch.nn.functional.cross_entropy(logits.float(), target)
        if loss.requires_grad:
            loss.backward()
    return int(counter.get_total_flops())


def _batch_key(data_batch: Any) -> Optional[Tuple[int, ...]]:
    """(images, largest height, largest width) of a batch of image tensors before padding: what a
    padded detector or segmentor batch costs depends on little else."""
    inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
    if isinstance(inputs, torch.Tensor):
        return tuple(inputs.shape)
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(t, torch.Tensor) for t in inputs):
        return (len(inputs), max(int(t.shape[-2]) for t in inputs), max(int(t.shape[-1]) for t in inputs))
    return None


def _input_shape(data_batch: Any) -> Optional[Tuple[int, ...]]:
    inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
    if isinstance(inputs, torch.Tensor):
        return tuple(inputs.shape)
    if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], torch.Tensor):
        if all(t.shape == inputs[0].shape for t in inputs):
            return (len(inputs), *inputs[0].shape)
    return None


@HOOKS.register_module()
class DeviceHoursHook(Hook):
    """Counts what a run costs, three ways, and where its time goes.

    * ``device_hours``: training only. On GPUs a device-hour is wall clock x number of GPUs; on
      the CPU a device is one core and its time is the training process's CPU time
      (``time.process_time``: core-hours), so several runs sharing the cores of one machine
      (``make demo`` runs E2E beside the pipeline) are not charged for each other's time
      slices. Counted from before to after each training iteration: data loading between
      iterations, evaluation and checkpointing are out, so runs with different evaluation
      intervals compare fairly.
    * ``e2e_device_hours``: the whole process, from its start to the end of training: start-up,
      data set scan, evaluation and checkpointing included (on the CPU the process's CPU time
      since it started, on GPUs the wall clock since it started x devices).
    * ``flops``: training FLOPs (forward + backward; :func:`train_step_flops`), counted once per
      distinct batch shape and added for every iteration: deterministic, free of machine noise.
      A model without a classification ``network`` taking one tensor (a detector, a segmentor) has
      the first real training step of each batch shape counted as it runs (``FlopCounterMode``
      around it: the losses and backward of that step, with whatever RoIs it sampled); data-
      dependent parts (the number of positive RoIs) make that count an estimate for the others.

    ``overhead`` splits the wall clock (seconds, every session summed): ``startup`` (process start
    to the first training iteration), ``train`` (the counted iterations), ``eval``
    (validation) and ``checkpoint`` (saving checkpoints), plus ``wall`` (process start to the
    last write). The counters survive a resume (they travel in the checkpoint's ``meta``; the
    end-to-end hours and the overheads of a session killed after its last checkpoint are kept
    from ``cost.json``), are logged with every evaluation as ``cost/device_hours`` and
    ``cost/images``, and are written to ``WORK_DIR/cost.json`` with the device type.
    """

    priority = 'NORMAL'  # before LoggerHook, so the cost is in the same log line as the metrics

    OVERHEADS = ('startup', 'train', 'eval', 'checkpoint')

    def __init__(self, count_flops: bool = True) -> None:
        self.device_hours = 0.0
        self.images = 0
        self.count_flops = count_flops
        self.flops: Optional[int] = 0 if count_flops else None
        self._flops_by_shape: Dict[Tuple[int, ...], Optional[int]] = {}
        self._live: Optional[Tuple[Tuple[int, ...], Any]] = None  # a step being counted as it runs
        self._tick: Optional[float] = None
        self._wall_tick: Optional[float] = None
        self._eval_tick: Optional[float] = None
        self._cuda = torch.cuda.is_available()
        self._clock = time.perf_counter if self._cuda else time.process_time
        self._process_start = process_start_time()
        self._started_training = False
        # earlier sessions' totals (a resume); this session's are added when written
        self._before_e2e = 0.0
        self._before_overhead = dict.fromkeys(self.OVERHEADS + ('wall',), 0.0)
        self.overhead = dict.fromkeys(self.OVERHEADS, 0.0)

    # --- this session's clocks ------------------------------------------------------------------

    def _session_e2e_hours(self) -> float:
        if self._cuda:
            return (time.time() - self._process_start) * get_world_size() / 3600.0
        return time.process_time() / 3600.0  # this process's CPU time since it started

    @property
    def e2e_device_hours(self) -> float:
        return self._before_e2e + self._session_e2e_hours()

    def overhead_seconds(self) -> Dict[str, float]:
        out = {k: self._before_overhead.get(k, 0.0) + self.overhead.get(k, 0.0) for k in self.OVERHEADS}
        out['wall'] = self._before_overhead.get('wall', 0.0) + (time.time() - self._process_start)
        return out

    # --- hooks ----------------------------------------------------------------------------------

    def before_run(self, runner) -> None:
        previous = read_cost(runner.work_dir) if runner.cfg.get('resume', False) else None
        if previous:
            self._keep_previous(previous)
        self._time_checkpoints(runner)

    def _keep_previous(self, previous: Dict[str, Any]) -> None:
        self._before_e2e = float(previous.get('e2e_device_hours') or 0.0)
        for key, value in (previous.get('overhead') or {}).items():
            if key in self._before_overhead and isinstance(value, (int, float)):
                self._before_overhead[key] = float(value)

    def _time_checkpoints(self, runner) -> None:
        """Time every ``runner.save_checkpoint`` (the checkpoint hook's and any other caller's)."""
        save = runner.save_checkpoint
        if getattr(save, '_timed_by', None) is self:
            return

        @functools.wraps(save)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return save(*args, **kwargs)
            finally:
                self.overhead['checkpoint'] += time.perf_counter() - start

        timed._timed_by = self  # type: ignore[attr-defined]
        runner.save_checkpoint = timed

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        if not self._started_training:
            self._started_training = True
            self.overhead['startup'] = time.time() - self._process_start
        self._start_live_count(runner, data_batch)
        self._tick = self._clock()
        self._wall_tick = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None, outputs=None) -> None:
        self._end_live_count()
        if self._tick is not None:
            self.device_hours += (self._clock() - self._tick) * get_world_size() / 3600.0
            self.overhead['train'] += time.perf_counter() - self._wall_tick
        self._tick = None
        if isinstance(data_batch, dict):
            batch = data_batch.get('inputs', data_batch.get('data_samples', ()))
            self.images += len(batch) * get_world_size()
            self._add_flops(runner, data_batch)

    def _start_live_count(self, runner, data_batch: Any) -> None:
        """For a detector or segmentor: count this step as it runs when its batch shape is new."""
        self._live = None
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if self.flops is None or hasattr(model, 'network') or not isinstance(data_batch, dict):
            return
        shape = _batch_key(data_batch)
        if shape is None or shape in self._flops_by_shape:
            return
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        counter.__enter__()
        self._live = (shape, counter)

    def _end_live_count(self) -> None:
        if self._live is not None:
            shape, counter = self._live
            counter.__exit__(None, None, None)
            self._flops_by_shape[shape] = int(counter.get_total_flops())
            self._live = None

    def _add_flops(self, runner, data_batch: dict) -> None:
        if self.flops is None:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'network'):
            self._end_live_count()
            count = self._flops_by_shape.get(_batch_key(data_batch))
            if count is None:
                self.flops = None
                runner.logger.warning('DeviceHoursHook: training FLOPs are not counted for this model')
            else:
                self.flops += count * get_world_size()
            return
        shape = _input_shape(data_batch)
        if shape not in self._flops_by_shape:
            self._flops_by_shape[shape] = self._count(runner, shape)
        count = self._flops_by_shape[shape]
        if count is None:
            self.flops = None
            runner.logger.warning('DeviceHoursHook: training FLOPs are not counted for this model '
                                  '(it needs a `network` taking one image tensor)')
        else:
            self.flops += count * get_world_size()

    @staticmethod
    def _count(runner, shape: Optional[Tuple[int, ...]]) -> Optional[int]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if shape is None or not hasattr(model, 'network'):
            return None
        return train_step_flops(model.network, shape)

    def before_val(self, runner) -> None:
        self._eval_tick = time.perf_counter()

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._end_eval()
        hub = runner.message_hub
        hub.update_scalar(f'val/{HOURS_KEY}', self.device_hours)
        hub.update_scalar(f'val/{IMAGES_KEY}', self.images)
        self._write(runner)

    def after_val(self, runner) -> None:
        self._end_eval()

    def _end_eval(self) -> None:
        if self._eval_tick is not None:
            self.overhead['eval'] += time.perf_counter() - self._eval_tick
            self._eval_tick = None

    def after_train(self, runner) -> None:
        self._write(runner)

    def after_run(self, runner) -> None:
        if runner.train_loop is not None and self._started_training:
            self._write(runner)  # the latest point of the process a hook sees

    def cost_record(self, runner) -> Dict[str, Any]:
        """What ``cost.json`` holds (see :class:`runtime.record.CostRecord`)."""
        return dict(device_hours=self.device_hours, images=self.images, devices=get_world_size(),
                    device_type=device_type(), epoch=runner.epoch, iter=runner.iter,
                    e2e_device_hours=self.e2e_device_hours, flops=self.flops,
                    overhead=self.overhead_seconds())

    def _write(self, runner) -> None:
        if not is_main_process():
            return
        atomic_write_json(os.path.join(runner.work_dir, COST_FILE), self.cost_record(runner))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['cost'] = dict(
            device_hours=self.device_hours, images=self.images, flops=self.flops,
            e2e_device_hours=self.e2e_device_hours, overhead=self.overhead_seconds())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        cost = checkpoint.get('meta', {}).get('cost', {})
        self.device_hours = float(cost.get('device_hours', 0.0))
        self.images = int(cost.get('images', 0))
        if self.count_flops:  # a checkpoint written before FLOPs were counted: unknown
            self.flops = int(cost['flops']) if cost.get('flops') is not None else None
        # cost.json (written later than the checkpoint, when the last session was killed after
        # it) already holds the earlier sessions' end-to-end hours; take the larger
        if float(cost.get('e2e_device_hours') or 0.0) > self._before_e2e:
            self._keep_previous(cost)


@HOOKS.register_module()
class BackboneProvenanceHook(Hook):
    """Records where a downstream run's backbone came from: ``WORK/backbone.json`` and the log.

    Reads what the backbone kept when it was initialised (``load_report``: the checkpoint, what was
    loaded, resampled and dropped; see :mod:`runtime.provenance`) once the runner has initialised
    the weights (``before_train``: mmengine initialises them after ``before_run``). A backbone
    without pretrained weights is recorded as ``init: random``. Written every session, so a
    resumed run records the file it was resumed with too.
    """

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        from runtime.fileio import atomic_write_json
        from runtime.provenance import BACKBONE_RECORD, backbone_record

        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        backbone = getattr(model, 'backbone', None)
        if backbone is None or not is_main_process():
            return
        report = getattr(backbone, 'load_report', None)
        entry = backbone_record(report.get('checkpoint') if report else None, report)
        atomic_write_json(os.path.join(runner.work_dir, BACKBONE_RECORD), entry)
        if entry['init'] == 'random':
            runner.logger.info('backbone: random initialisation (no pretrained checkpoint)')
            return
        up = entry['upstream'] or {}
        load = entry['load']
        runner.logger.info(
            f'backbone: {entry["checkpoint"]} (sha256 {entry["file"]["sha256"][:12]}, {entry["file"]["size"]} bytes); '
            f'upstream {up.get("work_dir", "unknown")} (method {up.get("method")}, seed {up.get("seed")}, '
            f'phase {up.get("phase")}); loaded {load.get("loaded")} tensors, resampled {load.get("resampled") or "none"}, '
            f'dropped {load.get("dropped") or "none"}')
