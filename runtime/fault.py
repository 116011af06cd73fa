"""Fault injection for the kill tests: SIGKILL the whole process group at a named point.

Inert unless ``FAULT_INJECT`` or ``FAULT_INJECT_COUNTS`` is set (only the tests set them).
The runtime calls :func:`point` at the moments a kill is most harmful: inside
:func:`runtime.fileio.atomic_write` (``write_begin:NAME`` before the content is written,
``write_end:NAME`` after it is flushed and before the rename; ``NAME`` is the file's name with
digits replaced by ``N``, e.g. ``epoch_N.pth``, ``manifest.json``), after a training checkpoint
is saved (``after_save``), at every training iteration (``train_iter``), around the pipeline's
evaluation of the assembled network (``assemble_before``, ``assemble_after``) and in
``tools/test.py`` before it evaluates (``test_start``).

* ``FAULT_INJECT_COUNTS=FILE``: every occurrence of every event is counted in ``FILE`` (a JSON
  object), across all processes that share it, so that "the 7th checkpoint write of the
  pipeline" names one moment of a run whatever process it falls in.
* ``FAULT_INJECT=EVENT:N``: at the N-th occurrence of ``EVENT`` (counted in ``FILE`` if set,
  else in this process), ``os.killpg(os.getpgid(0), SIGKILL)``: this process and every other
  in its group die at once, as on a power cut. Start the command in its own process group
  (``start_new_session=True``).
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import signal
from collections import Counter
from typing import Optional

SPEC_ENV = 'FAULT_INJECT'
COUNTS_ENV = 'FAULT_INJECT_COUNTS'
_local: Counter = Counter()


def file_event(stage: str, path: str) -> str:
    """The event name of a file write stage: ``write_begin:epoch_N.pth``."""
    return f'{stage}:{re.sub(r"[0-9]+", "N", os.path.basename(path))}'


def _count(event: str, counts_file: Optional[str]) -> int:
    if not counts_file:
        _local[event] += 1
        return _local[event]
    with open(counts_file, 'a+') as f:  # shared by processes one after another or at once: lock it
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        counts = json.loads(text) if text.strip() else {}
        counts[event] = counts.get(event, 0) + 1
        f.seek(0)
        f.truncate()
        f.write(json.dumps(counts))
        f.flush()
        return counts[event]


def point(event: str) -> None:
    """Count ``event`` and kill the process group if ``FAULT_INJECT`` names this occurrence."""
    spec = os.environ.get(SPEC_ENV)
    counts_file = os.environ.get(COUNTS_ENV)
    if not spec and not counts_file:
        return
    n = _count(event, counts_file)
    target, _, nth = (spec or '').rpartition(':')
    if target == event and nth.isdigit() and n == int(nth):
        os.killpg(os.getpgid(0), signal.SIGKILL)
