"""``tools/incubate.py --launcher slurm`` against a real single-node Slurm cluster on localhost.

The digits pipeline (tiny ViT, 3 epochs a phase, one thread a job) is submitted as dependent
jobs and runs on the cluster (tests/slurm_cluster.py); skipped with one reason where the cluster
cannot start (not root, Slurm not installed).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from conftest import CLS_CONFIGS, ROOT, TINY_DIGITS_OPTIONS, cfg_words, run_tool, tool_env
from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)

from backbones import load_checkpoint
from runtime import record, slurm

CONFIG = CLS_CONFIGS / 'vit-digits-d16_incubation_30e+15e_digits.py'
E2E = CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py'
K = 4
JOB_PHASES = ['meta', *[f'incubate_{i}' for i in range(K)], 'assemble', 'finetune']


def incubate_words(work: Path, data_root: Path) -> List[str]:
    """The pipeline options shared by the Slurm and the local run (3 epochs: past the 2 warm-up epochs)."""
    return [str(CONFIG), '--work-dir', str(work), '--data-root', str(data_root), '--meta-epochs', '3',
            '--incubate-epochs', '3', '--finetune-epochs', '3', '--threads-per-worker', '1',
            '--cfg-options', *cfg_words(TINY_DIGITS_OPTIONS)]


def slurm_words(cluster) -> List[str]:
    return ['--launcher', 'slurm', '--partition', cluster.partition, '--gpus-per-job', '0', '--cpus-per-task', '1']


def incubate(*words: str, timeout: int = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, 'tools/incubate.py', *words], cwd=ROOT, env=tool_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def jobs(work: Path) -> Dict[str, record.JobRecord]:
    return {p.name: p.job for p in record.read_manifest(work).phases if p.job is not None}


def times(job_id: str) -> tuple:
    """(start, end) of a finished job from the cluster's job-completion log (ISO, to the second)."""
    info = slurm.read_jobcomp([job_id], slurm.jobcomp_log())[job_id]
    return info.start_time, info.end_time


def after_pipeline_dry_run(work: Path, tmp_path: Path, check: bool = True) -> subprocess.CompletedProcess:
    """tools/slurm_submit.py of a downstream run behind the pipeline in ``work`` (printed, not submitted)."""
    return subprocess.run([sys.executable, 'tools/slurm_submit.py', str(E2E), '--work-dir', str(tmp_path / 'next'),
                           '--gpus', '0', '--after-pipeline', str(work), '--dry-run'],
                          cwd=ROOT, env=tool_env(), capture_output=True, text=True, check=check)


def wait_state(job_id: str, states: frozenset, timeout: float = 120) -> slurm.JobInfo:
    return slurm.wait([job_id], timeout, poll_seconds=0.2, until=states | slurm.FINAL)[job_id]


