"""A small table renderer: typed cells rendered alike as Markdown, CSV and LaTeX.

A :class:`Table` holds typed cells (:class:`Cell`), so every format renders the same value:
Markdown and LaTeX show a missing value as ``–`` (and a not-applicable one as an empty cell),
CSV leaves both empty and writes numbers unformatted (6 significant digits).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, List, Sequence

MISSING = '–'


@dataclass
class Cell:
    """A value and how to show it. Kinds: ``text``; ``metric`` (ours, 2 decimals); ``delta``
    (signed, 2 decimals); ``ref`` / ``refdelta`` (the paper's metric as printed there, at least
    one decimal); ``cost`` / ``costdelta`` (the paper's GPU-hours); ``hours`` / ``hoursdelta``
    (our device-hours, see :func:`format_hours`); ``flops`` (``4.24 TFLOP``); ``ratio`` (``1.23x``); ``int``;
    ``meanstd:<kind>`` (a :class:`benchmarks.analysis.MeanStd`, ``85.12 ± 0.34`` with each part
    shown as ``<kind>``; ``(n=2 of 3)`` when some runs lack the value; a single value has no ±).
    ``value=None`` is a missing value (``–``), unless ``kind='na'`` (not applicable: empty)."""

    value: Any
    kind: str = 'text'

    @property
    def missing(self) -> bool:
        return self.value is None and self.kind != 'na'

    def text(self) -> str:
        if self.kind == 'na':
            return ''
        if self.value is None:
            return MISSING
        v = self.value
        if self.kind.startswith('meanstd:'):
            return format_mean_std(v, self.kind.split(':', 1)[1])
        if self.kind == 'metric':
            return f'{v:.2f}'
        if self.kind in ('ref', 'refdelta'):
            text = f'{round(float(v), 3):{"+" if self.kind == "refdelta" else ""}g}'
            return text if '.' in text or 'e' in text else text + '.0'
        if self.kind in ('cost', 'costdelta'):
            return f'{round(float(v), 3):{"+" if self.kind == "costdelta" else ""}g}'
        if self.kind == 'delta':
            return f'{v:+.2f}'
        if self.kind == 'hours':
            return format_hours(v)
        if self.kind == 'hoursdelta':
            return ('-' if v < 0 else '+') + format_hours(abs(v))
        if self.kind == 'flops':
            return format_flops(v)
        if self.kind == 'ratio':
            return f'{v:.2f}x'
        if self.kind == 'int':
            return f'{int(v):d}'
        return str(v)

    def csv(self) -> str:
        if self.value is None:
            return ''
        if self.kind.startswith('meanstd:'):  # mean;std;n (std empty for one value)
            v = self.value
            return f'{v.mean:.6g};{"" if v.std is None else f"{v.std:.6g}"};{v.n}'
        if isinstance(self.value, float):
            return f'{self.value:.6g}'
        return str(self.value)


def format_hours(hours: float) -> str:
    """Device-hours: ``2720``, ``12.35``, ``0.500``, ``0.082``, ``0.0031``, ``0``, ``3.44e-06`` (tiny runs)."""
    hours = float(hours)
    if hours == 0:
        return '0'
    if abs(hours) >= 100:
        return f'{hours:.0f}'
    if abs(hours) >= 1:
        return f'{hours:.2f}'
    if abs(hours) >= 0.01:
        return f'{hours:.3f}'
    if abs(hours) >= 0.001:
        return f'{hours:.4f}'
    return f'{hours:.2e}'


def format_flops(flops: float) -> str:
    """``4.24 TFLOP``, ``312 GFLOP``, ``1.50 PFLOP``."""
    flops = float(flops)
    if flops == 0:
        return '0'
    for scale, unit in ((1e18, 'EFLOP'), (1e15, 'PFLOP'), (1e12, 'TFLOP'), (1e9, 'GFLOP'), (1e6, 'MFLOP')):
        if abs(flops) >= scale:
            return f'{flops / scale:.3g} {unit}'
    return f'{flops:.3g} FLOP'


def format_mean_std(value: Any, kind: str) -> str:
    """``85.12 ± 0.34`` (each part as a ``kind`` cell), ``(n=2 of 3)`` when some runs lack the value."""
    mean = Cell(value.mean, kind).text()
    spread_kind = {'delta': 'metric', 'hoursdelta': 'hours'}.get(kind, kind)  # a spread has no sign
    text = mean if value.std is None else f'{mean} ± {Cell(value.std, spread_kind).text()}'
    if value.n < value.of:
        text += f' (n={value.n} of {value.of})'
    return text


@dataclass
class Table:
    """A titled table: ``columns`` (``align`` 'l' or 'r' each) and rows of :class:`Cell`."""

    name: str
    title: str
    columns: List[str]
    rows: List[List[Cell]] = field(default_factory=list)
    align: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.align:
            self.align = ['l'] * len(self.columns)

    def add(self, cells: Sequence[Cell]) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f'{self.name}: row of {len(cells)} cells for {len(self.columns)} columns')
        self.rows.append(list(cells))

    def cell(self, row: int, column: str) -> Cell:
        return self.rows[row][self.columns.index(column)]

    def to_markdown(self, title: bool = True) -> str:
        def esc(text: str) -> str:
            return text.replace('|', '\\|')

        lines = [f'### {self.title}', ''] if title else []
        lines.append('| ' + ' | '.join(esc(c) for c in self.columns) + ' |')
        lines.append('|' + '|'.join('---:' if a == 'r' else '---' for a in self.align) + '|')
        for row in self.rows:
            lines.append('| ' + ' | '.join(esc(c.text()) for c in row) + ' |')
        if self.notes:
            lines.append('')
            lines.extend(f'- {note}' for note in self.notes)
        return '\n'.join(lines) + '\n'

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator='\n')
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([c.csv() for c in row])
        return buf.getvalue()

    def to_latex(self) -> str:
        lines = ['% ' + self.title, '\\begin{tabular}{' + ''.join(self.align) + '}', '\\toprule',
                 ' & '.join(latex_escape(c) for c in self.columns) + ' \\\\', '\\midrule']
        for row in self.rows:
            lines.append(' & '.join(latex_escape(c.text()) for c in row) + ' \\\\')
        lines += ['\\bottomrule', '\\end{tabular}']
        return '\n'.join(lines) + '\n'


_LATEX = {'\\': r'\textbackslash{}', '&': r'\&', '%': r'\%', '$': r'\$', '#': r'\#', '_': r'\_', '{': r'\{',
          '}': r'\}', '~': r'\textasciitilde{}', '^': r'\textasciicircum{}', '–': '--', '−': '$-$',
          'Δ': r'$\Delta$', '×': r'$\times$', '≥': r'$\geq$'}


def latex_escape(text: str) -> str:
    return ''.join(_LATEX.get(ch, ch) for ch in text)
