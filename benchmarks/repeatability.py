"""``python -m benchmarks repeatability``: does a seed repeat bit for bit here, and what breaks it?

Short real runs of the demo's digits model (``vit-digits-d16``, 3 epochs a run), compared pair by
pair on their final metrics, every evaluation, and the sha256 of the exported checkpoints
(``model.pth``, ``model.safetensors``) and of the weights themselves
(:func:`benchmarks.records.weights_digest`):

* ``repeat``: the same E2E command twice (1 thread);
* ``threads``: 1 thread against 2 threads (``OMP_NUM_THREADS``): a parallel reduction sums in
  another order;
* ``pipeline-repeat``: the incubation pipeline twice, its phases forked from the preloaded
  process (the default on a CPU machine);
* ``fork``: that pipeline forked against ``--fresh-processes`` (every phase a new interpreter).

The comparisons and the runs go into one result record (``WORK/results.json``); the docs'
repeatability table is generated from its committed copy ``docs/results/repeatability.json``.
Across two machines of the same kind nothing can be run from here: the record's machine fields
(CPU model, a digest of its instruction-set flags, cores, library versions) say what a user
must match before comparing numbers with it.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import os.path as osp
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from runtime import graph
from runtime.graph import Node
from runtime.launch import LocalBackend
from runtime.progress import PROGRESS_FILE, Progress
from runtime.record import TRAIN_LOG

from .render import Cell, Table
from .results import Context, Generated, generator, measured_on, one_record

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'classification', 'configs')
E2E_CONFIG = osp.join(CONFIGS, 'vit-digits-d16_e2e_60e_digits.py')
PIPELINE_CONFIG = osp.join(CONFIGS, 'vit-digits-d16_incubation_30e+15e_digits.py')
EPOCHS = 3
PREFIX = '[repeatability]'

# name -> (kind, threads, extra arguments)
RUNS: Dict[str, Tuple[str, int, List[str]]] = {
    'e2e_a': ('e2e', 1, []), 'e2e_b': ('e2e', 1, []), 'e2e_threads2': ('e2e', 2, []),
    'pipeline_a': ('pipeline', 1, []), 'pipeline_b': ('pipeline', 1, []),
    'pipeline_fresh': ('pipeline', 1, ['--fresh-processes']),
}
# (comparison, what differs, run a, run b)
COMPARISONS = [
    ('repeat', 'nothing: the same E2E command twice, 1 thread', 'e2e_a', 'e2e_b'),
    ('threads', 'OMP_NUM_THREADS 1 vs 2 (E2E)', 'e2e_a', 'e2e_threads2'),
    ('pipeline-repeat', 'nothing: the same pipeline twice, phases forked from the preloaded process',
     'pipeline_a', 'pipeline_b'),
    ('fork', 'phases forked from the preloaded process vs --fresh-processes', 'pipeline_a', 'pipeline_fresh'),
]


def command(name: str, work: str, data: str, seed: int) -> Tuple[Node, str]:
    """One run as a run-graph node (with its own threads), and the file its progress is read from."""
    from benchmarks.runs import run_finished

    kind, threads, extra = RUNS[name]
    work_dir = osp.join(work, name)
    roots = [f'{loader}.dataset.data_root={data}' for loader in ('train_dataloader', 'val_dataloader',
                                                                  'test_dataloader')]
    if kind == 'e2e':
        argv = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), E2E_CONFIG, '--work-dir', work_dir, '--resume',
                '--cfg-options', f'train_cfg.max_epochs={EPOCHS}', f'randomness.seed={seed}', *roots]
        log, source = osp.join(work_dir, TRAIN_LOG), osp.join(work_dir, TRAIN_LOG)
    else:
        argv = [sys.executable, osp.join(ROOT, 'tools', 'incubate.py'), PIPELINE_CONFIG, '--work-dir', work_dir,
                '--data-root', data, '--parallel', '2', '--threads-per-worker', str(threads),
                '--meta-epochs', str(EPOCHS), '--incubate-epochs', str(EPOCHS), '--finetune-epochs', str(EPOCHS),
                *extra, '--cfg-options', f'randomness.seed={seed}']
        log, source = osp.join(work_dir, 'incubate.out'), osp.join(work_dir, PROGRESS_FILE)
    node = Node(name, argv, work_dir, log=log, env={'OMP_NUM_THREADS': str(threads)},
                done=lambda: run_finished(work_dir))
    return node, source


def _sha(path: str) -> Optional[str]:
    if not osp.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def weights_diff(a: str, b: str) -> Optional[float]:
    """The largest absolute difference between two safetensors files' tensors (None: not comparable)."""
    import numpy as np
    from safetensors.numpy import load_file

    if not (osp.isfile(a) and osp.isfile(b)):
        return None
    ta, tb = load_file(a), load_file(b)
    if ta.keys() != tb.keys():
        return None
    return max((float(np.max(np.abs(ta[k].astype(np.float64) - tb[k].astype(np.float64)))) if ta[k].size else 0.0)
               for k in ta)


