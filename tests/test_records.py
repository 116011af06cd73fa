"""Result records (benchmarks/records.py): what a study writes, and the runs read back from it."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from benchmarks import records
from benchmarks.runs import Run
from runtime.record import EvalPoint, RecordError


def _run(tmp_path, name, kind, method, seed, top1s, cost, checkpoint_files):
    work = tmp_path / 'study' / name
    for rel, data in checkpoint_files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
    evals = [EvalPoint(step=i + 1, metrics={'accuracy/top1': v}, device_hours=0.01 * (i + 1), images=100 * (i + 1))
             for i, v in enumerate(top1s)]
    return Run(path=str(work), name=name, kind=kind, status='done', seed=seed, evals=evals,
               benchmark=dict(task='digits', model='ViT-D16-W64', method=method, variant='cpu'),
               metrics=dict(evals[-1].metrics), cost=dict(total=cost['device_hours'], record=cost),
               eval_cost=cost, cost_offset=0.0)


def test_record_round_trip(tmp_path):
    cost = dict(device_hours=0.03, e2e_device_hours=0.05, flops=4e12, images=300)
    e2e = _run(tmp_path, 'e2e_seed0', 'train', 'e2e', 0, [90.0, 95.5, 94.0], cost,
               {'model.pth': b'weights', 'model.safetensors': b'tensors'})
    inc = _run(tmp_path, 'incubation_seed0', 'pipeline', 'incubation', 0, [93.0, 96.0], cost,
               {'finetune/model.pth': b'final', 'finetune/model.safetensors': b'final-st'})
    path = tmp_path / 'results.json'
    written = records.write_record(path, 'demo', ['python', '-m', 'benchmarks', 'reproduce'], [e2e, inc], seeds=[0],
                                   extra=dict(preset='cpu'))
    data = records.read_record(path)
    assert data == written and data['format'] == records.FORMAT and data['version'] == records.VERSION
    assert data['command'][-1] == 'reproduce' and data['seeds'] == [0] and data['extra'] == {'preset': 'cpu'}
    assert set(data['git']) == {'commit', 'dirty'} and len(data['git']['commit']) == 40
    assert data['machine']['cpu']['cores'] >= 1 and 'gpus' in data['machine']
    assert set(data['versions']) >= {'torch', 'timm', 'mmengine', 'mmcv', 'mmdet', 'mmseg'}
    first = data['runs'][0]
    assert first['path'] == 'e2e_seed0' and data['work_dir'].endswith('study')
    assert first['metrics'] == {'accuracy/top1': 94.0} and first['last']['step'] == 3
    assert first['best'] == dict(label='best', metric='accuracy/top1', step=2, value=95.5,
                                 metrics={'accuracy/top1': 95.5})
    assert first['costs'] == dict(train_device_hours=0.03, e2e_device_hours=0.05, train_flops=4e12)
    assert first['checkpoints']['model.pth'] == dict(size=7, sha256=hashlib.sha256(b'weights').hexdigest())
    assert set(data['runs'][1]['checkpoints']) == {'finetune/model.pth', 'finetune/model.safetensors'}

    back = records.record_runs(data)  # the report's runs, rebuilt from the record alone
    assert [r.name for r in back] == ['e2e_seed0', 'incubation_seed0']
    assert back[0].costs() == e2e.costs() and back[1].curve() == inc.curve() and back[0].seed == 0

    measurement = dict(name='speed', step_ms=12.5)  # a plain measurement is kept as it is
    again = records.write_record(tmp_path / 'speed.json', 'speed', ['x'], [measurement])
    assert again['runs'] == [measurement] and again['work_dir'] is None

    (tmp_path / 'other.json').write_text(json.dumps(dict(data, version=99)))
    with pytest.raises(RecordError, match='other.json: result record version 99'):
        records.read_record(tmp_path / 'other.json')
    (tmp_path / 'manifest.json').write_text(json.dumps(dict(format='incubation-manifest')))
    with pytest.raises(RecordError, match='manifest.json: not a result record'):
        records.read_record(tmp_path / 'manifest.json')


def test_docs_tables_match_their_records(tmp_path, capsys):
    """`python -m benchmarks results --check` on the repository; a hand edit in a study page (under
    docs/, at any depth) is named and --write undoes it; a report copy under docs/results/ and a
    figure no block shows fail the check."""
    import shutil

    from benchmarks.__main__ import main as cli
    from benchmarks.results import documents, find_blocks

    root = Path(records.ROOT)
    assert cli(['results', '--check']) == 0, capsys.readouterr().out
    docs = documents(root)
    assert root / 'docs' / 'studies' / 'digits.md' in docs  # the study pages are checked too
    # the README: one headline table of at most 15 lines (and figures)
    headline, = [b for b in find_blocks(root / 'README.md') if '|---' in b.body]
    assert headline.name == 'headline' and len([x for x in headline.body.splitlines() if x.startswith('|')]) <= 15
    assert len((root / 'README.md').read_text().splitlines()) <= 200
    blocks = [b for d in docs for b in find_blocks(d)]
    assert any(b.name == 'results-table' for b in blocks)
    assert not [p for p in (root / 'docs' / 'results').rglob('*') if p.is_file() and p.suffix != '.json']

    copy = tmp_path / 'repo'
    copy.mkdir()
    shutil.copyfile(root / 'README.md', copy / 'README.md')
    shutil.copytree(root / 'docs', copy / 'docs')
    page = copy / 'docs' / 'studies' / 'digits.md'
    block = next(b for b in find_blocks(page) if b.name == 'results-table')
    text = page.read_text()
    page.write_text(text[:block.span[0]] + block.body.replace('|', '| 99.99 |', 1) + text[block.span[1]:])
    capsys.readouterr()
    assert cli(['results', '--check', '--root', str(copy)]) == 1
    out = capsys.readouterr().out
    assert "docs/studies/digits.md: generated block 'results-table' (from docs/results/demo.json) differs" in out
    assert cli(['results', '--write', '--root', str(copy)]) == 0
    assert page.read_text() == text
    assert cli(['results', '--check', '--root', str(copy)]) == 0

    (copy / 'docs' / 'results' / 'fashion' / 'report.md').write_text('| top-1 |\n|---|\n| 80.80 |\n')
    (copy / 'docs' / 'figures' / 'old_depth.png').write_bytes(b'\x89PNG')
    capsys.readouterr()
    assert cli(['results', '--check', '--root', str(copy)]) == 1
    out = capsys.readouterr().out
    assert 'docs/results/fashion/report.md: a copy of a result that no generated block checks' in out
    assert 'docs/figures/old_depth.png: a figure that no generated block shows' in out
    assert cli(['results', '--write', '--root', str(copy)]) == 1  # it deletes the figure, not the copy
    assert not (copy / 'docs' / 'figures' / 'old_depth.png').exists()
    (copy / 'docs' / 'results' / 'fashion' / 'report.md').unlink()
    assert cli(['results', '--check', '--root', str(copy)]) == 0


def test_progress_line_eta_and_summary(tmp_path):
    from runtime.progress import Progress, parse_eta, read_status

    clock = [0.0]
    log = tmp_path / 'train.out'
    log.write_text('2026/01/01 - mmengine - INFO - Epoch(train)  [3][10/23]  lr: 1e-3  eta: 0:01:40  time: 0.1\n')
    assert parse_eta('eta: 1 day, 2:03:04') == 93784.0
    stream = io.StringIO()
    status = tmp_path / 'progress.json'
    progress = Progress(['meta', 'incubate_0', 'finetune'], prefix='[incubate]', what='phase', interval=10,
                        status_path=str(status), clock=lambda: clock[0], stream=stream, weights={'finetune': 2})
    progress.skip('meta')
    progress.start('incubate_0', log=str(log))
    clock[0] = 100.0
    line = progress.poll()
    # half of incubate_0 done (100 s spent, 100 s to go by its log) and finetune (weight 2) pending
    assert line == '[incubate] phase 2 of 3 (incubate_0: epoch 3 [10/23]), 1 done; 1.7 min of ~10.0 min, about 8.3 min to go'
    assert progress.poll() is None and stream.getvalue() == line + '\n'  # one line an interval
    assert read_status(str(status)).eta_seconds == 500.0
    progress.finish('incubate_0')
    progress.start('finetune', log=str(tmp_path / 'none.out'))
    clock[0] = 150.0
    progress.finish('finetune')
    assert progress.close() == '[incubate] 2 phase(s) in 2.5 min: incubate_0 1.7 min, finetune 50 s; finished before: meta'
    assert read_status(str(status)).fraction == 1.0


def test_equal_weights_give_equal_file_and_weight_digests(tmp_path):
    """A checkpoint's sha256 identifies its weights: torch.save's archive folder no longer follows
    the atomic writer's random temporary name, and the safetensors digest ignores the header."""
    import torch

    from backbones.checkpoints import Checkpoint, save_checkpoint
    from runtime.record import fingerprint

    state = {'w': torch.arange(6.0).reshape(2, 3), 'b': torch.ones(3)}
    paths = [save_checkpoint(Checkpoint('meta', state, dict(depths=[1, 1])), tmp_path / f'{i}' / 'meta.pth')
             for i in range(2)]
    assert fingerprint(paths[0]) == fingerprint(paths[1])
    assert torch.load(paths[0], weights_only=True)['state_dict']['w'].equal(state['w'])
    from safetensors.torch import save_file
    for i, metadata in enumerate(({'a': '1', 'b': '2'}, {'b': '2', 'a': '1'})):
        save_file(state, tmp_path / f'{i}.safetensors', metadata=metadata)
    digests = [records.weights_digest(tmp_path / f'{i}.safetensors') for i in range(2)]
    assert digests[0] == digests[1] is not None
    save_file({**state, 'b': torch.zeros(3)}, tmp_path / 'other.safetensors')
    assert records.weights_digest(tmp_path / 'other.safetensors') != digests[0]