def test_pipeline_runs_as_dependent_jobs_resumes_after_scancel_and_matches_local(
        slurm_cluster, digits_root, tmp_path):  # noqa: F811
    work, local = tmp_path / 'slurm', tmp_path / 'local'
    command = [*incubate_words(work, digits_root), *slurm_words(slurm_cluster)]
    started = time.monotonic()
    first = incubate(*command)
    submitted = jobs(work)
    # it returned at once: the jobs are queued or running, the final one behind the others
    assert set(submitted) == set(JOB_PHASES), first.stdout
    states = slurm.job_states(j.id for j in submitted.values())
    assert time.monotonic() - started < 60 and states[submitted['finetune'].id] in slurm.ACTIVE, (states, first.stdout)
    assert submitted['assemble'].id == submitted['finetune'].id  # one final job: assembly + evaluation + fine-tune
    assert submitted['meta'].log == str(work / 'meta' / f'slurm-{submitted["meta"].id}.out')
    for job in submitted.values():
        assert f'submitted job {job.id}' in first.stdout, first.stdout
    # a downstream run submitted now waits for the final job
    assert f'# sbatch --dependency=afterok:{submitted["finetune"].id}\n' in after_pipeline_dry_run(work, tmp_path).stdout

    # the same pipeline with the local launcher, alongside (same config, options and seed)
    local_run = subprocess.Popen([sys.executable, 'tools/incubate.py', *incubate_words(local, digits_root),
                                  '--parallel', '2'], cwd=ROOT, env=tool_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)

    # cancel incubation 2 mid-run: the final job, queued behind it, is cancelled with it
    victim = submitted['incubate_2'].id
    assert wait_state(victim, frozenset({slurm.RUNNING})).state == slurm.RUNNING
    slurm.cancel(victim)
    assert wait_state(victim, frozenset()).state == slurm.CANCELLED
    meta_mtime = (work / 'meta' / 'meta.pth').stat().st_mtime_ns  # meta had finished before any incubation ran

    second = incubate(*command)
    resubmitted = jobs(work)
    assert 'incubate_2   cancelled' in second.stdout and submitted['incubate_2'].log in second.stdout, second.stdout
    assert resubmitted['incubate_2'].id != victim and resubmitted['finetune'].id != submitted['finetune'].id
    for name in ('meta', 'incubate_0', 'incubate_1', 'incubate_3'):  # finished or still running: kept
        assert resubmitted[name].id == submitted[name].id, second.stdout
    assert second.stdout.count('submitted job') == 2, second.stdout

    final = slurm.wait([resubmitted['finetune'].id], timeout=300, poll_seconds=1)[resubmitted['finetune'].id]
    assert final.state == slurm.COMPLETED, Path(resubmitted['finetune'].log).read_text()[-4000:]
    local_out, _ = local_run.communicate(timeout=300)
    assert local_run.returncode == 0, local_out[-4000:]

    # a third time: everything is done, nothing is submitted, the manifest has the jobs' final states
    third = incubate(*command)
    print(first.stdout, second.stdout, third.stdout, sep='\n')
    assert 'submitted' not in third.stdout and 'all phases done' in third.stdout, third.stdout
    manifest = record.read_manifest(work)
    assert all(p.status == 'done' for p in manifest.phases), manifest
    assert {p.name: p.job.state for p in manifest.phases} == {name: slurm.COMPLETED for name in JOB_PHASES}
    assert (work / 'meta' / 'meta.pth').stat().st_mtime_ns == meta_mtime  # not redone
    assert '--dependency' not in after_pipeline_dry_run(work, tmp_path).stdout  # the model exists: no need to wait
    assert len(list((work / 'meta').glob('slurm-*.out'))) == 1

    # dependency order: meta, then the incubations, then the final job
    meta_start, meta_end = times(resubmitted['meta'].id)
    final_start, _ = times(resubmitted['finetune'].id)
    for i in range(K):
        start, end = times(resubmitted[f'incubate_{i}'].id)
        assert meta_end <= start and end <= final_start, (meta_end, start, end, final_start)

    # the same model, in format and evaluation, as the local launcher's
    local_manifest = record.read_manifest(local)
    assert [p.name for p in local_manifest.phases] == [p.name for p in manifest.phases] == JOB_PHASES
    ours, theirs = load_checkpoint(manifest.final['checkpoint']), load_checkpoint(local_manifest.final['checkpoint'])
    assert ours.kind == theirs.kind == 'model' and ours.arch == theirs.arch
    assert {k: v.shape for k, v in ours.state_dict.items()} == {k: v.shape for k, v in theirs.state_dict.items()}
    assert set(manifest.final['metrics']) == set(local_manifest.final['metrics'])
    assert 0.0 <= manifest.final['metrics']['accuracy/top1'] <= 100.0
    # the runs nobody interrupted are the same runs: bit-equal
    for path in ('meta/meta.pth', 'incubate_0/module_0.pth'):
        a, b = load_checkpoint(work / path).state_dict, load_checkpoint(local / path).state_dict
        assert all(torch.equal(a[k], b[k]) for k in a), path
    metrics = tmp_path / 'metrics.json'
    run_tool('tools/test.py', str(work / 'finetune' / 'finetune_config.py'), str(work / 'finetune' / 'model.safetensors'),
             '--work-dir', str(tmp_path / 'test'), '--metrics-json', str(metrics))
    assert record.read_json_object(metrics)['accuracy/top1'] == pytest.approx(manifest.final['metrics']['accuracy/top1'])
    print(f'slurm pipeline: {time.monotonic() - started:.0f} s')


def broken_data_root(root: Path) -> Path:
    """The ImageNet layout, but with images nobody can decode: a run fails as it starts training."""
    for split in ('train', 'val'):
        for label in ('a', 'b'):
            (root / split / label).mkdir(parents=True)
            for i in range(TINY_DIGITS_OPTIONS['train_dataloader.batch_size']):  # a whole batch
                (root / split / label / f'{i}.png').write_bytes(b'not an image')
    return root


