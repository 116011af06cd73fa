"""Overall progress of a long command: which run or phase (i of N), elapsed time, an ETA.

A command that runs several trainings one after another or side by side (``tools/incubate.py``,
``benchmarks reproduce``, a study, the downstream suite) makes one :class:`Progress` over its
items and tells it when each starts (with the file that shows the item's own progress) and ends.
The ETA comes from the runs' own logs: each mmengine log line carries the run's remaining time
(``eta: 0:01:23``), which gives a running item's remaining time and the share of it done; a
pending item is estimated from the rate at which this session's work went so far, in the units
of the items' ``weights`` (e.g. epochs x blocks; 1 each by default): see :meth:`Progress.estimate`.

An item's progress source is either an mmengine log (``WORK/train.out``) or the status file
another :class:`Progress` writes (``status_path``): so a pipeline run inside a study reports
its own ETA up to the study's line.

Output: one line every ``interval`` seconds (from :meth:`Progress.poll`), and a summary at the end
(:meth:`Progress.close`); where stdout is a terminal, a ``tqdm`` bar instead of the lines.
Torch-free (``tqdm`` is imported only for a terminal).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, List, Mapping, Optional, Sequence

# mmengine's LoggerHook: "Epoch(train)  [3][ 10/23]  ...  eta: 0:01:23  time: ..." (by epoch) or
# "Iter(train) [  10/80000]  ...  eta: 1 day, 2:03:04" (by iteration); eta is str(timedelta).
_TRAIN_LINE = re.compile(r'(Epoch|Iter)\(train\)\s*((?:\[\s*\d+\s*\]\s*)?\[\s*\d+\s*/\s*\d+\s*\])')
_ETA = re.compile(r'eta:\s*(?:(\d+)\s+days?,\s*)?(\d+):(\d{2}):(\d{2})')
_NUMBERS = re.compile(r'\d+')
PROGRESS_FILE = 'progress.json'  # a pipeline's status file in its work dir (WORK/progress.json)


@dataclass
class ItemProgress:
    """How far one item is, from its own records: ``eta_seconds`` left (None: not known yet),
    ``fraction`` done (None: not known), ``detail`` (e.g. ``epoch 3 [10/23]``)."""

    eta_seconds: Optional[float] = None
    fraction: Optional[float] = None
    detail: str = ''


def parse_eta(text: str) -> Optional[float]:
    """Seconds in mmengine's ``eta: [N day(s), ]H:MM:SS``, or None."""
    found = _ETA.search(text)
    if not found:
        return None
    days, h, m, s = (int(x) if x else 0 for x in found.groups())
    return float(((days * 24 + h) * 60 + m) * 60 + s)


def log_progress(path: str, tail_bytes: int = 1 << 16) -> ItemProgress:
    """The newest training line of an mmengine log: its ``eta`` and where it is (epoch, iteration)."""
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, osp.getsize(path) - tail_bytes))
            lines = f.read().decode(errors='replace').splitlines()
    except OSError:
        return ItemProgress()
    for line in reversed(lines):
        found = _TRAIN_LINE.search(line)
        if not found:
            continue
        numbers = _NUMBERS.findall(found.group(2))
        if found.group(1) == 'Epoch' and len(numbers) == 3:
            detail = f'epoch {numbers[0]} [{numbers[1]}/{numbers[2]}]'
        else:
            detail = f'iter {numbers[-2]}/{numbers[-1]}'
        return ItemProgress(eta_seconds=parse_eta(line), detail=detail)
    return ItemProgress()


def read_status(path: str) -> ItemProgress:
    """The status file another :class:`Progress` writes (its own ETA and share done)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return ItemProgress()
    if not isinstance(data, dict):
        return ItemProgress()
    return ItemProgress(eta_seconds=data.get('eta_seconds'), fraction=data.get('fraction'),
                        detail=str(data.get('position') or ''))


def item_progress(source: Optional[str]) -> ItemProgress:
    """From an mmengine log, or from a ``.json`` status file written by :class:`Progress`."""
    if not source:
        return ItemProgress()
    return read_status(source) if source.endswith('.json') else log_progress(source)


def format_duration(seconds: Optional[float]) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``; ``?`` for None."""
    if seconds is None:
        return '?'
    if seconds < 90:
        return f'{seconds:.0f} s'
    if seconds < 5400:
        return f'{seconds / 60:.1f} min'
    return f'{seconds / 3600:.1f} h'


