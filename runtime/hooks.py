"""Training-cost accounting shared by every task."""
from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional

import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .fileio import atomic_write_json
from .record import COST_FILE, HOURS_KEY, IMAGES_KEY


def device_type() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    threads = torch.get_num_threads()
    return f'cpu core-hours ({threads} thread{"s" if threads > 1 else ""}, {os.cpu_count()}-core machine)'


@HOOKS.register_module()
class DeviceHoursHook(Hook):
    """Counts cumulative training cost: device-hours and images seen.

    On GPUs a device-hour is wall clock x number of GPUs. On the CPU a device is one core and
    its time is the training process's CPU time (``time.process_time``: core-hours): several
    runs sharing the cores of one machine (``make demo`` runs E2E beside the pipeline) are then
    not charged for each other's time slices, as wall clock would. The counters survive a
    resume (they travel in the checkpoint's ``meta``), are logged with every evaluation as
    ``cost/device_hours`` and ``cost/images`` (so each metric point in ``scalars.json``
    carries the cost at which it was reached), and are written to
    ``WORK_DIR/cost.json`` together with the device type. Only training time is counted;
    evaluation is excluded so that runs with different evaluation intervals compare fairly.
    """

    priority = 'NORMAL'  # before LoggerHook, so the cost is in the same log line as the metrics

    def __init__(self) -> None:
        self.device_hours = 0.0
        self.images = 0
        self._tick: Optional[float] = None
        self._clock = time.perf_counter if torch.cuda.is_available() else time.process_time

    def _elapsed(self) -> None:
        if self._tick is not None:
            now = self._clock()
            self.device_hours += (now - self._tick) * get_world_size() / 3600.0
            self._tick = now

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        self._tick = self._clock()

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None, outputs=None) -> None:
        self._elapsed()
        self._tick = None
        if isinstance(data_batch, dict):
            batch = data_batch.get('inputs', data_batch.get('data_samples', ()))
            self.images += len(batch) * get_world_size()

    def _publish(self, runner) -> None:
        hub = runner.message_hub
        hub.update_scalar(f'val/{HOURS_KEY}', self.device_hours)
        hub.update_scalar(f'val/{IMAGES_KEY}', self.images)
        self._write(runner)

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._publish(runner)

    def after_train(self, runner) -> None:
        self._write(runner)

    def _write(self, runner) -> None:
        if not is_main_process():
            return
        record = dict(device_hours=self.device_hours, images=self.images, devices=get_world_size(),
                      device_type=device_type(), epoch=runner.epoch, iter=runner.iter)
        atomic_write_json(os.path.join(runner.work_dir, COST_FILE), record)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['cost'] = dict(device_hours=self.device_hours, images=self.images)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        cost = checkpoint.get('meta', {}).get('cost', {})
        self.device_hours = float(cost.get('device_hours', 0.0))
        self.images = int(cost.get('images', 0))
