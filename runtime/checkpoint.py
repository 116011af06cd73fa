"""Training checkpoints that a kill at any instruction cannot break, and a resume that finds them.

mmengine's ``CheckpointHook`` deletes the oldest kept checkpoint *before* it writes the new
one and points ``last_checkpoint`` (an absolute path, written in place) at it; a kill in
between leaves a pointer to a deleted file, and ``--resume`` then fails on every re-run.
Here:

* :class:`ResumableCheckpointHook` writes the new checkpoint (atomically, through
  :func:`runtime.compat.apply`'s file backend), then ``last_checkpoint`` (atomically, relative
  to the work dir), and only then deletes what it no longer keeps. It also stores every
  random-number state (python, numpy, torch, CUDA) in the checkpoint and restores it when
  the next epoch (or iteration) starts, in the resumed run and in the uninterrupted one
  alike, so that a run resumed at a checkpoint repeats the uninterrupted run bit for bit
  (evaluation in between consumes random numbers that training then does not see).
* :func:`find_resume_checkpoint` is what ``resume=True`` without a path resumes from: the
  newest checkpoint in the work dir that loads, whatever ``last_checkpoint`` says. A
  copied or moved work dir therefore resumes from its own files.
* Temporary files a kill left behind (``.NAME.*.tmp``) are removed on the next start.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import random
import re
import shutil
import warnings
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from . import fault
from .errors import UserError
from .fileio import TMP_SUFFIX, atomic_write_bytes

LAST_CHECKPOINT = 'last_checkpoint'
# what CheckpointHook's default ``filename_tmpl`` names: epoch_N.pth (by epoch) or iter_N.pth
RESUMABLE = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


class CheckpointReadError(UserError):
    """A checkpoint file that does not load with ``weights_only=True``; the message names it."""


# --- reading ------------------------------------------------------------------------------------


# How a file torch.save wrote starts: a zip archive (torch >= 1.6) or a pickle (protocol 2 or later).
TORCH_FILE_STARTS = (b'PK\x03\x04', b'\x80')


def not_a_checkpoint(path: str) -> Optional[str]:
    """Why ``path`` is no file ``torch.save`` wrote (a JSON or text file, say), or None if it may be one."""
    with open(path, 'rb') as f:
        head = f.read(64)
    if head.startswith(TORCH_FILE_STARTS):
        return None
    text = head.lstrip()
    kind = ('a JSON file' if text[:1] in (b'{', b'[') else 'an empty file' if not head
            else 'a text file' if all(32 <= b < 127 or b in b'\t\r\n' for b in head) else 'in another format')
    return f'{path}: not a checkpoint ({kind}, not one that torch.save wrote)'


def load_failure(path: str, exc: BaseException) -> str:
    """One line for a file ``torch.load(weights_only=True)`` refused, without torch's advice to load
    it with ``weights_only=False`` (which would run whatever code the file holds)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    # torch >= 2.6 puts the advice first and the reason in a later line
    reason = next((line for line in lines if 'WeightsUnpickler error' in line), None)
    reason = reason or next((line for line in lines if 'weights_only' not in line), '')
    reason = reason.split(' Please ')[0].rstrip('.')  # nor its advice to allowlist what the file names
    return (f'{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {reason}); '
            f'only files that load with weights_only=True are accepted')