@dataclass
class _Item:
    name: str
    weight: float = 1.0
    state: str = 'pending'  # pending | running | done | failed | skipped
    source: Optional[str] = None
    started: Optional[float] = None
    ended: Optional[float] = None


@dataclass
class Progress:
    """Overall progress over named items (runs, phases), printed as one line at an interval.

    Args:
        items: the item names, in the order they run.
        prefix: the line's prefix, e.g. ``'[incubate]'``.
        what: what an item is called in the line (``'phase'``, ``'run'``).
        weights: an item's share of the work relative to the others (default 1 each).
        interval: seconds between two lines printed by :meth:`poll`.
        status_path: also keep the state in this JSON file (what :func:`read_status` reads).
        stream: where lines go (stdout); a ``tqdm`` bar when it is a terminal, unless ``bar=False``.
        clock: seconds, monotonic (for tests).

    Use::

        progress = Progress(['meta', 'incubate_0', ...], prefix='[incubate]', what='phase')
        progress.start('meta', log='WORK/meta/train.out'); progress.poll(); ...
        progress.finish('meta'); ...; print(progress.close())
    """

    items: Sequence[str]
    prefix: str = ''
    what: str = 'run'
    weights: Optional[Mapping[str, float]] = None
    interval: float = 60.0
    status_path: Optional[str] = None
    stream: Optional[IO[str]] = None
    bar: Optional[bool] = None
    clock: Callable[[], float] = time.monotonic
    _items: Dict[str, _Item] = field(default_factory=dict, init=False)
    _start: float = field(default=0.0, init=False)
    _last_line: Optional[float] = field(default=None, init=False)
    _tqdm: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        weights = dict(self.weights or {})
        self._items = {name: _Item(name, float(weights.get(name, 1.0))) for name in self.items}
        self._start = self.clock()
        stream = self.stream or sys.stdout
        if self.bar is None:
            self.bar = bool(getattr(stream, 'isatty', lambda: False)())
        if self.bar:
            try:
                from tqdm import tqdm
            except ImportError:
                self.bar = False
            else:
                self._tqdm = tqdm(total=len(self._items), desc=self.prefix.strip('[] ') or 'progress',
                                  unit=self.what, file=stream, dynamic_ncols=True)

    # --- what the command tells it ---------------------------------------------------------------

    def _item(self, name: str) -> _Item:
        if name not in self._items:  # an item not planned up front (e.g. a resumed extra phase)
            self._items[name] = _Item(name)
        return self._items[name]

    def start(self, name: str, log: Optional[str] = None) -> None:
        """``name`` begins; ``log``: its mmengine log or :class:`Progress` status file."""
        item = self._item(name)
        item.state, item.source, item.started = 'running', log, self.clock()
        self._write_status()

    def finish(self, name: str, ok: bool = True) -> None:
        item = self._item(name)
        item.state, item.ended = ('done' if ok else 'failed'), self.clock()
        if item.started is None:
            item.started = item.ended
        if self._tqdm is not None:
            self._tqdm.update(1)
        self._write_status()

    def skip(self, name: str) -> None:
        """``name`` was finished before this session (it counts as done, but not in the rate)."""
        self._item(name).state = 'skipped'
        if self._tqdm is not None:
            self._tqdm.update(1)
        self._write_status()

    # --- what it reports ---------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self.clock() - self._start

    def _running(self) -> List[tuple]:
        now = self.clock()
        out = []
        for item in self._items.values():
            if item.state != 'running':
                continue
            info = item_progress(item.source)
            fraction = info.fraction
            if fraction is None and info.eta_seconds is not None:
                spent = now - (now if item.started is None else item.started)
                fraction = spent / (spent + info.eta_seconds) if spent + info.eta_seconds > 0 else 0.0
            out.append((item, info, min(max(fraction or 0.0, 0.0), 1.0)))
        return out

    def estimate(self) -> Dict[str, Any]:
        """``done`` / ``total`` items, ``position`` (e.g. ``phase 3 of 7``), ``fraction`` of the
        work done, ``elapsed`` and ``eta_seconds`` (None: not known yet), and the running items.

        The ETA: a running item's own (its log's ``eta``), else its share left at the speed of
        this session's items (weight per second, from the finished ones and the running ones
        whose share done is known); the pending items' weight at that speed, spread over as
        many slots as items are running; at least the longest running item's remainder.
        """
        now = self.clock()
        items = list(self._items.values())
        running = self._running()
        total_work = sum(i.weight for i in items) or 1.0
        finished = [i for i in items if i.state in ('done', 'failed', 'skipped')]
        done_work = sum(i.weight for i in finished) + sum(item.weight * fraction for item, _, fraction in running)
        pending_work = sum(i.weight for i in items if i.state == 'pending')
        speeds = [i.weight / (i.ended - i.started) for i in items if i.state in ('done', 'failed')
                  and i.started is not None and i.ended is not None and i.ended > i.started]
        for item, _, fraction in running:
            spent = now - item.started if item.started is not None else 0.0
            if fraction > 0 and spent > 0:
                speeds.append(item.weight * fraction / spent)
        speed = sum(speeds) / len(speeds) if speeds else None
        left: List[Optional[float]] = []
        for item, info, fraction in running:
            spent = now - item.started if item.started is not None else 0.0
            if info.eta_seconds is not None:
                left.append(float(info.eta_seconds))
            elif speed:
                left.append(item.weight * (1 - fraction) / speed if fraction > 0 else max(0.0, item.weight / speed - spent))
            else:
                left.append(None)
        eta: Optional[float] = None
        if not running and pending_work == 0:
            eta = 0.0
        elif speed and all(x is not None for x in left):
            work_left = sum(x * speed for x in left if x is not None) + pending_work
            eta = max(max(left, default=0.0), work_left / (speed * max(1, len(running))))
        elif pending_work == 0 and left and all(x is not None for x in left):
            eta = max(left)
        started = len(finished) + len(running)
        position = f'{self.what} {max(started, 1)} of {len(items)}'
        return dict(done=len(finished), total=len(items), position=position, fraction=done_work / total_work,
                    elapsed=self.elapsed, eta_seconds=eta,
                    running=[dict(name=item.name, detail=info.detail) for item, info, _ in running])

    def line(self) -> str:
        """``[incubate] phase 3 of 7 (incubate_1: epoch 4 [3/23]); 2.1 of ~5.3 min, about 3.2 min to go``."""
        est = self.estimate()
        running = ', '.join(f'{r["name"]}: {r["detail"]}' if r['detail'] else r['name'] for r in est['running'])
        where = f'{est["position"]}' + (f' ({running})' if running else '') + f', {est["done"]} done'
        eta = est['eta_seconds']
        if eta is None:
            timing = f'{format_duration(est["elapsed"])} so far, ETA not known yet'
        else:
            timing = (f'{format_duration(est["elapsed"])} of ~{format_duration(est["elapsed"] + eta)}, '
                      f'about {format_duration(eta)} to go')
        return f'{self.prefix} {where}; {timing}'.strip()

    def poll(self, force: bool = False) -> Optional[str]:
        """Print (and return) the progress line if ``interval`` seconds have passed since the last."""
        now = self.clock()
        if not force and self._last_line is not None and now - self._last_line < self.interval:
            return None
        self._last_line = now
        text = self.line()
        self._write_status()
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(text[len(self.prefix):].strip(), refresh=True)
        else:
            print(text, file=self.stream or sys.stdout, flush=True)
        return text

    def summary(self) -> str:
        """What ran, how long each took, what was finished before, what failed."""
        parts = []
        for item in self._items.values():
            if item.state in ('done', 'failed') and item.started is not None and item.ended is not None:
                parts.append(f'{item.name} {format_duration(item.ended - item.started)}'
                             + (' FAILED' if item.state == 'failed' else ''))
        skipped = [i.name for i in self._items.values() if i.state == 'skipped']
        left = [i.name for i in self._items.values() if i.state in ('pending', 'running')]
        text = f'{self.prefix} {len(parts)} {self.what}(s) in {format_duration(self.elapsed)}'
        text += f': {", ".join(parts)}' if parts else ''
        text += f'; finished before: {", ".join(skipped)}' if skipped else ''
        text += f'; not finished: {", ".join(left)}' if left else ''
        return text.strip()

    def close(self) -> str:
        """End the bar (if any) and return the :meth:`summary`."""
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        self._write_status()
        return self.summary()

    def _write_status(self) -> None:
        if not self.status_path:
            return
        # A plain rename, not runtime.fileio's fsync'd writer: the file is a hint, rewritten every
        # poll, and must not add write events to the fault-injection schedule.
        data = dict(self.estimate(), items={i.name: i.state for i in self._items.values()})
        os.makedirs(osp.dirname(osp.abspath(self.status_path)), exist_ok=True)
        tmp = f'{self.status_path}.{os.getpid()}.tmp'
        with open(tmp, 'w') as f:
            json.dump(data, f)
        os.replace(tmp, self.status_path)
