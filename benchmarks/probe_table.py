"""The linear probes' table and the gate: read from probe records, written by
:mod:`benchmarks.transfer_probe` (``python -m benchmarks probe``).

Apart from the probe itself, so that the suite (which runs the probe as its gate and reports its
table) reads them without importing the probe, which imports the suite's presets: no import
circle. :mod:`benchmarks.transfer_probe` imports them back, so they are named there too.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

CONTROL = 'random'
FEATURES = ('last block; items: mean over tokens; scenes: mean under each instance\'s visible mask, '
            'area-weighted on the token grid')
CLASSIFIER = 'scikit-learn StandardScaler + LogisticRegression(max_iter=2000)'
DENSE = ('last-block tokens, each labelled with the majority label of its pixels; a linear layer on standardised '
         'tokens, full-batch L-BFGS (torch), 11-way (token mIoU) and 10-way on item tokens (item-class accuracy)')
METHODS = ('e2e', 'incubation', CONTROL)


def separation(runs: Sequence[Dict[str, Any]], score: str) -> Dict[str, Any]:
    """Pretrained − random of one probe score, paired by seed, per upstream method: mean, sample
    std, n, and whether the mean exceeds two standard errors (``separates``)."""
    from .analysis import beyond_two_se, mean_std
    control = {r['seed']: r[score] for r in runs if r['method'] == CONTROL and r.get(score) is not None}
    out = {}
    for method in ('e2e', 'incubation'):
        diffs = [r[score] - control[r['seed']] for r in runs
                 if r['method'] == method and r.get(score) is not None and r['seed'] in control]
        if not diffs:
            continue
        stats = mean_std(diffs)
        out[method] = dict(mean=stats.mean, std=stats.std, n=len(diffs), separates=beyond_two_se(stats) == 1)
    return out


def gate_warning(runs: Sequence[Dict[str, Any]], score: str = 'dense_items') -> Optional[str]:
    """One line when a pretrained backbone does not beat the random-init control on the dense probe."""
    sep = separation(runs, score)
    # one seed has no standard error: then only a pretrained score at or below random's is a warning
    weak = [m for m, v in sep.items() if (v['n'] > 1 and not v['separates']) or v['mean'] <= 0]
    if not weak:
        return None
    said = '; '.join(f'{m} − random {sep[m]["mean"]:+.2f} (n={sep[m]["n"]})' for m in weak)
    return (f'the gate: the pretrained features do not separate from random init on the scenes ({score}: {said}, '
            'not above two standard errors, or not above 0 with one seed); downstream runs are unlikely to tell '
            'these backbones apart')


def _mean_std(values: Sequence[float]) -> str:
    from .analysis import mean_std
    from .render import format_mean_std
    return format_mean_std(mean_std(values), 'metric')


def summary_table(records: Sequence[Dict[str, Any]]) -> str:
    """One row per backbone kind over several probe records (one per scene style): the items probe
    (the same for every record, so from the first), each record's scenes probe and, where the
    record has it, its dense probe; then pretrained − random, paired by seed."""
    styles = [((r.get('extra') or {}).get('scenes') or {}).get('style', '?') for r in records]
    dense = [any(run.get('dense_items') is not None for run in rec['runs']) for rec in records]
    head = ['backbone', 'seeds', 'items (upstream task)']
    for style, has_dense in zip(styles, dense):
        head += [f'scenes ({style})'] + ([f'item tokens ({style})', f'token mIoU ({style})'] if has_dense else [])
    head.append('checkpoints (sha256)')
    lines = ['| ' + ' | '.join(head) + ' |', '|---|---|' + '---:|' * (len(head) - 3) + '---|']
    for method in METHODS:
        per_record = [[r for r in rec['runs'] if r['method'] == method] for rec in records]
        first = per_record[0]
        if not first:
            continue
        hashes = ', '.join(r['sha256'][:8] for r in first if r.get('sha256')) or '(random init, seeded)'
        cells = [method if method != CONTROL else 'random init (control)', ', '.join(str(r['seed']) for r in first),
                 _mean_std([r['items'] for r in first])]
        for rows, has_dense in zip(per_record, dense):
            keys = ('scenes', 'dense_items', 'dense_miou') if has_dense else ('scenes',)
            cells += [_mean_std([r.get(k) for r in rows]) for k in keys]
        lines.append('| ' + ' | '.join(cells + [hashes]) + ' |')
    notes = ['', f'- Linear probe: {CLASSIFIER}, on frozen features ({FEATURES}); top-1 (%) on held-out data, '
             'mean ± std over seeds. Items: the upstream runs\' own training and validation subsets. '
             'Scenes: fit on the training scenes\' instances, scored on the validation scenes\' (10 classes, '
             'chance 10%).']
    if any(dense):
        notes.append(f'- Dense probe: {DENSE}; fit on the training scenes\' tokens, scored on the validation '
                     'scenes\'. Item tokens: chance 10%.')
        for rec, style, has_dense in zip(records, styles, dense):
            if has_dense:
                notes.append(f'- {gate_line(rec["runs"], style)}')
    return '\n'.join(lines + notes) + '\n'


def gate_line(runs: Sequence[Dict[str, Any]], style: str) -> str:
    """The gate's verdict in one sentence: pretrained − random item-token accuracy of the dense
    probe, paired by seed, for each pretrained method."""
    sep = separation(runs, 'dense_items')
    said = ', '.join(f'{m} {v["mean"]:+.2f} ± {v["std"] if v["std"] is not None else float("nan"):.2f} '
                     f'({"separates" if v["separates"] else "does not separate"})' for m, v in sep.items())
    return f'The gate ({style} scenes): pretrained − random item tokens, paired by seed: {said}.'
