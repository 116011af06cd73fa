"""The pipeline's bookkeeping: a phase is done only when its files load and match the manifest,
another schedule on a started work dir is refused (or forced), bad values are refused before
anything trains, and every error a user can cause is one line."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLS_CONFIGS, ROOT, TINY_DIGITS_OPTIONS, cfg_words, tool_env

from backbones import build_meta_model, network_checkpoint, save_checkpoint
from classification.pipeline import IncubationPipeline, PipelineError
from runtime import record

PIPELINE = str(CLS_CONFIGS / 'vit-digits-d16_incubation_30e+15e_digits.py')
OPTIONS = {**TINY_DIGITS_OPTIONS, 'train_cfg.max_epochs': 3}


def pipeline(work: Path, digits_root: Path, **kwargs) -> IncubationPipeline:
    return IncubationPipeline(PIPELINE, str(work), data_root=str(digits_root), cfg_options=dict(OPTIONS), **kwargs)


def finished_meta(p: IncubationPipeline) -> Path:
    """The meta phase as a finished run leaves it: its dumped config, its log, its meta.pth."""
    phase = p.meta_phase()
    Path(phase.work_dir).mkdir(parents=True, exist_ok=True)
    phase.write_config()
    Path(phase.log_path).write_text('trained\n')
    model = build_meta_model('vit_tiny_test', img_size=16, patch_size=4)
    save_checkpoint(network_checkpoint(model, 'meta'), phase.artifact)
    return Path(phase.artifact)


def test_a_damaged_or_changed_artifact_is_moved_aside_and_its_phase_runs_again(digits_root, tmp_path, capsys):
    work = tmp_path / 'work'
    meta = finished_meta(pipeline(work, digits_root))
    pipeline(work, digits_root).prepare()
    recorded = record.read_manifest(work).phase('meta')
    assert recorded.status == 'done' and recorded.epochs == 3
    assert recorded.artifacts['meta.pth'] == record.fingerprint(meta)
    pipeline(work, digits_root).prepare()  # unchanged: still done, nothing moved
    assert record.read_manifest(work).phase('meta').status == 'done' and not list(meta.parent.glob('*.damaged-*'))

    data = bytearray(meta.read_bytes())
    data[-100] ^= 0xFF  # same size, other content
    meta.write_bytes(bytes(data))
    pipeline(work, digits_root).prepare()
    line = [x for x in capsys.readouterr().out.splitlines() if 'damaged or changed' in x]
    assert len(line) == 1 and str(meta) in line[0] and 'sha256' in line[0] and 'phase meta runs again' in line[0]
    assert (meta.parent / 'meta.pth.damaged-1').read_bytes() == bytes(data)  # kept, not deleted
    assert not meta.exists() and record.read_manifest(work).phase('meta').status == 'started'

    # no record of it (a kill before the manifest update): a file that does not load is not done either
    meta.write_bytes(bytes(data[:1000]))
    record.manifest_path(work) and Path(record.manifest_path(work)).unlink()
    pipeline(work, digits_root).prepare()
    assert 'meta.pth: not a readable PyTorch checkpoint' in capsys.readouterr().out
    assert (meta.parent / 'meta.pth.damaged-2').is_file() and not meta.exists()


def test_a_copied_work_dir_keeps_its_phases_a_busy_one_refuses_and_a_bad_seed_is_refused(digits_root, tmp_path):
    """The executor's promises for the pipeline: the same bytes under a new path are still done
    (the original moved away); a second command on a busy work dir refuses in one line; a bad
    seed is refused before anything starts."""
    from runtime.lock import exclusive

    work, copy = tmp_path / 'work', tmp_path / 'copy'
    meta = finished_meta(pipeline(work, digits_root))
    pipeline(work, digits_root).prepare()
    shutil.copytree(work, copy)
    shutil.rmtree(work)
    pipeline(copy, digits_root).prepare()
    assert record.read_manifest(copy).phase('meta').status == 'done'
    assert (copy / 'meta' / meta.name).is_file() and not list((copy / 'meta').glob('*.damaged-*'))
    with exclusive(str(copy / '.lock'), 'busy'):
        with pytest.raises(PipelineError, match=r'copy is in use by another tools/incubate.py$'):
            pipeline(copy, digits_root).run(launcher=None)
    bad = IncubationPipeline(PIPELINE, str(tmp_path / 'w'), data_root=str(digits_root),
                             cfg_options={**OPTIONS, 'randomness.seed': -1})
    with pytest.raises(PipelineError, match=r'randomness.seed = -1: a seed is a whole number >= 0'):
        bad.check_inputs()
    assert not (tmp_path / 'w' / 'meta').exists()


def test_a_damaged_assembled_metrics_file_is_evaluated_again(digits_root, tmp_path, capsys):
    work = tmp_path / 'work'
    p = pipeline(work, digits_root)
    metrics = Path(p.assembled_metrics)
    metrics.parent.mkdir(parents=True)
    metrics.write_text('')  # what a kill during a non-atomic write leaves
    p.prepare()
    assert f'{metrics}: not valid JSON' in capsys.readouterr().out
    assert not metrics.exists() and (metrics.parent / 'metrics.json.damaged-1').is_file()
    assert record.read_manifest(work).phase('assemble').status == 'pending'


def test_another_schedule_is_refused_with_the_way_out_and_force_phase_moves_outputs_aside(digits_root, tmp_path):
    work = tmp_path / 'work'
    finished_meta(pipeline(work, digits_root))
    pipeline(work, digits_root).prepare()
    with pytest.raises(PipelineError, match=r'meta was started with 3 epochs, this command asks for 7\. Use a new '
                                            r'--work-dir, or run them again with --force-phase meta '):
        pipeline(work, digits_root, epochs=dict(meta=7)).prepare()
    assert record.read_manifest(work).phase('meta').epochs == 3  # the refusal changed nothing
    # incubations that started with 3 epochs: one word forces them all
    for phase in pipeline(work, digits_root).incubate_phases():
        Path(phase.work_dir).mkdir(parents=True)
        phase.write_config()
    with pytest.raises(PipelineError, match=r'--force-phase incubate \('):
        pipeline(work, digits_root, epochs=dict(incubate=5)).prepare()

    forced = pipeline(work, digits_root, epochs=dict(meta=7))
    forced.prepare(force=['meta'])
    assert (work / 'meta.old-1' / 'meta.pth').is_file() and (work / 'incubate_2.old-1').is_dir()
    assert not (work / 'meta').exists()
    manifest = record.read_manifest(work)
    assert manifest.phase('meta').status == 'pending' and manifest.phase('meta').epochs is None
    with pytest.raises(PipelineError, match=r'--force-phase nope: no such phase here'):
        pipeline(work, digits_root).prepare(force=['nope'])


@pytest.mark.parametrize('epochs', [0, -3, 1.5, True])
def test_epochs_that_cannot_run_are_refused_before_anything_trains(digits_root, tmp_path, epochs):
    with pytest.raises(PipelineError, match=r'--incubate-epochs = .*: epochs must be a whole number >= 1'):
        pipeline(tmp_path / 'w', digits_root, epochs=dict(meta=3, incubate=epochs))
    p = IncubationPipeline(PIPELINE, str(tmp_path / 'w'), data_root=str(digits_root),
                           cfg_options={**OPTIONS, 'train_cfg.max_epochs': epochs})
    with pytest.raises(PipelineError, match=r'train_cfg\.max_epochs of pipeline\.meta .*epochs must be a whole number'):
        p.check_inputs()
    assert not (tmp_path / 'w').exists()


def incubate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, 'tools/incubate.py', PIPELINE, *args, '--cfg-options', *cfg_words(OPTIONS)],
                          cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=300)


def test_user_errors_are_one_line_naming_the_value_or_file(digits_root, tmp_path):
    work = tmp_path / 'work'
    proc = incubate('--work-dir', str(work), '--data-root', str(digits_root), '--incubate-epochs', '0')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip() == '[incubate] ERROR: --incubate-epochs = 0: epochs must be a whole number >= 1'
    assert not (work / 'meta').exists()

    proc = incubate('--work-dir', str(work), '--data-root', str(digits_root), '--modules', '9')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == ('error: module index 9 is out of range for 4 modules (indices are 0-based: 0..3) '
                                   '(--debug shows the traceback)')
    proc = incubate('--work-dir', str(work), '--data-root', str(digits_root), '--stop-after', 'assemble',
                    '--no-assembled-eval')
    assert proc.returncode == 1 and proc.stderr.strip() == ('[incubate] ERROR: --stop-after assemble evaluates the '
                                                            'assembled network; leave out --no-assembled-eval')
    assert not (work / 'meta').exists()

    debug = incubate('--work-dir', str(work), '--data-root', str(digits_root), '--modules', '9', '--debug')
    assert debug.returncode != 0 and 'Traceback' in debug.stderr and 'DivisionError' in debug.stderr

    (work / 'meta').mkdir(parents=True)
    (work / 'meta' / record.COST_FILE).write_text('')  # damaged cost record
    proc = incubate('--work-dir', str(work), '--data-root', str(digits_root))
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'error: {work / "meta" / "cost.json"}: not valid JSON')
