"""`python -m benchmarks reproduce --preset fashion-smoke`: the depth study's whole path at toy size.

Generated Fashion-MNIST idx files (the real format, 20 training and 10 test images a class),
one epoch a phase, depth 8, seeds 0 and 1: E2E (tools/train.py) and the incubation pipeline
(tools/incubate.py) for each seed, two processes at a time, then the report. Run again, it
trains nothing. The depth table's aggregation across depths is tested on synthetic work dirs
in test_benchmarks.py.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_fashion_idx

from benchmarks.__main__ import main as cli
from benchmarks.fashion_study import FASHION_PRESETS, config_for, plan

TABLE = 'depth_fashion_ViT-W64_16px-5k'
COSTS = ['training device-h', 'end-to-end device-h', 'training FLOPs']


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('fashion')
    data = tmp / 'fashion-mnist'
    write_fashion_idx(data, {'train': 20, 'test': 10})
    work = tmp / 'work'
    args = ['reproduce', '--preset', 'fashion-smoke', '--depths', '8', '--seeds', '0', '1',
            '--work-dir', str(work), '--data-root', str(data)]
    with pytest.MonkeyPatch.context() as env:
        env.setenv('INCUBATION_VIT_CACHE', str(tmp / 'cache'))  # the decompressed idx files
        assert cli(args) == 0
        yield work, args


def test_plan_uses_each_depths_configs_and_resumes(tmp_path):
    runs = plan(FASHION_PRESETS['fashion'], (8, 32), (0, 1, 2), str(tmp_path), 'cpu')
    # one meta model per seed, shared by every depth, then the cells deepest first
    assert [r.name for r in runs[:3]] == ['meta_seed0_data100', 'meta_seed1_data100', 'meta_seed2_data100']
    assert [(r.depth, r.seed, r.method) for r in runs][3:7] == [(32, 0, 'e2e'), (32, 0, 'incubation'),
                                                                (32, 1, 'e2e'), (32, 1, 'incubation')]
    assert len(runs) == 15 and len({r.work_dir for r in runs}) == 15
    e2e, inc = runs[3].argv, runs[4].argv
    assert e2e[2].endswith('vit-fashion-d32_e2e_20e_fashion.py') and '--resume' in e2e
    assert inc[2].endswith('vit-fashion-d32_incubation_10e+5e_fashion.py') and 'randomness.seed=0' in inc
    assert inc[inc.index('--meta') + 1] == str(tmp_path / 'meta_seed0_data100' / 'meta.pth')
    assert runs[4].needs == (runs[0].work_dir,)
    assert not any('epochs' in word for word in inc[3:]), 'the full preset keeps each side\'s configured schedule'
    assert config_for(16, 'e2e', 'cuda').endswith('vit-fashion-d16_e2e_50e_fashion-full.py')
    # the data cells: a share of the same 5,000 images, their own variant; the 100% cell is the depth study's
    data = plan(FASHION_PRESETS['fashion-data'], (32,), (0,), str(tmp_path), 'cpu')
    assert [r.name for r in data] == ['meta_seed0_data100', 'meta_seed0_data50', 'meta_seed0_data25',
                                      'd32_e2e_seed0', 'd32_incubation_seed0', 'd32_e2e_seed0_data50',
                                      'd32_incubation_seed0_data50', 'd32_e2e_seed0_data25',
                                      'd32_incubation_seed0_data25']
    quarter = data[7].argv
    assert {'train_dataloader.dataset.subset.per_class=125', 'train_dataloader.dataset.subset.within=500',
            'benchmark.variant=16px-5k-subset25'} <= set(quarter)
    # equal steps: each share trains 100 / share times the full share's epochs (not the meta model)
    steps = plan(FASHION_PRESETS['fashion-data-steps'], (32,), (0,), str(tmp_path), 'cpu')
    assert [r.name for r in steps] == ['meta_seed0_data50', 'meta_seed0_data25', 'd32_e2e_seed0_data50_steps',
                                       'd32_incubation_seed0_data50_steps', 'd32_e2e_seed0_data25_steps',
                                       'd32_incubation_seed0_data25_steps']
    assert {'train_cfg.max_epochs=80', 'benchmark.variant=16px-5k-subset25-steps'} <= set(steps[4].argv)
    argv = steps[5].argv
    assert argv[argv.index('--incubate-epochs') + 1] == '40' and argv[argv.index('--finetune-epochs') + 1] == '20'
    assert argv[argv.index('--meta') + 1] == str(tmp_path / 'meta_seed0_data25' / 'meta.pth')
    assert not any('max_epochs' in word for word in steps[1].argv), 'the meta model keeps its epochs'
    long = plan(FASHION_PRESETS['fashion-2x'], (32,), (0,), str(tmp_path), 'cpu')
    assert [r.name for r in long] == ['meta_seed0_data100', 'd32_e2e_seed0_2x', 'd32_incubation_seed0_2x']
    assert 'train_cfg.max_epochs=40' in long[1].argv
    argv = long[2].argv
    assert argv[argv.index('--incubate-epochs') + 1] == '23' and argv[argv.index('--finetune-epochs') + 1] == '10'


def _rows(work: Path):
    with open(work / 'report' / f'{TABLE}.csv') as f:
        return list(csv.DictReader(io.StringIO(f.read())))


def test_smoke_preset_end_to_end(smoke, capsys):
    work, args = smoke
    rows = _rows(work)
    assert [(r['depth'], r['method'], r['seeds'], r['status']) for r in rows] == [
        ('8', 'E2E', '0, 1', 'done'), ('8', 'incubation', '0, 1', 'done'), ('8', 'Δ (incubation − E2E)', '0, 1', 'done')]
    for row in rows[:2]:
        mean, std, n = row['top-1'].split(';')
        assert 0 <= float(mean) <= 100 and float(std) >= 0 and n == '2'
        mean, std, n = row['training device-h'].split(';')
        assert float(mean) > 0 and n == '2'
        for cost in COSTS[1:]:  # recorded where the cost hooks write them, else missing (empty), never 0
            assert row[cost] == '' or float(row[cost].split(';')[0]) > 0
    markdown = (work / 'report' / f'{TABLE}.md').read_text()
    assert all(c in markdown for c in COSTS) and ' ± ' in markdown
    plots = {p.name for p in (work / 'report').iterdir()}
    assert {f'{TABLE}.png', f'{TABLE}.svg', 'efficiency_seeds_fashion_ViT-D8-W64_16px-5k.png'} <= plots
    # the generated data was read: 200 training images an epoch (3 batches of 64), 100 evaluated
    cost = (work / 'd8_e2e_seed0' / 'cost.json').read_text()
    assert '"images": 192' in cost

    # again: every run is finished, nothing trains, the same report (the fixture's environment still holds)
    capsys.readouterr()
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert out.count('finished before, skipped') == 6 and '[fashion] start' not in out
    assert 'training: 0 run(s)' in out
    assert [r['top-1'] for r in _rows(work)] == [r['top-1'] for r in rows]
    assert np.isfinite([float(r['top-1'].split(';')[0]) for r in rows]).all()
    # the study's result record: the command, the seeds, every run with its last metrics and final checkpoints
    from benchmarks.records import read_record, record_runs
    record = read_record(work / 'results.json')
    assert Path(record['command'][0]).name.startswith('python') and record['command'][1:3] == ['-m', 'benchmarks']
    assert record['seeds'] == [0, 1] and len(record_runs(record)) == 4
    assert all(e['checkpoints'] and e['best']['label'] == 'best' for e in record['runs'])
    summary = next(line for line in out.splitlines() if line.startswith('[fashion] 0 run(s) in'))  # the progress summary
    assert 'd8_e2e_seed0' in summary.split('finished before: ')[1] and 'meta_seed0_data100' in summary


def test_deep_and_data_presets_share_cells_at_toy_size(smoke, capsys):
    """fashion-data and fashion-deep at toy size, in the smoke preset's work dir: the cells they
    share with it (depth 8 at 100%, the seed's meta model) are not trained again."""
    work, args = smoke
    data_root = args[args.index('--data-root') + 1]
    common = ['--smoke', '--seeds', '0', '--work-dir', str(work), '--data-root', data_root]
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as env:
        env.setenv('INCUBATION_VIT_CACHE', str(work.parent / 'cache'))
        assert cli(['reproduce', '--preset', 'fashion-data', '--depths', '8', '--data', '100', '25', *common]) == 0
        out = capsys.readouterr().out
        for shared in ('meta_seed0_data100', 'd8_e2e_seed0', 'd8_incubation_seed0'):
            assert f'{shared}: finished before, skipped' in out
        assert out.count('[fashion] start') == 3  # the 25% meta model, E2E run and pipeline
        # fashion-deep's path at depth 16 (its depth-64 configs are built in test_classification.py;
        # at 64 blocks the toy runs alone took about a minute)
        assert cli(['reproduce', '--preset', 'fashion-deep', '--depths', '16', *common]) == 0
        out = capsys.readouterr().out
        assert 'meta_seed0_data100: finished before, skipped' in out and out.count('[fashion] start') == 2
        # equal steps at 25%: the 25% meta model is shared, E2E and the pipeline train 4x the epochs
        assert cli(['reproduce', '--preset', 'fashion-data-steps', '--depths', '8', '--data', '50', '25', *common]) == 0
        out = capsys.readouterr().out
    assert 'meta_seed0_data25: finished before, skipped' in out
    full = json.loads((work / 'd8_e2e_seed0' / 'cost.json').read_text())['images']
    assert json.loads((work / 'd8_e2e_seed0_data25_steps' / 'cost.json').read_text())['images'] == 4 * 48 <= full
    with open(work / 'report-fashion-data-steps' / 'data_fashion_ViT-D8-W64_16px-5k-steps.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['data (%)'], r['variant']) for r in rows if r['method'] == 'E2E'] == [
        ('25', '16px-5k-subset25-steps'), ('50', '16px-5k-subset50-steps')]
    assert (work / 'report-fashion-data-steps' / 'data_fashion_ViT-D8-W64_16px-5k.csv').is_file(), 'beside the epochs'
    # 25% of the 200 images, drawn from them: 50 images, 3 batches of 16
    assert '"images": 48' in (work / 'd8_e2e_seed0_data25' / 'cost.json').read_text()
    with open(work / 'report-fashion-data' / 'data_fashion_ViT-D8-W64_16px-5k.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['data (%)'], r['method']) for r in rows] == [
        (f, m) for f in ('25', '100') for m in ('E2E', 'incubation', 'Δ (incubation − E2E)')]
    # the shared meta model's cost is charged to every pipeline that uses it
    meta = json.loads((work / 'meta_seed0_data25' / 'cost.json').read_text())
    runs = json.loads((work / 'report-fashion-data' / 'runs.json').read_text())
    inc = next(r for r in runs if r['name'] == 'd8_incubation_seed0_data25')
    own = sum(json.loads((work / inc['name'] / p / 'cost.json').read_text())['flops']
              for p in ('incubate_0', 'incubate_1', 'incubate_2', 'incubate_3', 'finetune'))
    assert inc['costs']['train_flops'] == pytest.approx(own + meta['flops'])
    report = work / 'report-fashion-data'
    assert 'meta_seed0_data25' in (report / 'data_fashion_ViT-D8-W64_16px-5k.md').read_text()  # the note says so
    with open(report / 'phases_fashion.csv') as f:
        phases = list(csv.DictReader(f))
    assert [r['variant'] for r in phases] == ['16px-5k-subset25', '16px-5k']
    assert all(r['meta'] and r['assembled, before fine-tune'] and r['incubate_3 (hybrid)'] for r in phases)
    assert (report / 'data_fashion_ViT-D8-W64_16px-5k.png').read_bytes().startswith(b'\x89PNG')
    with open(work / 'report-fashion-deep' / 'depth_fashion_ViT-W64_16px-5k.csv') as f:
        depths = [r['depth'] for r in csv.DictReader(f)]
    assert depths == ['8'] * 3 + ['16'] * 3


def test_depth_table_and_figures_generated_from_the_record(smoke, tmp_path, capsys):
    """The study's record alone regenerates its depth table and figures in a document (no work dir read)."""
    import shutil

    from benchmarks.results import figure_digest

    work, _ = smoke
    (tmp_path / 'docs' / 'results').mkdir(parents=True)
    shutil.copyfile(work / 'results.json', tmp_path / 'docs' / 'results' / 'smoke.json')
    blocks = ''.join(f'<!-- generated: {name} from docs/results/smoke.json -->\n<!-- end generated -->\n'
                     for name in ('depth-table', 'depth-figure', 'efficiency-figure'))
    (tmp_path / 'README.md').write_text('# x\n\n' + blocks)
    assert cli(['results', '--check', '--root', str(tmp_path)]) == 1
    assert cli(['results', '--write', '--root', str(tmp_path)]) == 0
    text = (tmp_path / 'README.md').read_text()
    assert '| Δ (incubation − E2E) |' in text and '](docs/figures/smoke_depth.png)' in text
    for kind in ('depth', 'efficiency'):
        assert figure_digest(tmp_path / 'docs' / 'figures' / f'smoke_{kind}.png')
    capsys.readouterr()
    assert cli(['results', '--check', '--root', str(tmp_path)]) == 0
    (tmp_path / 'docs' / 'figures' / 'smoke_depth.png').unlink()
    assert cli(['results', '--check', '--root', str(tmp_path)]) == 1
    assert 'figure docs/figures/smoke_depth.png is missing' in capsys.readouterr().out


def test_incubation_epochs_follow_the_flop_rule_at_every_depth(tmp_path):
    """Each depth's incubation epochs are what E2E's training FLOPs leave after the meta model
    (E epochs) and the fine-tune (E/4), over one epoch of all four hybrids, rounded (the rule in
    docs/benchmarks.md); counted with the hooks' FLOP counter on the real networks (meta device).
    The fashion-d128 preset plans depth 128 from these configs with the shared meta models."""
    import glob
    import re

    from mmengine.config import Config

    from backbones import network_checkpoint, save_checkpoint
    from benchmarks.fashion_study import CONFIGS
    from classification.model import IncubationClassifier
    from runtime.hooks import train_step_flops

    def flops(config: str, **role) -> int:
        model = Config.fromfile(config).model
        model.pop('type', None)
        model.role.update(role)
        net = IncubationClassifier(**model).network
        return train_step_flops(net, (64, 3, 16, 16))

    meta_config = config_for(32, 'meta', 'cpu')
    meta = IncubationClassifier(**{k: v for k, v in Config.fromfile(meta_config).model.items() if k != 'type'})
    meta_path = save_checkpoint(network_checkpoint(meta.network, kind='meta'), tmp_path / 'meta.pth')
    meta_flops = flops(meta_config)
    for depth in (8, 16, 32, 64, 128):
        e2e = flops(config_for(depth, 'e2e', 'cpu'))
        (incubate,) = glob.glob(f'{CONFIGS}/vit-fashion-d{depth}_incubate_*_fashion.py')
        hybrids = sum(flops(incubate, module_idx=i, meta_checkpoint=str(meta_path)) for i in range(4))
        epochs = int(re.search(r'_incubate_(\d+)e_', incubate).group(1))
        assert Config.fromfile(incubate).train_cfg.max_epochs == epochs
        assert epochs == round((20 * e2e - 20 * meta_flops - 5 * e2e) / hybrids), depth
    runs = plan(FASHION_PRESETS['fashion-d128'], (128,), (0,), str(tmp_path), 'cpu')
    assert [r.name for r in runs] == ['meta_seed0_data100', 'd128_e2e_seed0', 'd128_incubation_seed0']
    assert runs[2].argv[2].endswith('vit-fashion-d128_incubation_14e+5e_fashion.py')
