"""`python -m benchmarks suite`: upstream runs -> Mask R-CNN and UperNet runs -> one report.

The smoke preset end to end on generated Fashion-MNIST idx files (one seed; depth 8; one epoch a
phase upstream; a few iterations downstream): E2E and the incubation pipeline upstream, then a
detection and a segmentation run from each and from random weights, then the report. Then the
hand-off's guarantees: a changed checkpoint is caught, a truncated or foreign one fails the
downstream run; the paper presets' graphs; and last, the smoke graph again under a real Slurm
cluster (tests/slurm_cluster.py), the downstream jobs waiting on their upstream's final job.
"""
from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pytest
import torch
from conftest import ROOT, load_tool, write_fashion_idx
from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)

from benchmarks import suite
from benchmarks.__main__ import main as cli
from runtime.provenance import BACKBONE_RECORD

SUMMARY = 'suite_summary'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('suite')
    data = tmp / 'fashion-mnist'
    # the scenes draw items outside the upstream subsets (500 / 200 a class), as with the real data
    write_fashion_idx(data, {'train': 520, 'test': 210})
    work = tmp / 'work'
    args = ['suite', '--preset', 'smoke', '--work-dir', str(work), '--data-root', str(data)]
    with pytest.MonkeyPatch.context() as env:
        env.setenv('INCUBATION_VIT_CACHE', str(tmp / 'cache'))
        assert cli(args) == 0
        yield work, args


