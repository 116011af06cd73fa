"""`python -m benchmarks report` on synthetic work dirs written in the real mmengine formats, and `speed`.

The formats were taken from real mmengine 0.10 runs (a toy model through ``Runner.train`` and
``Runner.test``): a training session writes ``WORK/<ts>/vis_data/scalars.json`` (train lines with
``iter``, validation lines with the metrics, ``cost/*`` and ``step``), ``vis_data/config.py`` and
``<ts>.log``; a test session writes ``WORK/<ts>/<ts>.json``; the runner dumps the config to
``WORK/<config name>.py``; ``runtime.DeviceHoursHook`` writes ``WORK/cost.json``. Pipeline
manifests are written with :mod:`runtime.record`, as ``tools/incubate.py`` writes them.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import ROOT
from mmengine.config import Config

from benchmarks.__main__ import available_commands
from benchmarks.__main__ import main as cli
from benchmarks.analysis import beyond_two_se, mean_std, reach_cost, speedup
from benchmarks.report import collect_runs
from runtime import record
from runtime.record import Manifest, PhaseRecord, RecordError

A100 = 'NVIDIA A100-SXM4-80GB'


# --- writers of the real formats -------------------------------------------------------------


def _config(benchmark, train_cfg, model=None, **extra):
    cfg = dict(model=model or dict(type='ImageClassifier'), train_cfg=train_cfg, benchmark=benchmark,
               default_hooks=dict(logger=dict(type='LoggerHook', interval=5)),
               custom_hooks=[dict(type='DeviceHoursHook')])
    cfg.update(extra)
    return cfg


def _dump(cfg: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Config(cfg).dump(str(path))


def train_line(epoch, it, loss=1.0):
    line = dict(lr=1e-4, data_time=0.01, loss=loss, time=0.5)
    if epoch is not None:
        line['epoch'] = epoch
    line.update(iter=it, step=it)
    return line


def val_line(step, metrics, hours, images):
    return {**metrics, 'cost/device_hours': hours, 'cost/images': images, 'data_time': 0.01, 'time': 0.2,
            'step': step}


def write_session(work: Path, ts: str, cfg: dict, lines) -> None:
    folder = work / ts
    (folder / 'vis_data').mkdir(parents=True, exist_ok=True)
    _dump(cfg, folder / 'vis_data' / 'config.py')
    text = ''.join(json.dumps(line) + '\n' for line in lines)
    (folder / 'vis_data' / 'scalars.json').write_text(text)
    (folder / 'vis_data' / f'{ts}.json').write_text(text)
    (folder / f'{ts}.log').write_text(f'{ts[:4]}/01/01 00:00:00 - mmengine - INFO - Config:\n...\n')


def write_work_dir(work: Path, benchmark, train_cfg, sessions, cost=None, name='config.py', **extra):
    """``sessions``: [(timestamp, [scalars lines])]; ``cost``: cost.json or None."""
    cfg = _config(benchmark, train_cfg, work_dir=str(work), **extra)
    _dump(cfg, work / name)
    for ts, lines in sessions:
        write_session(work, ts, cfg, lines)
    if cost is not None:
        record = dict(devices=8, device_type=A100, **cost)
        (work / 'cost.json').write_text(json.dumps(record, indent=2))
    return work


def write_test_dir(work: Path, benchmark, metrics, model, ts='20260301_000000'):
    cfg = _config(benchmark, dict(type='IterBasedTrainLoop', max_iters=80), model=model, work_dir=str(work))
    _dump(cfg, work / 'config.py')
    (work / ts / 'vis_data').mkdir(parents=True)
    _dump(cfg, work / ts / 'vis_data' / 'config.py')
    (work / ts / f'{ts}.json').write_text(json.dumps({**metrics, 'data_time': 0.01, 'time': 0.3}))
    (work / ts / f'{ts}.log').write_text('test\n')
    return work


def phase_dir(work: Path, benchmark, hours, images, evals, max_epochs, cost=True):
    """A pipeline phase's work dir: one evaluation per epoch, ``evals`` = [(hours, metrics)], ``images`` in all."""
    lines = []
    for epoch, (h, metrics) in enumerate(evals, start=1):
        lines += [train_line(epoch, epoch * 10 - 5), train_line(epoch, epoch * 10)]
        lines.append(val_line(epoch, metrics, h, images * epoch // max(len(evals), 1)))
    write_work_dir(work, benchmark, dict(type='EpochBasedTrainLoop', max_epochs=max_epochs),
                   [('20260201_000000', lines)],
                   cost=dict(device_hours=hours, images=images, epoch=len(evals), iter=len(evals) * 10)
                   if cost else None)


def top(t1, t5=None):
    return {'accuracy/top1': t1, **({} if t5 is None else {'accuracy/top5': t5})}


def write_pipeline(base: Path, benchmark, phases, dirs=(), relative=False):
    """``phases``: [(name, status, hours, images, metrics)]; ``dirs``: {name: (evals, max_epochs, cost?[, images])}."""
    base.mkdir(parents=True)
    records = []
    for name, status, hours, images, metrics in phases:
        work = base / name
        records.append(PhaseRecord(
            name, status, work_dir=f'{base.name}/{name}' if relative else str(work),
            checkpoint=str(work / 'last.pth') if status == 'done' else None, metrics=metrics, device_hours=hours,
            images=images, module_idx=int(name.split('_')[1]) if record.is_incubation(name) else None))
        if name in dirs:
            evals, max_epochs, with_cost, *seen = dirs[name]
            phase_dir(work, dict(benchmark, phase=name), hours or 0.0, seen[0] if seen else images, evals,
                      max_epochs, with_cost)
    record.write_manifest(base, Manifest.from_phases('classification/configs/x.py', records, benchmark))
    return base


@pytest.fixture(scope='module')
def runs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('runs')
    vitb = dict(task='imagenet', model='ViT-B', method='e2e', variant='224')
    # ImageNet E2E, resumed once: session 2 re-evaluates epoch 3 (wins) and adds epoch 4.
    epoch_cfg = dict(type='EpochBasedTrainLoop', max_epochs=4, val_interval=1)
    s1 = []
    for epoch, (t1, t5, h) in enumerate([(60.0, 85.0, 1.5), (70.0, 90.0, 3.0), (77.0, 93.0, 4.5)], start=1):
        s1 += [train_line(epoch, epoch * 10 - 5), train_line(epoch, epoch * 10), val_line(epoch, top(t1, t5), h,
                                                                                        epoch * 1000)]
    s2 = [train_line(3, 25), train_line(3, 30), val_line(3, top(78.0, 94.0), 4.5, 3000),
          train_line(4, 35), train_line(4, 40), val_line(4, top(81.0, 95.5), 6.0, 4000)]
    write_work_dir(root / 'e2e_vitb', vitb, epoch_cfg, [('20260101_000000', s1), ('20260102_000000', s2)],
                   cost=dict(device_hours=6.0, images=4000, epoch=4, iter=40), name='vit-b_e2e_in1k.py')

    # ImageNet pipeline (100+100, the paper's schedule), finished; work dirs recorded relative
    # to the runs folder. Pipelines carry the variant and their m+n schedule, like the manifest.
    inc = dict(vitb, method='incubation', schedule='100+100')
    phases = ([('meta', 'done', 1.0, 3000, top(55.0, 80.0))]
              + [(f'incubate_{i}', 'done', 0.5, 1000, top(70.0 + i, 90.0)) for i in range(4)]
              + [('assemble', 'done', 0.0, 0, top(40.0, 65.0)), ('finetune', 'done', 1.0, 1000, top(83.0, 96.2))])
    ft = [(0.25, top(70.0, 90.0)), (0.5, top(79.0, 94.0)), (0.75, top(82.0, 95.8)), (1.0, top(83.0, 96.2))]
    dirs = {name: ([(hours, metrics)], 1, True) for name, _, hours, _, metrics in phases[:-1]}
    dirs['finetune'] = (ft, 4, True)
    write_pipeline(root / 'inc_vitb', inc, phases, dirs, relative=True)

    # A second schedule (50+50), finished; absolute work dirs, only meta and finetune kept.
    inc50 = dict(inc, schedule='50+50')
    phases = ([('meta', 'done', 1.0, 3000, top(55.0))]
              + [(f'incubate_{i}', 'done', 0.25, 500, top(65.0)) for i in range(4)]
              + [('assemble', 'done', 0.0, 0, top(30.0)), ('finetune', 'done', 0.5, 500, top(80.0, 95.0))])
    write_pipeline(root / 'inc_vitb_50', inc50, phases,
                   {'meta': ([(1.0, top(55.0))], 1, True),
                    'finetune': ([(0.25, top(75.0, 93.0)), (0.5, top(80.0, 95.0))], 2, True)})

    # Partial 1: fine-tuning running (its work dir has one evaluation and no cost.json yet).
    sub = dict(inc, variant='224-subset50')
    phases = ([('meta', 'done', 1.0, 3000, top(50.0))]
              + [(f'incubate_{i}', 'done', 0.5, 1000, top(60.0)) for i in range(4)]
              + [('assemble', 'done', 0.0, 0, top(20.0)), ('finetune', 'started', None, None, {})])
    write_pipeline(root / 'inc_vitb_subset50', sub, phases,
                   {'finetune': ([(0.2, top(60.0, 80.0))], 4, False, 500)})

    # Partial 2: module 3 still incubating, nothing after it; no work dirs at all.
    vith = dict(task='imagenet', model='ViT-H', method='incubation', variant='224', schedule='25+25')
    phases = ([('meta', 'done', 1.0, 3000, top(50.0))]
              + [(f'incubate_{i}', 'done', 0.25, 500, top(60.0)) for i in range(3)]
              + [('incubate_3', 'started', 0.1, 200, {}), ('assemble', 'pending', None, None, {}),
                 ('finetune', 'pending', None, None, {})])
    write_pipeline(root / 'inc_vith_25', vith, phases)

    # COCO pair (fractions; E2E logs no mask metrics; incubation stopped at epoch 2 of 3).
    coco = dict(task='coco', model='ViT-B', method='e2e', schedule='1x')
    box = lambda a, b, c: {'coco/bbox_mAP': a, 'coco/bbox_mAP_50': b, 'coco/bbox_mAP_75': c}  # noqa: E731
    segm = {'coco/segm_mAP': 0.415, 'coco/segm_mAP_50': 0.655, 'coco/segm_mAP_75': 0.445}
    write_work_dir(root / 'coco_e2e', coco, dict(type='EpochBasedTrainLoop', max_epochs=2),
                   [('20260101_000000', [train_line(1, 10), val_line(1, box(0.430, 0.660, 0.470), 1.0, 1000),
                                         train_line(2, 20), val_line(2, box(0.441, 0.677, 0.485), 2.0, 2000)])],
                   cost=dict(device_hours=2.0, images=2000, epoch=2, iter=20))
    write_work_dir(root / 'coco_inc', dict(coco, method='incubation'), dict(type='EpochBasedTrainLoop', max_epochs=3),
                   [('20260101_000000', [train_line(1, 10), val_line(1, box(0.44, 0.67, 0.48), 1.1, 1000),
                                         train_line(2, 20),
                                         val_line(2, {**box(0.455, 0.690, 0.500), **segm}, 2.2, 2000)])],
                   cost=dict(device_hours=2.2, images=2000, epoch=2, iter=20))

    # ADE20K pair, iteration-based. E2E logs validation at step 0 (mmengine's default
    # log_metric_by_epoch=True); incubation at the iteration. Multi-scale tests: a --tta test dir
    # (recognised from its config) for E2E, a plain-looking dir passed with --ms-test for incubation.
    ade = dict(task='ade20k', model='ViT-L', method='e2e', schedule='80k')
    iters = dict(type='IterBasedTrainLoop', max_iters=80, val_interval=40)
    seg = lambda acc, iou, a: {'aAcc': a, 'mIoU': iou, 'mAcc': acc}  # noqa: E731
    write_work_dir(root / 'ade_e2e', ade, iters,
                   [('20260101_000000', [train_line(None, 20), train_line(None, 40),
                                         val_line(0, seg(50.0, 40.0, 75.0), 0.5, 320),
                                         train_line(None, 60), train_line(None, 80),
                                         val_line(0, seg(58.0, 46.9, 80.0), 1.0, 640)])],
                   cost=dict(device_hours=1.0, images=640, epoch=0, iter=80))
    write_work_dir(root / 'ade_inc', dict(ade, method='incubation'), iters,
                   [('20260101_000000', [train_line(None, 40), val_line(40, seg(52.0, 42.0, 76.0), 0.5, 320),
                                         train_line(None, 80), val_line(80, seg(60.0, 49.0, 81.0), 1.05, 640)])],
                   cost=dict(device_hours=1.05, images=640, epoch=0, iter=80),
                   default_hooks=dict(logger=dict(type='LoggerHook', log_metric_by_epoch=False)))
    write_test_dir(root / 'ade_e2e_ms', ade, seg(58.6, 47.5, 80.5),
                   dict(type='SegTTAModel', module=dict(type='EncoderDecoder')))
    write_test_dir(root / 'ade_inc_ms', dict(ade, method='incubation'), seg(60.9, 49.8, 81.5),
                   dict(type='EncoderDecoder'))
    return root


RUN_ORDER = ['e2e_vitb', 'inc_vitb', 'inc_vitb_50', 'inc_vitb_subset50', 'inc_vith_25', 'coco_e2e', 'coco_inc',
             'ade_e2e', 'ade_e2e_ms', 'ade_inc']


@pytest.fixture(scope='module')
def report(runs_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('report')
    args = ['report', *[str(runs_root / n) for n in RUN_ORDER], '--ms-test', str(runs_root / 'ade_inc_ms'),
            '--out', str(out), '--quiet']
    assert cli(args) == 0
    return out


def read_md(path: Path):
    """Header and rows of the (single) Markdown table in ``path``."""
    lines = [line for line in path.read_text().splitlines() if line.startswith('| ')]

    def cells(line):
        return [c.strip().replace('\\|', '|') for c in line.strip()[2:-2].split(' | ')]

    return cells(lines[0]), [cells(line) for line in lines[1:]]


def read_csv(path: Path):
    rows = list(csv.reader(io.StringIO(path.read_text())))
    return rows[0], rows[1:]


def check_table(out: Path, name: str, columns, expected) -> None:
    """Every cell in Markdown, CSV (missing -> empty, numbers raw) and LaTeX."""
    header, rows = read_md(out / f'{name}.md')
    assert header == columns
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        assert got == want
    header, rows = read_csv(out / f'{name}.csv')
    assert header == columns
    for got, want in zip(rows, expected):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            if w in ('–', ''):
                assert g == ''
            elif g != w:  # numbers are written raw: '0.666667' for '0.67x', '3.66667' for '3.67'
                assert float(g) == pytest.approx(float(w.rstrip('x')), abs=0.006)
    tex = (out / f'{name}.tex').read_text()
    assert tex.count('\\\\\n') == len(expected) + 1  # header + rows
    assert '\\toprule' in tex and '\\bottomrule' in tex and '–' not in tex


IMAGENET_COLUMNS = ['model', 'variant', 'method', 'status', 'top-1', 'top-1 (paper)', 'top-5', 'top-5 (paper)']
DELTA = 'Δ (incubation − E2E)'
P1 = 'partial: 6/7 phases done; finetune started'
P2 = 'partial: 4/7 phases done; incubate_3 started; pending: assemble, finetune'


def test_imagenet_table(report):
    # Both ViT-B schedules pair with the one E2E run (same variant); the paper's 82.4 is for
    # 100+100 only; ViT-H 25+25 gets the paper's 25+25 point and the 224 E2E number.
    check_table(report, 'imagenet', IMAGENET_COLUMNS, [
        ['ViT-B', '224', 'E2E', 'done', '81.00', '81.8', '95.50', '–'],
        ['ViT-B', '224', 'incubation 100+100', 'done', '83.00', '82.4', '96.20', '–'],
        ['ViT-B', '224', 'incubation 50+50', 'done', '80.00', '–', '95.00', '–'],
        ['ViT-B', '224', 'Δ (incubation 100+100 − E2E)', 'done', '+2.00', '+0.6', '+0.70', '–'],
        ['ViT-B', '224', 'Δ (incubation 50+50 − E2E)', 'done', '-1.00', '–', '-0.50', '–'],
        ['ViT-B', '224-subset50', 'E2E', 'no run', '–', '74.7', '–', '–'],
        ['ViT-B', '224-subset50', 'incubation 100+100', P1, '60.00', '78.6', '80.00', '–'],
        ['ViT-B', '224-subset50', DELTA, '–', '–', '+3.9', '–', '–'],
        ['ViT-H', '224', 'E2E', 'no run', '–', '81.6', '–', '–'],
        ['ViT-H', '224', 'incubation 25+25', P2, '–', '80.5', '–', '–'],
        ['ViT-H', '224', DELTA, '–', '–', '-1.1', '–', '–'],
    ])


UPSTREAM_COLUMNS = ['upstream', 'backbone sha256', 'upstream training device-h',
                    'total training device-h (upstream + downstream)', 'upstream training FLOPs',
                    'total training FLOPs (upstream + downstream)']
NO_UPSTREAM = ['–'] * 6  # a run without backbone.json: upstream and totals unknown, never 0
NO_UPSTREAM_DELTA = ['', '', '–', '–', '–', '–']


def test_coco_table(report):
    labels = ['APb', 'APb50', 'APb75', 'APm', 'APm50', 'APm75']
    columns = (['model', 'schedule', 'method', 'status'] + [c for m in labels for c in (m, f'{m} (paper)')]
               + UPSTREAM_COLUMNS)  # no pre-training cost of the paper's for COCO in reference.json
    check_table(report, 'coco', columns, [
        ['ViT-B', '1x', 'E2E', 'done', '44.10', '44.1', '67.70', '67.7', '48.50', '48.5',
         '–', '40.4', '–', '64.2', '–', '43.1', *NO_UPSTREAM],
        ['ViT-B', '1x', 'incubation', 'partial: epoch 2/3', '45.50', '45.7', '69.00', '69.6', '50.00', '50.3',
         '41.50', '41.8', '65.50', '66.1', '44.50', '44.7', *NO_UPSTREAM],
        ['ViT-B', '1x', DELTA, 'partial', '+1.40', '+1.6', '+1.30', '+1.9', '+1.50', '+1.8',
         '–', '+1.4', '–', '+1.9', '–', '+1.6', *NO_UPSTREAM_DELTA],
    ])


def test_ade20k_table(report):
    columns = (['model', 'schedule', 'method', 'status', 'mAcc', 'mAcc (paper)', 'mIoU', 'mIoU (paper)', 'mIoU-ms',
                'mIoU-ms (paper)'] + UPSTREAM_COLUMNS + ['pre-training GPU-h (paper)'])
    check_table(report, 'ade20k', columns, [
        ['ViT-L', '80k', 'E2E', 'done', '58.00', '58.5', '46.90', '47.0', '47.50', '47.8', *NO_UPSTREAM, '1090'],
        ['ViT-L', '80k', 'incubation', 'done', '60.00', '60.8', '49.00', '49.2', '49.80', '50.0', *NO_UPSTREAM, '890'],
        ['ViT-L', '80k', DELTA, 'done', '+2.00', '+2.3', '+2.10', '+2.2', '+2.30', '+2.2', *NO_UPSTREAM_DELTA, '-200'],
    ])


def test_cost_table(report):
    phases = ['train', 'meta', 'incubate_0', 'incubate_1', 'incubate_2', 'incubate_3', 'assemble', 'finetune']
    columns = (['task', 'model', 'variant', 'method', 'status', 'device'] + [f'{p} (h)' for p in phases]
               + ['total (h)', 'wall, parallel (h)', 'images', 'ratio to E2E', 'total (paper, GPU-h)', 'ratio (paper)'])
    na8 = [''] * 8
    no_run = ['E2E', 'no run', '–', *na8, '–', '', '–', '', '–', '']
    no_delta = [DELTA, '–', '', *na8, '–', '', '', '', '–', '']
    check_table(report, 'cost', columns, [
        ['imagenet', 'ViT-B', '224', 'E2E', 'done', A100, '6.00', *[''] * 7, '6.00', '', '4000', '', '–', ''],
        ['imagenet', 'ViT-B', '224', 'incubation 100+100', 'done', A100, '', '1.00', '0.500', '0.500', '0.500',
         '0.500', '0', '1.00', '4.00', '2.50', '8000', '0.67x', '–', '–'],
        ['imagenet', 'ViT-B', '224', 'incubation 50+50', 'done', A100, '', '1.00', '0.250', '0.250', '0.250',
         '0.250', '0', '0.500', '2.50', '1.75', '5500', '0.42x', '–', '–'],
        ['imagenet', 'ViT-B', '224', 'Δ (incubation 100+100 − E2E)', 'done', '', *na8, '-2.00', '', '', '', '–', ''],
        ['imagenet', 'ViT-B', '224', 'Δ (incubation 50+50 − E2E)', 'done', '', *na8, '-3.50', '', '', '', '–', ''],
        ['imagenet', 'ViT-B', '224-subset50', *no_run],
        ['imagenet', 'ViT-B', '224-subset50', 'incubation 100+100', P1, '–', '', '1.00', '0.500', '0.500', '0.500',
         '0.500', '0', '0.200', '3.20', '1.70', '7500', '–', '–', '–'],
        ['imagenet', 'ViT-B', '224-subset50', *no_delta],
        # the paper's ViT-H costs: E2E 4790, incubation 25+25 880 GPU-hours
        ['imagenet', 'ViT-H', '224', 'E2E', 'no run', '–', *na8, '–', '', '–', '', '4790', ''],
        ['imagenet', 'ViT-H', '224', 'incubation 25+25', P2, '–', '', '1.00', '0.250', '0.250', '0.250', '0.100',
         '–', '–', '1.85', '1.25', '4700', '–', '880', '0.18x'],
        ['imagenet', 'ViT-H', '224', DELTA, '–', '', *na8, '–', '', '', '', '-3910', ''],
        ['coco', 'ViT-B', '1x', 'E2E', 'done', A100, '2.00', *[''] * 7, '2.00', '', '2000', '', '–', ''],
        ['coco', 'ViT-B', '1x', 'incubation', 'partial: epoch 2/3', A100, '2.20', *[''] * 7, '2.20', '', '2000',
         '1.10x', '–', '–'],
        ['coco', 'ViT-B', '1x', DELTA, 'partial', '', *na8, '+0.200', '', '', '', '–', ''],
        ['ade20k', 'ViT-L', '80k', 'E2E', 'done', A100, '1.00', *[''] * 7, '1.00', '', '640', '', '–', ''],
        ['ade20k', 'ViT-L', '80k', 'incubation', 'done', A100, '1.05', *[''] * 7, '1.05', '', '640', '1.05x', '–',
         '–'],
        ['ade20k', 'ViT-L', '80k', DELTA, 'done', '', *na8, '+0.050', '', '', '', '–', ''],
    ])


def test_efficiency_table_and_plots(report):
    columns = ['task', 'model', 'E2E variant', 'incubation variant', 'schedule', 'status', 'E2E final',
               'E2E cost (h)', 'incubation reaches it at (h)', 'speed-up', 'speed-up (paper)', 'incubation final',
               'incubation cost (h)', 'wall, parallel (h)']
    # Incubation 100+100: fine-tune points at 3 + (0.25, 0.5, 0.75, 1.0) h with 70, 79, 82, 83; E2E ends
    # at 81.0 after 6 h -> reached at 3.5 + 0.25 * 2/3 = 3.667 h -> 6 / 3.667 = 1.64x. 50+50 peaks at 80.
    check_table(report, 'efficiency', columns, [
        ['imagenet', 'ViT-B', '224', '224', '100+100', 'done', '81.00', '6.00', '3.67', '1.64x', '–', '83.00',
         '4.00', '2.50'],
        ['imagenet', 'ViT-B', '224', '224', '50+50', 'done', '81.00', '6.00', '–', 'not reached', '–', '80.00',
         '2.50', '1.75'],
        ['imagenet', 'ViT-B', '–', '224-subset50', '100+100', '–', '–', '–', '–', '–', '–', '60.00', '3.20',
         '1.70'],
        ['imagenet', 'ViT-H', '–', '224', '25+25', '–', '–', '–', '–', '–', '–', '–', '–', '1.25'],
    ])
    expected = ['efficiency_imagenet_ViT-B_224', 'efficiency_imagenet_ViT-B_224-subset50',
                'convergence_imagenet_ViT-B_224', 'convergence_imagenet_ViT-B_224-subset50']
    for stem in expected:
        for ext, magic in (('png', b'\x89PNG'), ('svg', b'<?xml')):
            data = (report / f'{stem}.{ext}').read_bytes()
            assert data.startswith(magic) and len(data) > 1000
    svg = (report / 'efficiency_imagenet_ViT-B_224.svg').read_text()
    assert '1.64x less training' in svg and 'not reached' in svg  # the annotation itself
    conv = (report / 'convergence_imagenet_ViT-B_224.svg').read_text()
    assert '50+50' in conv and '100+100' in conv and 'fine-tune cost' in conv
    # Nothing to draw for ViT-H (no evaluation yet) and no plots for COCO / ADE20K pre-training.
    # 224 and 224-subset50 of one model are also a data-share study: its trend
    assert sorted(p.stem for p in report.glob('*.png')) == sorted(expected + ['data_imagenet_ViT-B_224'])
    text = (report / 'report.md').read_text()
    assert '![efficiency_imagenet_ViT-B_224](efficiency_imagenet_ViT-B_224.png)' in text
    assert '| inc_vith_25 | pipeline | imagenet | ViT-H | 224 | incubation 25+25 | ' + P2 in text
    saved = {r['name']: r for r in json.loads((report / 'runs.json').read_text())}
    assert saved['inc_vitb']['curve']['accuracy/top1'] == [[3.25, 70.0], [3.5, 79.0], [3.75, 82.0], [4.0, 83.0]]


def test_sessions_merge_and_step_keys(runs_root):
    runs = {r.name: r for r in collect_runs([runs_root / 'e2e_vitb', runs_root / 'ade_e2e'])}
    e2e = runs['e2e_vitb']
    # the resumed session's epoch-3 evaluation replaced the first session's (77.0 -> 78.0)
    assert [(p.step, p.metrics['accuracy/top1']) for p in e2e.evals] == [(1, 60.0), (2, 70.0), (3, 78.0), (4, 81.0)]
    assert e2e.curve() == [(1.5, 60.0), (3.0, 70.0), (4.5, 78.0), (6.0, 81.0)]
    # validation logged at step 0 (log_metric_by_epoch) is keyed by the training iteration instead
    assert [p.step for p in runs['ade_e2e'].evals] == [40, 80]
    assert runs['ade_e2e'].metrics['mIoU'] == 46.9 and 'mIoU-ms' not in runs['ade_e2e'].metrics


def test_test_dirs(runs_root, tmp_path):
    # a TTA test dir with no training run of its own is reported alone, as test only
    (run,) = collect_runs([runs_root / 'ade_e2e_ms'])
    assert run.status == 'test only' and run.metrics['mIoU-ms'] == 47.5 and 'mIoU' not in run.metrics
    # the same metrics without --ms-test and without a TTA config are plain test metrics
    (run,) = collect_runs([runs_root / 'ade_inc_ms'])
    assert run.metrics['mIoU'] == 49.8 and 'mIoU-ms' not in run.metrics
    # a folder of runs is expanded; a folder that holds none is an error naming it
    assert len(collect_runs([runs_root])) == len(RUN_ORDER) + 1 - 2  # both ms test dirs folded in
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match='empty'):
        cli(['report', str(tmp_path / 'empty'), '--out', str(tmp_path / 'out')])
    with pytest.raises(SystemExit, match='coco_e2e: no test results'):
        cli(['report', str(runs_root / 'e2e_vitb'), '--ms-test', str(runs_root / 'coco_e2e'), '--out', str(tmp_path)])
    # a work dir without a `benchmark` entry cannot be placed in a table: the error says so
    bare = write_work_dir(tmp_path / 'bare', None, dict(max_epochs=1), [('20260101_000000', [train_line(1, 1)])])
    with pytest.raises(SystemExit, match='bare: no `benchmark = dict'):
        cli(['report', str(bare), '--out', str(tmp_path / 'out')])


def test_speedup_on_constructed_curves():
    e2e = [(1.0, 50.0), (2.0, 70.0), (4.0, 80.0)]
    inc = [(0.5, 60.0), (1.0, 75.0), (2.0, 85.0)]
    result = speedup(e2e, inc)
    assert result.target == 80.0 and result.e2e_cost == 4.0
    assert result.reached_at == pytest.approx(1.5) and result.factor == pytest.approx(4.0 / 1.5)
    assert result.text() == '2.67x'
    assert reach_cost([(2.0, 81.0), (3.0, 90.0)], 80.0) == 2.0  # first point already above
    assert speedup(e2e, [(1.0, 60.0), (5.0, 79.9)]).text() == 'not reached'
    assert speedup(e2e, []).text() == 'no evaluation'
    assert speedup([], inc).text() == 'no E2E curve'


def test_speed_cli_tiny(tmp_path, capsys):
    path = tmp_path / 'speed.json'
    assert cli(['speed', '--arch', 'vit_tiny_test', '--batch', '2', '--steps', '2', '--warmup', '0',
                '--device', 'cpu', '--json', str(path), '--record', str(tmp_path / 'record.json')]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert 'timing 2 interleaved rounds' in captured.err and 'round 2/2 done' in captured.err  # each stage reported
    from benchmarks.records import read_record
    record = read_record(tmp_path / 'record.json')
    assert record['study'] == 'speed' and record['runs'][0]['rows'] == json.loads(path.read_text())['rows']
    labels = ['E2E (ours)', 'E2E (timm)'] + [f'{kind}, module {i}' for i in range(4)
                                             for kind in ('incubation', 'naive hybrid')]
    for label in labels:
        assert f'| {label} |' in out
    result = json.loads(path.read_text())
    rows = {r['name']: r for r in result['rows']}
    assert [r['label'] for r in result['rows']] == labels
    for row in rows.values():
        assert len(row) and row['time_ms'] > 0 and row['flops'] > 0 and row['peak_memory_mib'] > 0
    assert rows['e2e']['flops'] == rows['timm']['flops'] and rows['e2e']['params'] == rows['timm']['params']
    for i in range(4):
        inc, naive = rows[f'incubation_{i}'], rows[f'naive_{i}']
        assert inc['optimized_params'] == naive['optimized_params'] == inc['trainable_params']
        assert naive['trainable_params'] == naive['params'] > inc['trainable_params']
        # deterministic counts, not timings: fewer FLOPs and less memory than the naive hybrid
        assert inc['flops'] < naive['flops'] < rows['e2e']['flops']
        assert inc['peak_memory_mib'] < naive['peak_memory_mib']
    # a later module has a longer frozen prefix that runs without autograd: fewer FLOPs
    assert rows['incubation_3']['flops'] < rows['incubation_0']['flops']
    # FLOPs are counted on one sample and scaled: check that this is exact
    import torch

    from backbones import build_model
    from benchmarks.speed import _Config, train_step_flops

    model = build_model('vit_tiny_test')
    config = _Config('e2e', 'E2E', model, model.parameters(), 'e2e')
    x, y = torch.randn(3, 3, 32, 32), torch.randint(0, 10, (3,))
    assert train_step_flops(config, x, y) == 3 * train_step_flops(config, x[:1], y[:1]) == 3 * rows['e2e']['flops'] // 2
    targets = [t['target'] for t in result['targets']]
    assert targets[0] == 'E2E (ours) within 5% of E2E (timm)' and len(targets) == 1 + 3 * 4
    assert '| target | measured | met |' in out


def test_single_phase_run(runs_root):
    """One phase of a pipeline read on its own: in the table (labelled), off the cost axis."""
    from benchmarks.tables import build_tables

    runs = collect_runs([runs_root / 'e2e_vitb', runs_root / 'inc_vitb' / 'finetune'])
    phase = runs[1]
    assert (phase.kind, phase.phase, phase.method_label) == ('train', 'finetune', 'incubation 100+100 (finetune phase)')
    tables = {t.name: t for t in build_tables(runs)}
    imagenet = tables['imagenet']
    assert [imagenet.cell(i, 'method').text() for i in range(3)] == [
        'E2E', 'incubation 100+100 (finetune phase)', DELTA]
    assert [imagenet.cell(1, c).text() for c in ('top-1', 'top-1 (paper)', 'top-5')] == ['83.00', '82.4', '96.20']
    assert imagenet.cell(2, 'top-1').text() == '+2.00'
    assert tables['cost'].cell(1, 'total (h)').text() == '1.00'  # the fine-tune alone
    efficiency = tables['efficiency']
    # two rows, neither compared with the other: the phase (no E2E) and the E2E run (no incubation)
    assert [(efficiency.cell(i, 'E2E variant').text(), efficiency.cell(i, 'incubation variant').text())
            for i in range(len(efficiency.rows))] == [('–', '224'), ('224', '–')]
    assert efficiency.cell(0, 'speed-up').text() == efficiency.cell(1, 'speed-up').text() == '–'


# --- downstream runs and their upstream (backbone.json) ---------------------------------------


def _checkpoint(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def upstream_e2e(work: Path, variant, hours, flops, data: bytes) -> Path:
    """A finished ImageNet ViT-B E2E run; returns its final model (``WORK/model.pth``)."""
    write_work_dir(work, dict(task='imagenet', model='ViT-B', method='e2e', variant=variant),
                   dict(type='EpochBasedTrainLoop', max_epochs=1),
                   [('20260101_000000', [train_line(1, 10), val_line(1, top(81.0), hours, 1000)])],
                   cost=dict(device_hours=hours, images=1000, epoch=1, iter=10, flops=flops))
    return _checkpoint(work / 'model.pth', data)


def upstream_pipeline(base: Path, schedule, hours, flops, data: bytes) -> Path:
    """A finished ImageNet ViT-B 224 pipeline (manifest only); ``hours``/``flops``: (meta, each of
    the 4 incubations, fine-tune). Returns its final model (``BASE/finetune/model.pth``)."""
    benchmark = dict(task='imagenet', model='ViT-B', method='incubation', variant='224', schedule=schedule)
    final = base / 'finetune' / 'model.pth'
    records = ([PhaseRecord('meta', 'done', checkpoint=str(base / 'meta.pth'), metrics=top(60.0),
                            device_hours=hours[0], flops=int(flops[0]))]
               + [PhaseRecord(f'incubate_{i}', 'done', checkpoint=str(base / f'module_{i}.pth'), metrics=top(70.0),
                              device_hours=hours[1], flops=int(flops[1]), module_idx=i) for i in range(4)]
               + [PhaseRecord('assemble', 'done', checkpoint=str(base / 'assembled.pth'), device_hours=0.0),
                  PhaseRecord('finetune', 'done', checkpoint=str(final), metrics=top(82.0), device_hours=hours[2],
                              flops=int(flops[2]))])
    base.mkdir(parents=True)
    record.write_manifest(base, Manifest.from_phases('classification/configs/x.py', records, benchmark))
    return _checkpoint(final, data)


def downstream_run(work: Path, task, method, checkpoint, metrics, hours, flops=2e13, schedule='1x'):
    """A finished COCO / ADE20K ViT-B run fine-tuned from ``checkpoint`` (None: random weights), with
    the ``backbone.json`` that runtime.BackboneProvenanceHook writes (runtime.provenance.backbone_record)."""
    from runtime.provenance import BACKBONE_RECORD, backbone_record

    write_work_dir(work, dict(task=task, model='ViT-B', method=method, schedule=schedule),
                   dict(type='EpochBasedTrainLoop', max_epochs=1),
                   [('20260301_000000', [train_line(1, 10), val_line(1, metrics, hours, 100)])],
                   cost=dict(device_hours=hours, images=100, epoch=1, iter=10, flops=flops))
    (work / BACKBONE_RECORD).write_text(json.dumps(backbone_record(None if checkpoint is None else str(checkpoint))))
    return work


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:12]


@pytest.fixture(scope='module')
def downstream_report(tmp_path_factory):
    """COCO runs from four upstream runs: E2E 224 (10 h, 1 PFLOP), incubation 100+100 (6 h,
    600 TFLOP), incubation 25+25 (3 h, 300 TFLOP) and E2E 384 (1.5 h, 200 TFLOP); each COCO
    run 2 h + 0.5 h x i and 20 TFLOP of its own. ADE20K: one E2E and one 100+100 run."""
    root = tmp_path_factory.mktemp('downstream')
    up = root / 'upstream'
    e2e = upstream_e2e(up / 'e2e_224', '224', 10.0, 1e15, b'e2e-224')
    inc100 = upstream_pipeline(up / 'inc_100', '100+100', (2.0, 0.5, 2.0), (2e14, 5e13, 2e14), b'inc-100')
    inc25 = upstream_pipeline(up / 'inc_25', '25+25', (2.0, 0.125, 0.5), (2e14, 1.25e13, 5e13), b'inc-25')
    e2e384 = upstream_e2e(up / 'e2e_384', '384', 1.5, 2e14, b'e2e-384')
    box = lambda ap: {'coco/bbox_mAP': ap}  # noqa: E731
    names = []
    for name, method, ckpt, ap, hours in (('coco_e2e', 'e2e', e2e, 0.441, 2.0),
                                          ('coco_inc100', 'incubation', inc100, 0.457, 2.5),
                                          ('coco_inc25', 'incubation', inc25, 0.430, 2.25),
                                          ('coco_e2e384', 'e2e', e2e384, 0.450, 2.0)):
        names.append(downstream_run(root / name, 'coco', method, ckpt, box(ap), hours))
    for name, method, ckpt, miou in (('ade_e2e', 'e2e', e2e, 45.0), ('ade_inc100', 'incubation', inc100, 47.5)):
        names.append(downstream_run(root / name, 'ade20k', method, ckpt, dict(mIoU=miou, mAcc=55.0), 1.0,
                                    schedule='80k'))
    out = root / 'report'
    assert cli(['report', *map(str, names), '--out', str(out), '--quiet']) == 0
    return root, out


def _column(table, name):
    return [table.cell(i, name).text() for i in range(len(table.rows))]


def test_downstream_runs_carry_their_upstream(downstream_report):
    root, _ = downstream_report
    runs = {r.name: r for r in collect_runs([root / n for n in ('coco_e2e', 'coco_inc100', 'coco_inc25',
                                                                'coco_e2e384')])}
    assert runs['coco_inc100'].upstream.path == str(root / 'upstream' / 'inc_100')
    assert runs['coco_inc100'].upstream_label == 'incubation 224 100+100'
    assert runs['coco_e2e'].upstream_label == 'E2E 224' and runs['coco_e2e384'].upstream_label == 'E2E 384'
    assert runs['coco_inc25'].backbone_sha256[:12] == _sha(b'inc-25')
    assert runs['coco_inc100'].total_costs() == dict(train_device_hours=8.5, e2e_device_hours=None,
                                                     train_flops=6.2e14)
    # the upstream schedule and resolution are part of the key; E2E and incubation of one
    # upstream variant are paired (pair_key) whatever their schedules
    keys = {name: run.key for name, run in runs.items()}
    assert len(set(keys.values())) == 4
    assert runs['coco_inc100'].pair_key == runs['coco_inc25'].pair_key == runs['coco_e2e'].pair_key
    assert runs['coco_e2e384'].pair_key != runs['coco_e2e'].pair_key
    # read on its own too (read_run), and in runs.json
    from benchmarks.runs import read_run

    assert read_run(root / 'coco_inc25').upstream_label == 'incubation 224 25+25'
    saved = {r['name']: r for r in json.loads((downstream_report[1] / 'runs.json').read_text())}
    assert saved['coco_inc25']['upstream']['costs']['train_device_hours'] == 3.0
    assert saved['coco_inc25']['upstream']['total_costs']['train_device_hours'] == 5.25


def test_coco_table_adds_upstream_cost_and_splits_upstream_schedules(downstream_report):
    from benchmarks.report import write_report

    root, out = downstream_report
    written = write_report(collect_runs([root / n for n in ('coco_e2e', 'coco_inc100', 'coco_inc25', 'coco_e2e384',
                                                            'ade_e2e', 'ade_inc100')]), root / 'again')
    coco = written['tables']['coco']
    assert 'pre-training GPU-h (paper)' not in coco.columns  # reference.json has none for COCO
    # (b) the 100+100 and the 25+25 upstream: two rows, each with its Δ against the one E2E run;
    # the E2E 384 upstream is another comparison (no incubation run from a 384 upstream)
    assert _column(coco, 'method') == ['E2E', 'incubation 100+100', 'incubation 25+25',
                                       'Δ (incubation 100+100 − E2E)', 'Δ (incubation 25+25 − E2E)',
                                       'E2E', 'incubation', DELTA]
    assert _column(coco, 'status') == ['done'] * 5 + ['done', 'no run', '–']
    assert _column(coco, 'APb') == ['44.10', '45.70', '43.00', '+1.60', '-1.10', '45.00', '–', '–']
    assert _column(coco, 'upstream') == ['E2E 224', 'incubation 224 100+100', 'incubation 224 25+25', '', '',
                                         'E2E 384', '–', '']
    assert _column(coco, 'backbone sha256') == [_sha(b'e2e-224'), _sha(b'inc-100'), _sha(b'inc-25'), '', '',
                                                _sha(b'e2e-384'), '–', '']
    # (a) total = upstream + downstream, in device-hours and FLOPs; Δ of each
    assert _column(coco, 'upstream training device-h') == ['10.00', '6.00', '3.00', '-4.00', '-7.00', '1.50', '–',
                                                           '–']
    assert _column(coco, 'total training device-h (upstream + downstream)') == [
        '12.00', '8.50', '5.25', '-3.50', '-6.75', '3.50', '–', '–']
    assert _column(coco, 'upstream training FLOPs') == ['1 PFLOP', '600 TFLOP', '300 TFLOP', '-400 TFLOP',
                                                        '-700 TFLOP', '200 TFLOP', '–', '–']
    assert _column(coco, 'total training FLOPs (upstream + downstream)') == [
        '1.02 PFLOP', '620 TFLOP', '320 TFLOP', '-400 TFLOP', '-700 TFLOP', '220 TFLOP', '–', '–']
    # the files the command wrote say the same (Markdown and CSV)
    header, rows = read_md(out / 'coco.md')
    assert rows[2][header.index('method')] == 'incubation 25+25' and rows[2][header.index('upstream')] == (
        'incubation 224 25+25')
    header, rows = read_csv(out / 'coco.csv')
    assert [float(r[header.index('total training device-h (upstream + downstream)')]) for r in rows[:3]] == [
        12.0, 8.5, 5.25]
    # ADE20K: the measured costs, and the paper's pre-training cost labelled as the paper's
    ade = written['tables']['ade20k']
    assert ade.columns[-1] == 'pre-training GPU-h (paper)'
    assert _column(ade, 'total training device-h (upstream + downstream)') == ['11.00', '7.00', '-4.00']
    assert _column(ade, 'mIoU') == ['45.00', '47.50', '+2.50']
    # one score-vs-total-cost plot per downstream task
    for stem in ('score_vs_total_cost_coco', 'score_vs_total_cost_ade20k'):
        assert (out / f'{stem}.png').read_bytes().startswith(b'\x89PNG')
    assert 'total training FLOPs (upstream + downstream' in (out / 'score_vs_total_cost_coco.svg').read_text()


def test_downstream_run_whose_upstream_is_gone(tmp_path):
    import shutil

    e2e = upstream_e2e(tmp_path / 'up_e2e', '224', 10.0, 1e15, b'e2e')
    inc = upstream_pipeline(tmp_path / 'up_inc', '100+100', (2.0, 0.5, 2.0), (2e14, 5e13, 2e14), b'inc')
    runs = [downstream_run(tmp_path / 'coco_e2e', 'coco', 'e2e', e2e, {'coco/bbox_mAP': 0.441}, 2.0),
            downstream_run(tmp_path / 'coco_inc', 'coco', 'incubation', inc, {'coco/bbox_mAP': 0.457}, 2.5),
            downstream_run(tmp_path / 'coco_random', 'coco', 'e2e', None, {'coco/bbox_mAP': 0.20}, 2.0,
                           schedule='1x-random')]
    shutil.rmtree(tmp_path / 'up_inc')
    out = tmp_path / 'out'
    assert cli(['report', *map(str, runs), '--out', str(out), '--quiet']) == 0
    header, rows = read_md(out / 'coco.md')
    col = lambda name: [r[header.index(name)] for r in rows]  # noqa: E731
    # still reported and still compared with the E2E run; its upstream cost and total are missing
    assert col('method') == ['E2E', 'incubation', DELTA, 'E2E', 'incubation', DELTA]
    assert col('upstream') == ['E2E 224', 'incubation (upstream not found)', '', 'random init', '–', '']
    assert col('backbone sha256') == [_sha(b'e2e'), _sha(b'inc'), '', 'random', '–', '']
    assert col('APb')[:3] == ['44.10', '45.70', '+1.60']
    assert col('upstream training device-h') == ['10.00', '–', '–', '0', '–', '–']
    assert col('total training device-h (upstream + downstream)') == ['12.00', '–', '–', '2.00', '–', '–']
    text = (out / 'coco.md').read_text()
    assert f'coco_inc (upstream not found: {tmp_path / "up_inc"})' in text
    # a damaged backbone.json is named, not raised
    (tmp_path / 'coco_inc' / 'backbone.json').write_text('{"init": ')
    (run,) = collect_runs([tmp_path / 'coco_inc'])
    assert run.upstream is None and run.upstream_label == '(backbone.json unreadable)'
    assert run.total_costs()['train_device_hours'] is None


# --- the run-record contract (runtime.record) ------------------------------------------------


def _records(hours):
    """Phase records of a finished pipeline with these device-hours per phase."""
    return [PhaseRecord(name, 'done', checkpoint=f'{name}.pth', metrics=top(70.0), device_hours=h,
                        module_idx=int(name.split('_')[1]) if record.is_incubation(name) else None)
            for name, h in hours.items()]


def test_critical_path_from_records():
    hours = {'meta': 1.0, 'incubate_0': 0.5, 'incubate_1': 2.0, 'incubate_2': 0.25, 'incubate_3': 1.5,
             'assemble': 0.0, 'finetune': 0.75}
    manifest = Manifest.from_phases('p.py', _records(hours), dict(task='digits', model='m', method='incubation'))
    # the K incubations run at once: only the slowest one is on the critical path
    assert manifest.cost['wall_hours_parallel'] == record.critical_path(hours) == 1.0 + 2.0 + 0.0 + 0.75
    assert manifest.cost['device_hours'] == pytest.approx(6.0)
    assert manifest.final == dict(checkpoint='finetune.pth', metrics=top(70.0))
    # unknown costs (a partial run) count as nothing; without incubations it is the plain sum
    assert record.critical_path({'meta': 1.0, 'incubate_0': None, 'incubate_1': 0.5, 'finetune': None}) == 1.5
    assert record.critical_path({'train': 2.0}) == 2.0
    # the artifact each role exports (the pipeline waits for these files)
    assert [record.artifact_name(*role) for role in (('meta',), ('hybrid', 2), ('target',), ('assembled',))] == [
        'meta.pth', 'module_2.pth', 'model.pth', 'model.pth']
    with pytest.raises(ValueError, match='role hybrid needs module_idx'):
        record.artifact_name('hybrid')


def test_manifest_versions_are_checked(tmp_path):
    hours = {'meta': 1.0, 'incubate_0': 0.5, 'assemble': 0.0, 'finetune': 0.5}
    manifest = Manifest.from_phases('p.py', _records(hours), dict(task='digits', model='m', method='incubation'))
    written = record.write_manifest(tmp_path, manifest)
    assert (written['format'], written['version']) == ('incubation-manifest', record.MANIFEST_VERSION)
    assert record.read_manifest(tmp_path) == manifest  # the JSON round trip keeps every field
    path = tmp_path / 'manifest.json'
    path.write_text(json.dumps(dict(written, version=99)))
    with pytest.raises(RecordError, match=r'manifest\.json: manifest version 99 is not supported; this code reads '
                                          r'version\(s\) 1'):
        record.read_manifest(tmp_path)
    # the report refuses it with the same message rather than misreading it
    with pytest.raises(SystemExit, match='manifest version 99 is not supported'):
        cli(['report', str(tmp_path), '--out', str(tmp_path / 'out'), '--quiet'])
    path.write_text(json.dumps(dict(written, format='something-else')))
    with pytest.raises(RecordError, match=r"manifest\.json: not an incubation manifest \(format 'something-else'"):
        record.read_manifest(tmp_path)
    path.write_text(json.dumps(written)[:40])  # a torn file
    with pytest.raises(RecordError, match=r'manifest\.json: not valid JSON'):
        record.read_manifest(tmp_path)


def test_damaged_records_are_named(tmp_path):
    session = tmp_path / 'work' / '20260101_000000' / 'vis_data'
    session.mkdir(parents=True)
    lines = [json.dumps(train_line(1, 10)), json.dumps(val_line(1, top(50.0), 0.1, 10))]
    # a run killed while writing leaves a cut-off last line: skipped
    (session / 'scalars.json').write_text('\n'.join(lines) + '\n{"accuracy/top1": 6')
    assert record.last_val_metrics(tmp_path / 'work') == top(50.0)
    # a damaged line before the end is not a kill: the file and the line are named
    (session / 'scalars.json').write_text('\n'.join([lines[0], '{"iter": 1', lines[1]]) + '\n')
    with pytest.raises(RecordError, match=r'scalars\.json: line 2 is not valid JSON'):
        record.last_val_metrics(tmp_path / 'work')
    (tmp_path / 'work' / 'cost.json').write_text('{"device_hours": ')
    with pytest.raises(RecordError, match=r'work/cost\.json: not valid JSON'):
        record.read_cost(tmp_path / 'work')


def test_record_and_launch_import_without_torch():
    import subprocess
    import sys

    code = 'import sys, runtime.record, runtime.launch; print(sorted({"torch", "mmengine"} & set(sys.modules)))'
    out = subprocess.run([sys.executable, '-c', code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


def test_supervise_runs_at_most_n_and_stops_the_rest_on_failure(tmp_path):
    """runtime.launch: the queue the pipeline and `reproduce` run their processes through."""
    import time

    from runtime.launch import Command, LocalBackend, python_argv, supervise, tail

    scripts = {'a': 'print("a done")', 'b': 'print("b done")',
               'c': 'import sys, time; time.sleep(1); print("c fails"); sys.exit(3)',  # after a and b have ended
               'd': 'import time; time.sleep(60)'}
    backend, jobs, running, most = LocalBackend(), {}, set(), [0]

    def start(name, slot):
        running.add(name)
        most[0] = max(most[0], len(running))
        jobs[name] = backend.start(Command(python_argv('-c', scripts[name]), str(tmp_path / f'{name}.out')))
        return jobs[name]

    def on_exit(name, job, code):
        running.discard(name)
        if code:
            raise RuntimeError(f'{name} exited with {code}')

    begin = time.monotonic()
    with pytest.raises(RuntimeError, match='c exited with 3'):
        supervise(list(scripts), start, 2, on_exit, poll_seconds=0.05)
    assert most[0] == 2 and set(jobs) == set(scripts)
    assert jobs['d'].poll() is not None and time.monotonic() - begin < 30  # stopped, not waited for
    assert tail(str(tmp_path / 'a.out')) == 'a done\n' and 'c fails' in tail(str(tmp_path / 'c.out'))


# --- seeds and depth (the Fashion-MNIST depth study's report) ---------------------------------


def test_mean_std_and_its_cells():
    from benchmarks.analysis import mean_std
    from benchmarks.render import Cell

    three = mean_std([84.0, 86.0, 88.0])
    assert (three.mean, three.std, three.n, three.of) == (86.0, 2.0, 3, 3)
    assert Cell(three, 'meanstd:metric').text() == '86.00 ± 2.00'
    assert Cell(three, 'meanstd:metric').csv() == '86;2;3'
    partial = mean_std([1.5e12, None, 2.5e12])  # a run without the record: left out, not counted as 0
    assert (partial.mean, partial.n, partial.of) == (2e12, 2, 3)
    assert Cell(partial, 'meanstd:flops').text() == '2 TFLOP ± 707 GFLOP (n=2 of 3)'
    assert Cell(mean_std([0.5]), 'meanstd:hours').text() == '0.500'  # one seed: no spread to show
    assert mean_std([None, None]) is None and Cell(mean_std([None]), 'meanstd:hours').text() == '–'
    assert Cell(mean_std([-1.0, -3.0]), 'meanstd:delta').text() == '-2.00 ± 1.41'


def _fashion_work_dir(work: Path, depth, method, seed, top1s, hours, flops, images=1000, e2e_hours=None, **extra):
    """A finished epoch-based work dir of the depth study; cost.json with the three costs (None: absent)."""
    benchmark = dict(task='fashion', model=f'ViT-D{depth}-W64', variant='16px-5k', method=method, **extra)
    lines = []
    for epoch, t1 in enumerate(top1s, start=1):
        lines += [train_line(epoch, epoch * 10), val_line(epoch, top(t1), hours * epoch / len(top1s),
                                                          images * epoch // len(top1s))]
    cost = dict(device_hours=hours, images=images, epoch=len(top1s), iter=len(top1s) * 10)
    cost.update({k: v for k, v in (('flops', flops), ('e2e_device_hours', e2e_hours)) if v is not None})
    return write_work_dir(work, benchmark, dict(type='EpochBasedTrainLoop', max_epochs=len(top1s)),
                          [('20260301_000000', lines)], cost=cost, randomness=dict(seed=seed))


def _fashion_pipeline(base: Path, depth, seed, final, flops_per_phase):
    """A finished incubation pipeline whose phase work dirs record FLOPs (meta, 2 incubations, fine-tune)."""
    benchmark = dict(task='fashion', model=f'ViT-D{depth}-W64', variant='16px-5k', method='incubation',
                     schedule='3+5')
    base.mkdir(parents=True)
    records = []
    for name in ('meta', 'incubate_0', 'incubate_1', 'assemble', 'finetune'):
        if name == 'assemble':
            records.append(PhaseRecord(name, 'done', work_dir=str(base / name), metrics=top(20.0), device_hours=0.0,
                                       images=0))
            continue
        top1s = [final - 2.0, final] if name == 'finetune' else [50.0]
        _fashion_work_dir(base / name, depth, 'incubation', seed, top1s, 0.25, flops_per_phase, phase=name)
        records.append(PhaseRecord(name, 'done', work_dir=str(base / name), checkpoint=str(base / name / 'x.pth'),
                                   metrics=top(top1s[-1]), device_hours=0.25, images=1000,
                                   module_idx=int(name[-1]) if record.is_incubation(name) else None))
    record.write_manifest(base, Manifest.from_phases('classification/configs/x.py', records, benchmark))
    return base


@pytest.fixture(scope='module')
def depth_study(tmp_path_factory):
    """Depths 8 and 32 x seeds 0, 1, 2: E2E loses accuracy with depth, incubation gains; the
    depth-8 E2E runs record no end-to-end hours, the depth-32 seed-2 E2E run no FLOPs."""
    root = tmp_path_factory.mktemp('depth')
    for depth, e2e_top1, inc_top1 in ((8, 80.0, 79.0), (32, 76.0, 82.0)):
        for seed in (0, 1, 2):
            flops = None if (depth, seed) == (32, 2) else 4e12 * depth / 8
            _fashion_work_dir(root / f'd{depth}_e2e_seed{seed}', depth, 'e2e', seed,
                              [e2e_top1 - 5, e2e_top1 + seed], 1.0 * depth / 8, flops,
                              e2e_hours=None if depth == 8 else 1.5 * depth / 8)
            _fashion_pipeline(root / f'd{depth}_incubation_seed{seed}', depth, seed, inc_top1 + 2 * seed,
                              1e12 * depth / 8)
    return root


def test_depth_table_groups_seeds(depth_study, tmp_path):
    from benchmarks.report import write_report

    runs = collect_runs([depth_study])
    assert {r.seed for r in runs} == {0, 1, 2} and {r.depth for r in runs} == {8, 32}
    pipeline = next(r for r in runs if r.name == 'd8_incubation_seed0')
    assert pipeline.costs() == dict(train_device_hours=1.0, e2e_device_hours=None, train_flops=4e12)
    written = write_report(runs, tmp_path / 'out')
    table = written['tables']['depth_fashion_ViT-W64_16px-5k']
    col = lambda name: [table.cell(i, name).text() for i in range(len(table.rows))]  # noqa: E731
    assert col('depth') == ['8', '8', '8', '32', '32', '32']
    assert col('method') == ['E2E', 'incubation', DELTA, 'E2E', 'incubation', DELTA]
    assert col('seeds') == ['0, 1, 2'] * 6
    # top-1: mean ± std over seeds; Δ: the per-seed differences (inc 79 + 2s vs E2E 80 + s)
    assert col('top-1') == ['81.00 ± 1.00', '81.00 ± 2.00', '+0.00 ± 1.00', '77.00 ± 1.00', '84.00 ± 2.00',
                            '+7.00 ± 1.00']
    assert col('training device-h') == ['1.00 ± 0', '1.00 ± 0', '', '4.00 ± 0', '1.00 ± 0', '']
    # E2E at depth 8 records no end-to-end hours: missing, not 0; neither does any pipeline phase here
    assert col('end-to-end device-h') == ['–', '–', '', '6.00 ± 0', '–', '']
    # FLOPs: E2E's, and the sum over meta, incubations and fine-tune; one E2E run without them
    assert col('training FLOPs') == ['4 TFLOP ± 0', '4 TFLOP ± 0', '', '16 TFLOP ± 0 (n=2 of 3)', '16 TFLOP ± 0', '']
    assert col('cost ratio to E2E (training FLOPs)') == ['', '1.00x', '', '', '1.00x', '']
    assert any('training FLOPs' in note for note in table.notes)
    assert table.to_csv().splitlines()[1].startswith('ViT-D8-W64,8,16px-5k,E2E,"0, 1, 2",done,81;1;3,1;0;3,,4e+12;0;3')
    names = {p.name for p in written['plots']}
    assert {'depth_fashion_ViT-W64_16px-5k.png', 'depth_fashion_ViT-W64_16px-5k.svg',
            'efficiency_seeds_fashion_ViT-D8-W64_16px-5k.png', 'efficiency_seeds_fashion_ViT-D32-W64_16px-5k.png'} <= names
    assert '![depth_fashion_ViT-W64_16px-5k](depth_fashion_ViT-W64_16px-5k.png)' in written['report'].read_text()
    # the per-run table compares each incubation run with the E2E run of its seed
    per_run = written['tables']['fashion']
    deltas = [per_run.cell(i, 'top-1').text() for i, row in enumerate(per_run.rows) if row[2].text().startswith('Δ')]
    assert deltas == ['+6.00', '+7.00', '+8.00', '-1.00', '+0.00', '+1.00']  # in the order read (d32 first)


def test_flops_curve_and_seed_band(depth_study):
    from benchmarks.analysis import band

    runs = {r.name: r for r in collect_runs([depth_study])}
    # E2E: 4 TFLOP over 1000 images, evaluated after 500 and 1000
    assert runs['d8_e2e_seed1'].curve(cost='train_flops') == [(2e12, 75.0), (4e12, 81.0)]
    # incubation: meta + 2 incubations (3 TFLOP) before the fine-tune's own evaluations
    assert runs['d8_incubation_seed0'].curve(cost='train_flops') == [(3.5e12, 77.0), (4e12, 79.0)]
    assert runs['d32_e2e_seed2'].curve(cost='train_flops') == []  # no FLOPs record: no curve, not a zero one
    points = band([runs[f'd8_e2e_seed{s}'].curve(cost='train_flops') for s in (0, 1, 2)])
    assert [(x, y, round(sd, 6), n) for x, y, sd, n in points] == [(2e12, 75.0, 0.0, 3), (4e12, 81.0, 1.0, 3)]


def test_schedules_without_seeds_are_no_depth_study(runs_root):
    from benchmarks.tables import depth_studies

    # two m+n schedules of ViT-B differ by more than a seed: they stay rows of the per-run tables
    assert depth_studies(collect_runs([runs_root / n for n in RUN_ORDER])) == []


@pytest.mark.parametrize('command', [c[0] for c in available_commands()])
def test_every_command_explains_itself(command, capsys):
    """``--help`` renders for every subcommand (a '%' in a generated help text once crashed argparse)."""
    with pytest.raises(SystemExit) as exit_info:
        cli([command, '--help'])
    assert exit_info.value.code == 0
    assert f'python -m benchmarks {command}' in capsys.readouterr().out


def test_one_rule_for_a_paired_difference_over_seeds():
    """Two standard errors: the rule behind every verdict, control separation and gate."""
    assert beyond_two_se(mean_std([1.0, 1.1, 0.9])) == 1      # mean 1.0, se 0.058
    assert beyond_two_se(mean_std([-1.0, -1.1, -0.9])) == -1
    assert beyond_two_se(mean_std([1.0, -0.5, 2.0])) == 0     # mean 0.83, se 0.73
    assert beyond_two_se(mean_std([5.0])) is None and beyond_two_se(None) is None
    from benchmarks.probe_table import separation
    runs = [dict(method=m, seed=s, score=v) for m, s, v in [('random', 0, 1.0), ('random', 1, 2.0), ('e2e', 0, 3.0),
                                                             ('e2e', 1, 4.1), ('incubation', 0, 1.5), ('incubation', 1, 1.0)]]
    sep = separation(runs, 'score')
    assert sep['e2e']['separates'] and not sep['incubation']['separates']


def test_every_configs_task_is_registered_once():
    """One vocabulary: the task of every config (``benchmark.task``) is a registered task, whose
    kind is the suite's word for it; a task registered twice or of an unknown kind is refused."""
    import re as re_

    from benchmarks.suite import TASKS as SUITE_KINDS
    from benchmarks.tasks import TASKS, Task, get_task, register, task_names

    found = set()
    for folder in ('classification', 'detection', 'segmentation'):
        for path in (ROOT / folder / 'configs').rglob('*.py'):
            found |= set(re_.findall(r"task='([\w-]+)'", path.read_text()))
    assert found and found <= set(TASKS), found - set(TASKS)
    assert set(task_names('downstream')) == {t for t in TASKS if get_task(t).kind in SUITE_KINDS}
    assert get_task('fashion-scenes-seg').primary == 'mIoU' and get_task('coco').label('coco/segm_mAP') == 'APm'
    assert get_task('my-task').title == 'my-task'  # an unregistered task still gets a table
    with pytest.raises(ValueError, match='registered twice'):
        register(Task('coco', 'det', 'again', (('coco/bbox_mAP', 'APb'),)))
    with pytest.raises(ValueError, match='kind'):
        Task('voc', 'detection', 'VOC', (('mAP', 'mAP'),))