def final_files(run_dir: str, kind: str) -> Dict[str, str]:
    base = osp.join(run_dir, 'finetune') if kind == 'pipeline' else run_dir
    return {ext: osp.join(base, f'model.{ext}') for ext in ('pth', 'safetensors')}


def compare(name: str, differs: str, a: Any, b: Any) -> Dict[str, Any]:
    """One comparison of two runs (:class:`benchmarks.runs.Run`): metrics, every evaluation, files."""
    kind = RUNS[osp.basename(a.path)][0]
    fa, fb = final_files(a.path, kind), final_files(b.path, kind)
    curve_a = [(p.step, p.metrics) for p in a.evals]
    curve_b = [(p.step, p.metrics) for p in b.evals]
    sha = {ext: (_sha(fa[ext]), _sha(fb[ext])) for ext in fa}
    diff = weights_diff(fa['safetensors'], fb['safetensors'])
    from .records import weights_digest

    weights = [weights_digest(f['safetensors']) if osp.isfile(f['safetensors']) else None for f in (fa, fb)]
    return dict(comparison=name, differs=differs, a=a.name, b=b.name,
                metrics_a=dict(a.metrics), metrics_b=dict(b.metrics), equal_metrics=a.metrics == b.metrics,
                equal_evaluations=curve_a == curve_b,
                sha256={ext: dict(a=x, b=y) for ext, (x, y) in sha.items()},
                equal_pth=sha['pth'][0] is not None and sha['pth'][0] == sha['pth'][1],
                equal_safetensors=sha['safetensors'][0] is not None and sha['safetensors'][0] == sha['safetensors'][1],
                weights_sha256=dict(a=weights[0], b=weights[1]),
                equal_weights=weights[0] is not None and weights[0] == weights[1], max_abs_weight_diff=diff)


def repeatability_table(record: Mapping[str, Any]) -> Table:
    """The record's comparisons as a table (what ``docs/`` shows, generated)."""
    table = Table('repeatability', 'Does a seed repeat bit for bit?',
                  ['comparison', 'what differs', 'final top-1 (a / b)', 'every evaluation equal',
                   'weights sha256 equal', 'model.pth sha256 equal', 'model.safetensors sha256 equal',
                   'largest weight difference'],
                  align=['l', 'l', 'r', 'l', 'l', 'l', 'l', 'r'])
    yes = {True: 'yes', False: 'no', None: '–'}
    for c in record.get('runs') or []:
        if not isinstance(c, Mapping) or 'comparison' not in c:
            continue
        top1 = [c[k].get('accuracy/top1') for k in ('metrics_a', 'metrics_b')]
        diff = c.get('max_abs_weight_diff')
        table.add([Cell(c['comparison']), Cell(c['differs']),
                   Cell(' / '.join('–' if v is None else f'{v:.2f}' for v in top1)),
                   Cell(yes[c.get('equal_evaluations')]), Cell(yes[c.get('equal_weights')]),
                   Cell(yes[c.get('equal_pth')]), Cell(yes[c.get('equal_safetensors')]),
                   Cell(None if diff is None else f'{diff:.3g}')])
    extra = record.get('extra') or {}
    table.notes.append(f'The demo\'s digits model (16 blocks of width 64, K = 4), {extra.get("epochs", EPOCHS)} epochs '
                       f'a run (each pipeline phase too), seed {extra.get("seed", 0)}, on the CPU. Weights sha256: '
                       'the digest of the exported tensors alone; a model.safetensors file also holds a header '
                       'whose metadata safetensors writes in no fixed order.')
    return table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', default='work_dirs/repeatability')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--jobs', type=int, default=2, help='runs at the same time')
    parser.add_argument('--only', nargs='+', choices=[c[0] for c in COMPARISONS], help='only these comparisons')