def test_failed_meta_leaves_the_incubations_unrun_and_is_reported(slurm_cluster, tmp_path):  # noqa: F811
    work = tmp_path / 'broken'
    command = [*incubate_words(work, broken_data_root(tmp_path / 'data')), *slurm_words(slurm_cluster)]
    incubate(*command)
    submitted = jobs(work)
    ids = sorted({j.id for j in submitted.values()})
    info = slurm.wait(ids, timeout=120, poll_seconds=0.5)
    assert info[submitted['meta'].id].state == slurm.FAILED
    for name in JOB_PHASES[1:]:  # cancelled by Slurm (kill-on-invalid-dep): never started
        assert info[submitted[name].id].state == slurm.CANCELLED, (name, info[submitted[name].id])
    for i in range(K):
        assert not list((work / f'incubate_{i}').glob('slurm-*.out')) and not (work / f'incubate_{i}' / 'cost.json').exists()

    status = incubate(*command, '--status')
    print(status.stdout)
    meta_log = submitted['meta'].log
    assert 'unreadable image' in Path(meta_log).read_text()
    lines = {line.split()[0]: line for line in status.stdout.splitlines() if line.startswith('  ')}
    assert lines['meta'].split()[1] == 'failed' and meta_log in lines['meta'], status.stdout
    assert all(lines[f'incubate_{i}'].split()[1] == 'cancelled' for i in range(K)), status.stdout
    assert lines['final'].split()[1] == 'cancelled', status.stdout
    assert f'meta: job {submitted["meta"].id} failed; last lines of {meta_log}' in status.stdout
    assert jobs(work) == submitted and 'submitted' not in status.stdout  # --status submits nothing
    refused = after_pipeline_dry_run(work, tmp_path, check=False)
    assert refused.returncode != 0 and f'its final job {submitted["finetune"].id} is CANCELLED' in refused.stderr


# --- no cluster needed ------------------------------------------------------------------------


def test_manifest_job_field_round_trips_and_older_manifests_still_read(tmp_path):
    job = record.JobRecord('42', slurm.RUNNING, str(tmp_path / 'meta' / 'slurm-42.out'))
    phases = [record.PhaseRecord('meta', 'started', job=job), record.PhaseRecord('finetune')]
    manifest = record.Manifest.from_phases('cfg.py', phases, {})
    data = manifest.to_dict()
    assert data['version'] == 1 and data['phases'][0]['job'] == {'id': '42', 'state': 'RUNNING', 'log': job.log}
    assert 'job' not in data['phases'][1]  # a local phase writes what it always wrote
    assert record.Manifest.from_dict(data).phases[0].job == job
    del data['phases'][0]['job']          # an older manifest
    assert record.Manifest.from_dict(data).phases[0].job is None
    # a writer that knows nothing of jobs (the pipeline inside the final job) keeps the recorded ones
    record.write_manifest(tmp_path, manifest)
    again = record.Manifest.from_phases('cfg.py', [record.PhaseRecord('meta', 'done'), record.PhaseRecord('finetune')], {})
    record.write_manifest(tmp_path, again)
    assert record.read_manifest(tmp_path).phases[0].job == job and again.phases[0].job == job
    record.write_manifest(tmp_path, record.Manifest.from_phases('cfg.py', [record.PhaseRecord('meta')], {}),
                          keep_jobs=False)
    assert record.read_manifest(tmp_path).phases[0].job is None


def test_job_commands_resume_and_map_nproc_to_torchrun(tmp_path):
    from classification.cluster import SlurmPipeline, SlurmSettings, final_command, phase_command
    from classification.pipeline import IncubationPipeline

    pipeline = IncubationPipeline(str(CONFIG), str(tmp_path / 'w'), cfg_options=dict(TINY_DIGITS_OPTIONS))
    meta = pipeline.meta_phase()
    assert phase_command(meta, 1)[-6:] == [meta.config_file, '--work-dir', meta.work_dir, '--resume', '--launcher', 'none']
    group = phase_command(meta, 4)
    assert group[1:5] == ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=4']
    assert group[-2:] == ['--launcher', 'pytorch'] and '--resume' in group
    words = [str(CONFIG), '--work-dir', 'w', '--meta-epochs', '3', '--launcher', 'slurm', '--cfg-options', 'a=1']
    assert final_command(words, 4)[3:] == [*words, '--launcher', 'none', '--modules', '0', '1', '2', '3']
    settings = SlurmSettings(slurm.SbatchOptions(partition='gpu', gpus_per_node=4, cpus_per_task=16,
                                                 time_limit='2-00:00:00'), nproc_per_worker=4)
    script = slurm.batch_script(group, settings.options('w-meta', meta.work_dir, str(ROOT)))
    assert '#SBATCH --gres=gpu:4\n' in script and '#SBATCH --ntasks-per-node=1\n' in script and 'srun' not in script
    assert "export OMP_NUM_THREADS=16" in script and '#SBATCH --requeue' in script
    units = SlurmPipeline(pipeline, settings, words).units()
    assert [(u.name, u.upstream) for u in units] == [
        ('meta', []), *[(f'incubate_{i}', ['meta']) for i in range(K)], ('final', [f'incubate_{i}' for i in range(K)])]
