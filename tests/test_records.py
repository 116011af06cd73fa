"""Result records (benchmarks/records.py): what a study writes, and the runs read back from it."""
from __future__ import annotations

import hashlib
import json

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