def load_weights_only(path: str, map_location: Any = 'cpu', mmap: bool = False) -> Any:
    """``torch.load`` with ``weights_only=True``, whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
    says (torch only lets that variable override a call that did not pass the argument).

    Raises:
        FileNotFoundError: no such file.
        CheckpointReadError: anything else, with the file's name and the first line of why.
    """
    path = osp.expanduser(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: checkpoint file not found')
    problem = not_a_checkpoint(path)
    if problem is not None:
        raise CheckpointReadError(problem)
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:
        raise CheckpointReadError(load_failure(path, exc)) from exc


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or None if it loads (memory-mapped, so cheap)."""
    try:
        ckpt = load_weights_only(path, mmap=True)
    except (OSError, CheckpointReadError) as exc:
        return str(exc)
    if not isinstance(ckpt, dict) or 'state_dict' not in ckpt or 'meta' not in ckpt:
        return f'{path}: not an mmengine training checkpoint (no state_dict / meta)'
    return None


def resumable_checkpoints(folder: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` in ``folder``, newest (highest N) first."""
    if not osp.isdir(folder):
        return []
    found = [(int(m.group(2)), name) for name in os.listdir(folder) if (m := RESUMABLE.match(name))]
    return [osp.join(folder, name) for _, name in sorted(found, reverse=True)]


def read_last_checkpoint(work_dir: str, relative_only: bool = False) -> Optional[str]:
    """The path ``last_checkpoint`` names, resolved against ``work_dir`` when relative.

    ``relative_only``: ignore an absolute path (mmengine's own hook writes those; in a copied
    or moved work dir it names the original's file).
    """
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        target = f.read().strip()
    if not target or (relative_only and osp.isabs(target)):
        return None
    return target if osp.isabs(target) else osp.join(work_dir, target)


def write_last_checkpoint(work_dir: str, checkpoint: str) -> None:
    """Point ``last_checkpoint`` at ``checkpoint``, atomically, relative to ``work_dir``."""
    target = osp.relpath(osp.abspath(checkpoint), osp.abspath(work_dir))
    atomic_write_bytes(osp.join(work_dir, LAST_CHECKPOINT), target.encode())


def remove_stale_temp_files(folder: str) -> List[str]:
    """Delete the ``.NAME.*.tmp`` files (and folders) of :mod:`runtime.fileio` that a killed writer left."""
    if not osp.isdir(folder):
        return []
    removed = []
    for name in os.listdir(folder):
        path = osp.join(folder, name)
        if name.startswith('.') and name.endswith(TMP_SUFFIX):
            if osp.isfile(path):
                os.unlink(path)
            elif osp.isdir(path):  # a folder export's (runtime.fileio.atomic_write_folder)
                shutil.rmtree(path, ignore_errors=True)
            else:
                continue
            removed.append(path)
    return removed


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``resume=True`` (no path) continues from: the newest readable one.

    The work dir is scanned itself; a file that does not load is skipped with a one-line
    warning naming it. ``last_checkpoint`` is only consulted after that (checkpoints kept in a
    separate ``out_dir``), and only when it holds a relative path, as this module writes it:
    an absolute one may name another work dir's file (this one's was copied or moved).
    """
    if is_main_process():
        remove_stale_temp_files(work_dir)
    candidates = resumable_checkpoints(work_dir)
    pointed = read_last_checkpoint(work_dir, relative_only=True)
    if pointed is not None and osp.abspath(pointed) not in map(osp.abspath, candidates):
        candidates.append(pointed)
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        print_log(f'skipped for resuming: {problem}', logger='current', level=logging.WARNING)
    return None


# --- random-number state ------------------------------------------------------------------------


def rng_state() -> Dict[str, Any]:
    """Every random-number state training draws from, as types ``weights_only`` loads."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = dict(
        python=[version, list(internal), gauss],
        numpy=[kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        if len(state['cuda']) != torch.cuda.device_count():
            warnings.warn(f'checkpoint holds the CUDA random state of {len(state["cuda"])} devices, this '
                          f'machine has {torch.cuda.device_count()}; CUDA random numbers will differ', stacklevel=2)
        else:
            torch.cuda.set_rng_state_all(state['cuda'])


def _validation_due(loop: Any) -> bool:
    """Whether mmengine's train loop validates right after the step it stands at now."""
    interval, begin = getattr(loop, 'val_interval', None), getattr(loop, 'val_begin', 1)
    if not interval:
        return False
    if hasattr(loop, '_max_epochs'):
        step, last = loop._epoch, loop._max_epochs
    elif hasattr(loop, '_max_iters'):
        step, last = loop._iter, loop._max_iters
    else:
        return False
    return step > 0 and step >= begin and (step % interval == 0 or step == last)


# --- the hook -------------------------------------------------------------------------------------


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose checkpoints survive a kill at any instruction (module docstring).

    Same arguments as mmengine's hook; use it as ``default_hooks.checkpoint.type``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending_rng: Optional[Dict[str, Any]] = None
        self._resumed = False

    # kill-safe saving

    def before_run(self, runner) -> None:
        if is_main_process():
            for path in remove_stale_temp_files(runner.work_dir):
                runner.logger.info(f'removed {path}, left by an interrupted write')

    def before_train(self, runner) -> None:
        super().before_train(runner)
        # best_ckpt in the message hub is the path it had when saved; a moved work dir uses its own
        if getattr(self, 'best_ckpt_path', None):  # one key indicator
            self.best_ckpt_path = self._own(self.best_ckpt_path)
        for key, path in getattr(self, 'best_ckpt_path_dict', {}).items():  # several
            self.best_ckpt_path_dict[key] = self._own(path) if path else path
        if self._resumed and _validation_due(runner.train_loop) and runner.val_loop is not None:
            # A checkpoint is written before its epoch's validation, which a kill may have cut
            # short; the last one decides the run's reported metrics. Repeat it (the random
            # state of the next epoch is restored afterwards, so training is not changed).
            runner.logger.info('resumed: repeating the validation due at the checkpoint')
            runner.val_loop.run()
        self._resumed = False

    def _own(self, path: str) -> str:
        return self.file_backend.join_path(self.out_dir, osp.basename(path))

    def _remove(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed checkpoints are folders
            self.file_backend.rmtree(path)

    def _surplus(self) -> List[str]:
        """Checkpoints older than every kept one: the one just replaced, and any a kill orphaned."""
        if self.max_keep_ckpts <= 0 or not self.keep_ckpt_ids:
            return []
        oldest = min(self.keep_ckpt_ids)
        surplus = []
        for path in resumable_checkpoints(self.out_dir):
            name = osp.basename(path)
            step = int(RESUMABLE.match(name).group(2))
            if name == self.filename_tmpl.format(step) and step < oldest:
                surplus.append(path)
        return surplus

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            # mmengine's bookkeeping, but files go only after their successor is recorded (below)
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                               backend_args=self.backend_args, **self.args)
        fault.point('after_save')  # test-only kill point, inert by default
        if not is_main_process():
            return
        write_last_checkpoint(runner.work_dir, self.last_ckpt)
        for path in self._surplus():
            self._remove(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        # mmengine removes the previous best before writing the new one; remove it after instead
        if not self.save_best:
            return
        single = len(self.key_indicators) == 1
        old_single = self.best_ckpt_path if single else None
        old_dict = {} if single else dict(self.best_ckpt_path_dict)
        if single:
            self.best_ckpt_path = None
        else:
            self.best_ckpt_path_dict = {key: None for key in old_dict}
        super()._save_best_checkpoint(runner, metrics)
        if single and self.best_ckpt_path is None:
            self.best_ckpt_path = old_single
        for key, old in old_dict.items():
            if self.best_ckpt_path_dict.get(key) is None:
                self.best_ckpt_path_dict[key] = old
        if is_main_process():
            replaced = [old_single] if single and old_single != self.best_ckpt_path else []
            replaced += [old for key, old in old_dict.items() if old != self.best_ckpt_path_dict.get(key)]
            for path in filter(None, replaced):
                self._remove(path)
                runner.logger.info(f'The previous best checkpoint {path} is removed')

    # random-number state

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # The state when training stopped for this save. mmengine saves an epoch's checkpoint a
        # second time, after its validation, when that found a new best: that copy keeps the
        # same state, so a kill between the two saves resumes exactly like the second copy does.
        if self._pending_rng is None:
            self._pending_rng = rng_state()
        checkpoint.setdefault('meta', {})['rng'] = self._pending_rng
        # the next epoch starts from this state in this run too, as it will in a resumed one

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get('rng')
        if getattr(runner, '_resume', False):  # resume, not load_from (weights only)
            self._resumed = True
            if state is None:
                runner.logger.warning('the checkpoint holds no random-number state; the resumed run will not '
                                      'repeat the uninterrupted one exactly')
            self._pending_rng = state

    def _restore_rng(self) -> None:
        if self._pending_rng is not None:
            set_rng_state(self._pending_rng)
            self._pending_rng = None

    def before_train_epoch(self, runner) -> None:
        self._restore_rng()

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        self._restore_rng()
        fault.point('train_iter')