def _csv(path: Path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_smoke_suite_end_to_end(smoke, capsys):
    work, args = smoke
    rows = _csv(work / 'report' / f'{SUMMARY}.csv')
    labels = [r['backbone'] for r in rows]
    assert labels[:3] == ['E2E', 'incubation', 'random init (control)']
    assert labels[3:] == ['Δ incubation − E2E', 'Δ incubation − E2E (paired)', 'Δ E2E − control (paired)',
                          'Δ incubation − control (paired)']
    for row in rows[:3]:
        # AP is 0, not missing, when nothing is detected; every run reports its foreground IoU and the floor
        for column in ('APb', 'APm', 'mIoU', 'fgIoU (det)', 'fgIoU (seg)', 'mIoU if all background'):
            assert 0 <= float(row[column].split(';')[0]) <= 100, (column, row)
    e2e, inc, control = rows[:3]
    assert float(e2e['upstream top-1'].split(';')[0]) >= 0 and control['upstream top-1'] == ''
    assert e2e['sha256'] != inc['sha256'] and len(e2e['sha256']) >= 8 and control['sha256'] == 'random'
    # every cost column is filled: upstream + downstream for the pretrained rows, downstream alone for the control
    for column in [c for c in rows[0] if c.startswith('total')]:
        values = [float(r[column].split(';')[0]) for r in rows[:3]]
        assert all(v > 0 for v in values), (column, values)
        assert values[0] > values[2] and values[1] > values[2], 'the control pays no upstream'
    assert {p.name for p in (work / 'report').iterdir()} >= {'suite_summary.md', 'suite_runs.md', 'gate.md',
                                                            'suite_score_vs_cost.png', 'suite_score_vs_iterations.png',
                                                            'runs.json'}
    # the gate ran before the downstream runs: the probe of the seed's three backbones
    gate = json.loads((work / 'probe' / 'seed0.json').read_text())
    assert sorted(r['method'] for r in gate['runs']) == ['e2e', 'incubation', 'random']
    assert all(0 <= r['dense_items'] <= 100 and 0 <= r['dense_miou'] <= 100 for r in gate['runs'])
    assert (work / 'probe' / 'seed0.json').stat().st_mtime < (work / 'det' / 'e2e_seed0' / BACKBONE_RECORD).stat().st_mtime

    # every downstream run recorded its backbone: the upstream run, the file's hash, the load report
    det = json.loads((work / 'det' / 'incubation_seed0' / BACKBONE_RECORD).read_text())
    assert det['upstream']['work_dir'] == str(work / 'upstream' / 'd8_incubation_seed0')
    assert det['upstream']['method'] == 'incubation' and det['upstream']['seed'] == 0
    assert det['upstream']['phase'] == 'finetune' and det['file']['sha256'].startswith(inc['sha256'])
    # windows of the pretraining grid: the checkpoint loads exactly as it was trained, nothing resampled or added
    assert det['load']['resampled'] == {}
    assert det['load']['dropped'] == ['head.weight', 'head.bias'] and det['load']['initialised'] == []
    seg = json.loads((work / 'seg' / 'e2e_seed0' / BACKBONE_RECORD).read_text())
    assert seg['upstream']['method'] == 'e2e' and seg['file']['sha256'].startswith(e2e['sha256'])
    assert json.loads((work / 'seg' / 'random-init_seed0' / BACKBONE_RECORD).read_text())['init'] == 'random'
    assert 'backbone: ' in (work / 'det' / 'e2e_seed0' / 'train.out').read_text()

    # the result record alone (work dirs not read) regenerates the summary the report wrote
    from benchmarks.records import read_record
    from benchmarks.results import Context, generators

    record = read_record(work / 'results.json')
    assert record['study'] == 'suite' and record['extra']['rows'][0]['downstream'].keys() == {'det', 'seg'}
    assert len(record['extra']['gate']) == 3
    assert '| random init (control) | 0 |' in generators()['suite-gate'](
        Context([record], ['results.json'], ROOT / 'README.md', ROOT)).text
    ctx = Context([record], ['results.json'], ROOT / 'README.md', ROOT)
    generated = generators()['suite-table'](ctx).text
    assert (work / 'report' / f'{SUMMARY}.md').read_text().split('\n', 2)[2].strip().split('\n- ')[0] in generated
    assert 'Control, mIoU: E2E − control' in generated and 'downstream runs' in generated
    # a seed run on another day or machine (its own record, same preset) joins the table, with its
    # own provenance line; a seed in two records is refused
    other = copy.deepcopy(record)
    for entry in other['extra']['rows']:
        entry['seed'] = 1
    sources = ['a/results.json', 'b/results.json']
    joined = generators()['suite-table'](Context([record, other], sources, ROOT / 'README.md', ROOT)).text
    assert '| E2E | 0, 1 |' in joined and '| Δ incubation − E2E | 1 |' in joined
    assert '\n- a/results.json: ' in joined and '\n- b/results.json: ' in joined
    with pytest.raises(Exception, match='seed 0 is in a/results.json and in b/results.json'):
        generators()['suite-runs'](Context([record, record], sources, ROOT / 'README.md', ROOT))
    record['extra']['rows'][0]['downstream']['det'] = 'det/gone'
    with pytest.raises(Exception, match='det/gone'):
        generators()['suite-table'](Context([record], ['results.json'], ROOT / 'README.md', ROOT))

    # again: everything is done, nothing runs, the same report
    capsys.readouterr()
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert '0 to run' in out and ' start ' not in out
    assert _csv(work / 'report' / f'{SUMMARY}.csv') == rows


def test_frozen_protocol_at_toy_size(smoke, tmp_path, capsys):
    """``--protocol frozen`` on the smoke suite's upstream runs: the linear segmentation head and
    RetinaNet train on backbones that end exactly as the upstream runs left them, and the report
    has the three rows with box AP, mIoU and both foreground IoUs (RetinaNet's from its boxes)."""
    import torch

    from backbones import load_checkpoint

    work, args = smoke
    frozen = tmp_path / 'frozen'
    words = ['suite', '--preset', 'smoke', '--protocol', 'frozen', '--work-dir', str(frozen),
             '--upstream-dir', str(work / 'upstream'), '--data-root', args[args.index('--data-root') + 1]]
    assert cli(words) == 0
    out = capsys.readouterr().out
    assert '0 to run' not in out and 'upstream/' not in out.split('to run')[1].split('\n')[0], out
    rows = _csv(frozen / 'report' / f'{SUMMARY}.csv')
    assert [r['backbone'] for r in rows[:3]] == ['E2E', 'incubation', 'random init (control)']
    for column in ('APb', 'mIoU', 'fgIoU (det)', 'fgIoU (seg)'):
        assert all(0 <= float(r[column].split(';')[0]) <= 100 for r in rows[:3]), (column, rows)
    assert all(r['APm'] in ('', '–') for r in rows[:3]), rows  # no masks: no mask AP, not a 0
    config = (frozen / 'seg' / 'e2e_seed0' / 'linear_vit-fashion-canvas-d8-frozen_e2e_2k_fashion-scenes-64x64.py')
    assert config.is_file(), sorted(p.name for p in (frozen / 'seg' / 'e2e_seed0').iterdir())
    upstream = load_checkpoint(work / 'upstream' / 'd8_e2e_seed0' / 'model.pth').state_dict
    trained = torch.load(next((frozen / 'seg' / 'e2e_seed0').glob('iter_*.pth')), map_location='cpu',
                         weights_only=False)['state_dict']
    backbone = {k[len('backbone.vit.'):]: v for k, v in trained.items() if k.startswith('backbone.vit.')}
    assert backbone.keys() >= {'blocks.0.attn.qkv.weight', 'patch_embed.proj.weight', 'pos_embed'}
    assert all(torch.equal(backbone[k], upstream[k]) for k in backbone if k in upstream and not k.startswith('head'))
    assert any(k.startswith('decode_head.conv_seg') for k in trained)
    det_config = 'retinanet-linear_vit-fashion-canvas-d8-frozen_incubation_12e_fashion-scenes.py'
    assert (frozen / 'det' / 'incubation_seed0' / det_config).is_file()


def test_a_changed_checkpoint_is_caught(smoke, capsys):
    work, args = smoke
    ckpt = work / 'upstream' / 'd8_e2e_seed0' / 'model.pth'
    original = ckpt.read_bytes()
    state = torch.load(ckpt, weights_only=True)
    key = next(k for k, v in state['state_dict'].items() if v.is_floating_point())
    state['state_dict'][key] = state['state_dict'][key] + 1
    torch.save(state, ckpt)
    try:
        capsys.readouterr()
        assert cli([*args, '--report-only']) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(ckpt) in err[0] and 'changed since' in err[0], err
        assert cli([*args, '--no-rerun']) == 2
        assert 'no longer holds' in capsys.readouterr().err
        # the default re-runs them: the stale runs are moved aside, not deleted
        plan = suite.make_plan(suite_args(args))
        stale = {d.node.name for d, _ in suite.stale_runs(plan)}
        assert stale == {'det/e2e_seed0', 'seg/e2e_seed0'}
        suite.check_provenance(plan, rerun=True)
        assert (work / 'det' / 'e2e_seed0.stale-1' / BACKBONE_RECORD).is_file()
        assert not (work / 'det' / 'e2e_seed0').exists()
    finally:
        ckpt.write_bytes(original)
        for name in ('det', 'seg'):
            moved = work / name / 'e2e_seed0.stale-1'
            if moved.exists():
                moved.rename(work / name / 'e2e_seed0')


def test_a_downstream_run_of_another_config_is_stale(smoke, capsys):
    """A finished downstream run is judged by the config it ran (file and content, not paths): a
    changed schedule or config makes it stale, and the report refuses it in one line."""
    import json

    work, args = smoke
    plan = suite.make_plan(suite_args(args))
    assert suite.stale_runs(plan) == []
    det = next(d.node for d in plan.downstream if d.task == 'det' and d.init == 'e2e')
    inputs = Path(det.work_dir) / suite.INPUTS_FILE
    recorded = json.loads(inputs.read_text())
    assert recorded['config'] == Path(det.argv[2]).name and len(recorded['sha256']) == 64
    argv = list(det.argv)
    det.argv = [w.replace(str(work), '/elsewhere') for w in argv]  # paths (a moved work dir) do not count
    assert suite.config_mismatch(det) is None
    det.argv = [w.replace('train_cfg.max_epochs=1', 'train_cfg.max_epochs=2') for w in argv]
    why = suite.config_mismatch(det)
    assert why.startswith(f'{det.work_dir}: ran {recorded["config"]} as it was then'), why
    # a run from before the inputs file: judged by the name of the config it dumped
    seg = next(d.node for d in plan.downstream if d.task == 'seg' and d.init == 'e2e')
    seg_inputs = Path(seg.work_dir) / suite.INPUTS_FILE
    kept = seg_inputs.read_bytes()
    seg_inputs.unlink()
    try:
        assert suite.config_mismatch(seg) is None
        other = str(ROOT / 'segmentation' / 'configs' / 'linear_vit-fashion-canvas-d8-frozen_e2e_2k_fashion-scenes-64x64.py')
        seg.argv = [seg.argv[0], seg.argv[1], other, *seg.argv[3:]]
        assert f'ran {Path(argv[2]).name}' not in (suite.config_mismatch(seg) or '')
        assert suite.config_mismatch(seg).endswith(f'the suite would run {Path(other).name}')
    finally:
        seg_inputs.write_bytes(kept)
    inputs.write_text(json.dumps(dict(recorded, sha256='0' * 64)))
    try:
        capsys.readouterr()
        assert cli([*args, '--report-only']) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f'{det.work_dir}: ran {recorded["config"]} as it was then' in err[0], err
    finally:
        inputs.write_text(json.dumps(recorded))


def test_finished_upstream_runs_of_another_schedule_are_refused(smoke, capsys):
    work, args = smoke
    plan = suite.make_plan(suite_args(args))
    assert all(suite.reuse_mismatch(n) is None for n in plan.extra + [u.node for u in plan.upstream])
    e2e = next(u.node for u in plan.upstream if u.method == 'e2e')
    e2e.argv = [w.replace('train_cfg.max_epochs=1', 'train_cfg.max_epochs=2') for w in e2e.argv]
    why = suite.reuse_mismatch(e2e)
    assert why.startswith(str(work / 'upstream' / 'd8_e2e_seed0')) and 'max_epochs is 1, the suite would run 2' in why
    inc = next(u.node for u in plan.upstream if u.method == 'incubation')
    inc.argv = [w.replace('randomness.seed=0', 'randomness.seed=5') for w in inc.argv]
    assert 'randomness.seed is 0, the suite would run 5' in suite.reuse_mismatch(inc)


def test_the_executor_keeps_its_promises(smoke, tmp_path, capsys):
    """On the finished smoke work dir: a second command on a busy work dir refuses in one line;
    bad inputs are refused before anything starts; --status says what each run is waiting for or
    why it failed; a damaged scene file and a truncated upstream checkpoint are made again; a
    copied, then moved, work dir re-runs nothing."""
    import shutil

    from backbones import load_checkpoint
    from runtime.lock import exclusive

    work, args = smoke
    at = args.index('--work-dir') + 1

    def run(words):
        capsys.readouterr()
        code = cli(words)
        out, err = capsys.readouterr()
        return code, out, err.strip().splitlines()

    with exclusive(str(work / '.lock'), 'busy'):
        code, out, err = run(args)
        assert code == 2 and len(err) == 1 and 'is in use by another `benchmarks suite`' in err[0], err
        code, out, _ = run([*args, '--status'])  # watching is allowed
        assert code == 0 and out.count(' done ') == len(suite.make_plan(suite_args(args)).nodes)
    code, _, err = run([*args, '--seeds', '-1'])
    assert code == 2 and len(err) == 1 and err[0].startswith('error: --seeds -1: seeds are whole numbers >= 0')
    for folder in (tmp_path / 'typo', tmp_path / 'empty'):
        if folder.name == 'empty':
            folder.mkdir()
        code, _, err = run([*args, '--upstream-dir', str(folder)])
        assert code == 2 and len(err) == 1 and f'--upstream-dir {folder}' in err[0], err
        assert not folder.exists() or not any(folder.iterdir()), 'nothing started in it'
    # --status: a seed not run yet waits; a run whose log ends with an exception failed, with the cause
    log = work / 'upstream' / 'd8_e2e_seed1' / 'train.out'
    log.parent.mkdir()
    log.write_text('Traceback (most recent call last):\n  File "x", line 1\nRuntimeError: out of memory\n')
    try:
        code, out, _ = run([*args, '--seeds', '1', '--status'])
        states = {line.split()[1]: line for line in out.splitlines() if len(line.split()) > 2}
        assert 'failed: RuntimeError: out of memory' in states['upstream/d8_e2e_seed1']
        assert 'waiting for upstream/d8_e2e_seed1' in states['seg/e2e_seed1']
    finally:
        shutil.rmtree(log.parent)

    # a truncated scene image and a truncated upstream checkpoint are made again, nothing else runs
    image = work / 'scenes' / 'images' / 'training' / '000001.png'
    scene = image.read_bytes()
    image.write_bytes(scene[:40])
    ckpt = work / 'upstream' / 'd8_e2e_seed0' / 'model.pth'
    original = ckpt.read_bytes()
    ckpt.write_bytes(original[: len(original) // 2])
    code, out, err = run(args)
    assert code == 0, err
    assert 'damaged or missing file(s)' in out and image.read_bytes() == scene
    assert f'{ckpt}' in out and 'upstream/d8_e2e_seed0 makes it again' in out
    assert load_checkpoint(ckpt).state_dict
    started = [line for line in out.splitlines() if ' start ' in line]
    assert all('upstream/d8_e2e_seed0' in line or 'e2e_seed0' in line for line in started), started

    # copied, and the original moved away (every path the runs recorded is gone): the same bytes
    # under new paths re-run nothing
    copy = tmp_path / 'copy'
    shutil.copytree(work, copy, symlinks=True)
    hidden = work.with_name(work.name + '.moved')
    work.rename(hidden)
    try:
        words = list(args)
        words[at] = str(copy)
        code, out, err = run(words)
    finally:
        hidden.rename(work)
    assert code == 0 and '0 to run' in out and ' start ' not in out and 'runs again' not in out, (out, err)


def suite_args(words):
    import argparse

    parser = argparse.ArgumentParser()
    suite.add_arguments(parser)
    return parser.parse_args(words[1:])


@pytest.mark.parametrize('damage', ['truncated', 'foreign'])
def test_downstream_run_refuses_a_partial_backbone_load(smoke, tmp_path, damage, capsys):
    work, _args = smoke
    state = torch.load(work / 'upstream' / 'd8_e2e_seed0' / 'model.pth', weights_only=True)
    if damage == 'truncated':  # the last module's blocks are missing
        state['state_dict'] = {k: v for k, v in state['state_dict'].items() if not k.startswith('blocks.7.')}
        expected = 'missing'
    else:  # a ResNet-like file
        state = {'conv1.weight': torch.zeros(8, 3, 7, 7), 'fc.weight': torch.zeros(10, 8)}
        expected = 'not a ViT checkpoint'
    bad = tmp_path / 'bad.pth'
    torch.save(state, bad)
    node = next(d for d in suite.make_plan(suite_args(_args)).downstream if d.node.name == 'det/e2e_seed0').node
    argv = [w if not w.startswith('model.backbone.init_cfg.checkpoint=') else f'model.backbone.init_cfg.checkpoint={bad}'
            for w in node.argv]
    argv[argv.index('--work-dir') + 1] = str(tmp_path / 'run')
    # tools/train.py's own command line, in this process (argv[2:]: after `python tools/train.py`)
    assert load_tool('train').cli(argv[2:]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert str(bad) in lines[-1] and expected in lines[-1], lines[-3:]
    assert not (tmp_path / 'run' / BACKBONE_RECORD).exists(), 'nothing trained'


@pytest.mark.parametrize('preset,expected', [
    ('paper-coco', ['mask-rcnn_vit-b_e2e_1x_coco.py', 'mask-rcnn_vit-b_incubation_3x_coco.py']),
    ('paper-ade', ['upernet_vit-l_e2e_80k_ade20k-512x512.py', 'upernet_vit-h_incubation_80k_ade20k-512x512.py']),
    ('paper-in1k', ['vit-h_incubation-ft392_30e_in1k.py', 'vit-b_e2e_300e_in1k.py']),
    ('paper-efficiency', ['vit-h_meta_300e_in1k.py', 'vit-h_incubation_25e+25e_in1k.py']),
    ('paper-data', ['vit-b_incubation_100e+100e_in1k-25pct.py', 'vit-b_e2e_300e_in1k-50pct.py']),
])
def test_paper_presets_print_their_graph(preset, expected, tmp_path, capsys):
    assert cli(['suite', '--preset', preset, '--work-dir', str(tmp_path), '--dry-run', '--launcher', 'slurm',
                '--gpus', '8']) == 0
    out = capsys.readouterr().out
    for name in expected:
        assert name in out, (name, out)
    plan = suite.make_plan(suite_args(['suite', '--preset', preset, '--work-dir', str(tmp_path)]))
    controls = [d for d in plan.downstream if d.init == suite.CONTROL]
    for down in plan.downstream:  # every downstream run reads its upstream's final model, by reference
        if down.init == suite.CONTROL:  # the random-init control: the same config, no checkpoint, nothing to wait for
            assert down.node.needs == () and 'model.backbone.init_cfg=None' in down.node.argv
            continue
        assert down.node.needs == (down.upstream.node.name,)
        assert any(down.checkpoint in word for word in down.node.argv)
        assert f'{down.upstream.node.name} ' in out or down.upstream.node.name in out
    # one control per seed and downstream config of each model (paper-coco: ViT-B 1x and 3x; paper-ade: L and H)
    assert len(controls) == {'paper-coco': 2, 'paper-ade': 2}.get(preset, 0)
    if controls:  # the dry run says which data the user must provide, and where
        assert '[suite] data: --imagenet' in out and ('--coco' in out or '--ade' in out)
    # --gpus 0 (a CPU partition): each pipeline phase is one process, not a refused 0
    cpu = suite.make_plan(suite_args(['suite', '--preset', preset, '--work-dir', str(tmp_path), '--gpus', '0']))
    for up in cpu.upstream:
        if up.method == 'incubation':
            assert up.node.argv[up.node.argv.index('--nproc-per-worker') + 1] == '1', up.node.argv
    if preset == 'paper-efficiency':  # one meta model for the three schedules
        incs = [u for u in plan.upstream if u.method == 'incubation']
        assert len(incs) == 3 and all(u.node.needs == ('upstream/vit-h_meta',) for u in incs)
        assert all('--meta' in u.node.argv for u in incs)


# --- the same graph on a real Slurm cluster (last: it reuses and changes the smoke suite's work dir) ---


def test_smoke_suite_under_slurm_waits_for_the_upstream_final_job(smoke, slurm_cluster, capsys):  # noqa: F811
    import shutil
    import time

    work, args = smoke
    before = _csv(work / 'report' / f'{SUMMARY}.csv')
    # the pipeline's final model is gone and so are the downstream runs: the suite submits the
    # pipeline's final node (spliced into its graph, beside the pipeline's finished phases and its
    # assembled network's evaluation), the six
    # downstream jobs, the incubation ones afterok on that final job
    shutil.rmtree(work / 'upstream' / 'd8_incubation_seed0' / 'finetune')
    for task in ('det', 'seg'):
        shutil.rmtree(work / task)
    words = [*args, '--launcher', 'slurm', '--partition', slurm_cluster.partition, '--gpus', '0',
             '--cpus-per-task', '1']
    capsys.readouterr()
    assert cli(words) == 0
    out = capsys.readouterr().out
    state = json.loads((work / suite.SLURM_STATE).read_text())['jobs']
    final = state['upstream/d8_incubation_seed0/final']['job']
    assert set(state) == {'upstream/d8_incubation_seed0/final', *(f'{t}/{i}_seed0' for t in ('det', 'seg')
                                                                  for i in ('e2e', 'incubation', 'random-init'))}, state
    assert 'upstream/d8_e2e_seed0' not in state, 'a finished upstream run is not submitted again'
    for task in ('det', 'seg'):
        line = next(x for x in out.splitlines() if x.strip().startswith(f'{task}/incubation_seed0'))
        assert f'(afterok {final})' in line, out
        assert 'afterok' not in next(x for x in out.splitlines() if x.strip().startswith(f'{task}/e2e_seed0'))
    # the upstream's final job ends without its model (cancelled): Slurm cancels the jobs behind it;
    # the same command resubmits the final job and both dependants behind the new one, and keeps the rest
    from runtime import slurm

    dependants = [state[f'{task}/incubation_seed0']['job'] for task in ('det', 'seg')]
    slurm.cancel(final)
    ended = slurm.wait([final, *dependants], timeout=120, poll_seconds=0.5)
    assert {ended[j].state for j in (final, *dependants)} == {slurm.CANCELLED}, ended
    assert cli(words) == 0
    out = capsys.readouterr().out
    again = json.loads((work / suite.SLURM_STATE).read_text())['jobs']
    new_final = again['upstream/d8_incubation_seed0/final']['job']
    assert new_final != final, out
    for task in ('det', 'seg'):
        line = next(x for x in out.splitlines() if x.strip().startswith(f'{task}/incubation_seed0'))
        assert line.split()[1] == 'cancelled' and f'(afterok {new_final})' in line, out
        assert again[f'{task}/e2e_seed0']['job'] == state[f'{task}/e2e_seed0']['job'], out
    assert out.count('submitted job') == 3, out
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        assert cli([*words, '--status']) == 0
        status = capsys.readouterr().out
        states = {line.split()[0]: line.split()[1] for line in status.splitlines()
                  if line.startswith('  ') and '/' in line.split()[0]}
        # 15: the meta, E2E, 4 incubations, assemble, final, the probe and six downstream runs
        assert len(states) == 15 and not set(states.values()) & {'failed', 'cancelled', 'timeout', 'lost'}, status
        if set(states.values()) == {'done'}:
            break
        time.sleep(2)
    else:
        raise AssertionError(f'the Slurm jobs did not finish in time:\n{status}\n{slurm_cluster.log_tail()}')
    assert cli(words) == 0  # every job done: the same command writes the report
    after = _csv(work / 'report' / f'{SUMMARY}.csv')
    assert [r['backbone'] for r in after] == [r['backbone'] for r in before]
    # the rebuilt pipeline's final model is the same network, bit for bit (one thread, seeded)
    assert after[1]['sha256'] == before[1]['sha256'] and after[1]['APb'] == before[1]['APb']


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_classifier_and_dense_backbone_see_the_same_features(task, tmp_path, one_thread):
    """The hand-off, for one checkpoint and one image: the upstream classifier's block outputs (its
    own transform: RGB, its normalisation; the position embedding resampled at run time) equal
    the downstream backbone's (the image read by mmcv as BGR, the model's data preprocessor; the
    position embedding resampled when the checkpoint is loaded)."""
    import numpy as np
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.utils import import_modules_from_strings
    from PIL import Image
    from timm.data import create_transform

    import backbones

    torch.manual_seed(0)
    network = backbones.build_model('vit_fashion_depth8')
    ckpt = backbones.export_timm(backbones.network_checkpoint(network), tmp_path / 'up.pth')['pth']
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / 'scene.png')

    # upstream: the Fashion-MNIST classifier's evaluation transform, at the downstream size
    cls_cfg = Config.fromfile(str(ROOT / 'classification' / 'configs' / 'vit-fashion-d8_e2e_20e_fashion.py'))
    transform = create_transform(**dict(cls_cfg.val_dataloader.dataset.transform, input_size=64))
    x = transform(Image.open(tmp_path / 'scene.png').convert('RGB'))[None]
    classifier = backbones.build_model('vit_fashion_depth8', dynamic_img_size=True)
    backbones.load_pretrained(classifier, ckpt)
    classifier.eval()
    with torch.no_grad():
        want = classifier.forward_intermediates(x, indices=list(classifier.division.last_blocks()),
                                                output_fmt='NCHW', intermediates_only=True)

    # downstream: the suite's config, its own data pipeline and data preprocessor
    folder, pattern, scope = {'det': ('detection', 'mask-rcnn_vit-fashion-d8_e2e_*_fashion-scenes.py', 'mmdet'),
                              'seg': ('segmentation', 'upernet_vit-fashion-d8_e2e_*_fashion-scenes-64x64.py', 'mmseg')}[task]
    cfg = Config.fromfile(str(next((ROOT / folder / 'configs').glob(pattern))))
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    import_modules_from_strings(**cfg.custom_imports)  # what the runner does first
    init_default_scope(scope)
    from mmengine.registry import MODELS, TRANSFORMS
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    pack = TRANSFORMS.build(dict(type='PackDetInputs' if task == 'det' else 'PackSegInputs'))
    sample = pack(load(dict(img_path=str(tmp_path / 'scene.png'))))
    batch = model.data_preprocessor(dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']]), False)
    with torch.no_grad():
        got = model.backbone(batch['inputs'])
    assert batch['inputs'].shape[-2:] == (64, 64)
    assert len(got) == len(want) == 4
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
