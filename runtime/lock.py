"""One command per work dir: an advisory lock file that a second command finds taken.

Every executor of the project holds the lock of the folder it writes for as long as it runs
(``tools/incubate.py`` on ``WORK/.lock``, ``benchmarks suite`` and ``benchmarks reproduce`` on
theirs), so two commands never train the same runs into the same folders at once. The lock is
``fcntl.flock`` on an open file: the kernel releases it when the process ends, crashed or not,
so there is no stale lock to clean up. Torch-free.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import os.path as osp
from typing import Iterator, Optional, Type

from .errors import UserError

LOCK_FILE = '.lock'


class WorkDirBusy(UserError):
    """Another command holds the work dir's lock."""


def is_locked(path: str) -> bool:
    """Whether another process holds the lock file ``path`` now (False when there is none)."""
    if not osp.isfile(path):
        return False
    with open(path, 'a') as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def exclusive(path: str, busy: str, error: Optional[Type[UserError]] = None) -> Iterator[None]:
    """Hold the lock file ``path`` (its folder is made if needed) for the ``with`` block; if
    another process holds it, raise ``error`` (default :class:`WorkDirBusy`) with the message
    ``'<folder> <busy>'`` at once, without waiting."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'a') as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise (error or WorkDirBusy)(f'{osp.dirname(osp.abspath(path))} {busy}') from None
        yield