def run(args: argparse.Namespace) -> int:
    from benchmarks.records import write_study_record
    from benchmarks.runs import read_run
    from classification.digits import write_digits

    work = osp.abspath(args.work_dir)
    data = str(write_digits(osp.join(work, 'data', 'digits')))
    comparisons = [c for c in COMPARISONS if not args.only or c[0] in args.only]
    names = list(dict.fromkeys(n for c in comparisons for n in c[2:]))
    # weights: epochs x blocks run (16 blocks, K = 4; a pipeline: meta, four hybrids of 7 blocks, fine-tune)
    weights = {n: float(EPOCHS * (16 if RUNS[n][0] == 'e2e' else 4 + 4 * 7 + 16)) for n in names}
    progress = Progress(names, prefix=PREFIX, interval=30.0, weights=weights)
    # the runs as run-graph nodes, each with its own threads (the comparisons vary them)
    commands = {n: command(n, work, data, args.seed) for n in names}
    nodes = [node for node, _source in commands.values()]
    failed: List[str] = []
    start_time = time.monotonic()
    for node in nodes:
        if node.done():
            progress.skip(node.name)

    def on_start(node: Node) -> None:
        print(f'{PREFIX} {node.name}: {node}', flush=True)
        progress.start(node.name, log=commands[node.name][1])

    def on_exit(node: Node, code: int) -> None:
        progress.finish(node.name, ok=code == 0)
        if code != 0:
            failed.append(node.name)
            print(f'{PREFIX} {node.name} FAILED (exit {code}); see {node.log}', flush=True)

    graph.run_local(nodes, LocalBackend(), max(1, args.jobs), on_start, on_exit,
                    on_progress=lambda node: progress.poll(), cwd=ROOT,
                    env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')))
    print(progress.close(), flush=True)
    if failed:
        raise SystemExit(f'{PREFIX} {len(failed)} run(s) failed: {", ".join(failed)} (re-running resumes them)')
    runs = {n: read_run(osp.join(work, n)) for n in names}
    results: List[Any] = [compare(c, differs, runs[a], runs[b]) for c, differs, a, b in comparisons]
    for r in results:
        print(f'{PREFIX} {r["comparison"]}: metrics equal {r["equal_metrics"]}, every evaluation equal '
              f'{r["equal_evaluations"]}, safetensors equal {r["equal_safetensors"]}, pth equal {r["equal_pth"]}, '
              f'largest weight difference {r["max_abs_weight_diff"]}', flush=True)
    write_study_record(work, 'repeatability', results + list(runs.values()),
                       extra=dict(epochs=EPOCHS, seed=args.seed, wall_minutes=round((time.monotonic() - start_time) / 60, 2)))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks repeatability', description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


# --- the generated blocks of its page (python -m benchmarks results) ---------------------------


@generator('repeatability')
def repeatability_block(ctx: Context) -> Generated:
    record = one_record(ctx, 'repeatability')
    return Generated(repeatability_table(record).to_markdown(title=False) + measured_on(ctx))
