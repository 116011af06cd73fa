"""``tools/incubate.py --launcher slurm`` against a real single-node Slurm cluster on localhost.

The digits pipeline (tiny ViT, 3 epochs a phase, one thread a job) is submitted as dependent
jobs and runs on the cluster (tests/slurm_cluster.py); skipped with one reason where the cluster
cannot start (not root, Slurm not installed).
"""
from __future__ import annotations

import json
import shutil
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
JOB_NODES = ['meta', *[f'incubate_{i}' for i in range(K)], 'assemble', 'final']
PHASES = ['meta', *[f'incubate_{i}' for i in range(K)], 'assemble', 'finetune']


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


def jobs(work: Path) -> Dict[str, Dict[str, str]]:
    """The run graph's state file: each node's job id and log."""
    return record.read_json_object(work / record.SLURM_STATE)['jobs']


def report_lines(stdout: str) -> Dict[str, List[str]]:
    """The report's node lines, split into words, by node."""
    return {line.split()[0]: line.split() for line in stdout.splitlines()
            if line.startswith('  ') and ':' not in line.split()[0] and line.split()[0] != 'node'}


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
    assert set(submitted) == set(JOB_NODES), first.stdout  # an assemble job (check + evaluation), a fine-tune job
    states = slurm.job_states(j['job'] for j in submitted.values())
    assert time.monotonic() - started < 60 and states[submitted['final']['job']] in slurm.ACTIVE, (states, first.stdout)
    assert submitted['meta']['log'] == str(work / 'meta' / f'slurm-{submitted["meta"]["job"]}.out')
    assert 'job' not in json.dumps(record.read_json_object(work / record.MANIFEST) or {})  # one store of jobs
    for job in submitted.values():
        assert f'submitted job {job["job"]}' in first.stdout, first.stdout
    # a downstream run submitted now waits for the final job
    assert f'# sbatch --dependency=afterok:{submitted["final"]["job"]}\n' in after_pipeline_dry_run(work, tmp_path).stdout

    # the same pipeline with the local launcher, alongside (same config, options and seed)
    local_run = subprocess.Popen([sys.executable, 'tools/incubate.py', *incubate_words(local, digits_root),
                                  '--parallel', '2'], cwd=ROOT, env=tool_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)

    # cancel incubation 2 mid-run: the assemble and final jobs, queued behind it, are cancelled with it
    victim = submitted['incubate_2']['job']
    assert wait_state(victim, frozenset({slurm.RUNNING})).state == slurm.RUNNING
    slurm.cancel(victim)
    assert wait_state(victim, frozenset()).state == slurm.CANCELLED
    meta_mtime = (work / 'meta' / 'meta.pth').stat().st_mtime_ns  # meta had finished before any incubation ran

    second = incubate(*command)
    resubmitted = jobs(work)
    line = report_lines(second.stdout)['incubate_2']
    assert line[1] == 'cancelled' and submitted['incubate_2']['log'] in line, second.stdout
    assert resubmitted['incubate_2']['job'] != victim and resubmitted['final']['job'] != submitted['final']['job']
    assert resubmitted['assemble']['job'] != submitted['assemble']['job']
    for name in ('meta', 'incubate_0', 'incubate_1', 'incubate_3'):  # finished or still running: kept
        assert resubmitted[name]['job'] == submitted[name]['job'], second.stdout
    assert second.stdout.count('submitted job') == 3, second.stdout

    final_id = resubmitted['final']['job']
    final = slurm.wait([final_id], timeout=300, poll_seconds=1)[final_id]
    assert final.state == slurm.COMPLETED, Path(resubmitted['final']['log']).read_text()[-4000:]
    local_out, _ = local_run.communicate(timeout=300)
    assert local_run.returncode == 0, local_out[-4000:]

    # a third time: everything is done, nothing is submitted
    third = incubate(*command)
    print(first.stdout, second.stdout, third.stdout, sep='\n')
    assert 'submitted' not in third.stdout and 'all phases done' in third.stdout, third.stdout
    assert {w[1] for w in report_lines(third.stdout).values()} == {'done'}, third.stdout
    manifest = record.read_manifest(work)
    assert all(p.status == 'done' for p in manifest.phases), manifest
    assert (work / 'meta' / 'meta.pth').stat().st_mtime_ns == meta_mtime  # not redone
    assert '--dependency' not in after_pipeline_dry_run(work, tmp_path).stdout  # the model exists: no need to wait
    assert len(list((work / 'meta').glob('slurm-*.out'))) == 1

    # dependency order: meta, then the incubations, then the assemble job, then the final job
    meta_start, meta_end = times(resubmitted['meta']['job'])
    assemble_start, assemble_end = times(resubmitted['assemble']['job'])
    final_start, _ = times(final_id)
    assert assemble_end <= final_start, (assemble_end, final_start)
    for i in range(K):
        start, end = times(resubmitted[f'incubate_{i}']['job'])
        assert meta_end <= start and end <= assemble_start, (meta_end, start, end, assemble_start)

    # the same model, in format and evaluation, as the local launcher's
    local_manifest = record.read_manifest(local)
    assert [p.name for p in local_manifest.phases] == [p.name for p in manifest.phases] == PHASES
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


def test_failed_meta_is_reported_and_resubmitted_with_its_dependants_once_fixed(
        slurm_cluster, digits_root, tmp_path):  # noqa: F811
    work, data = tmp_path / 'broken', broken_data_root(tmp_path / 'data')
    command = [*incubate_words(work, data), *slurm_words(slurm_cluster)]
    incubate(*command)
    submitted = jobs(work)
    ids = sorted({j['job'] for j in submitted.values()})
    info = slurm.wait(ids, timeout=120, poll_seconds=0.5)
    assert info[submitted['meta']['job']].state == slurm.FAILED
    for name in JOB_NODES[1:]:  # cancelled by Slurm (kill-on-invalid-dep): never started
        assert info[submitted[name]['job']].state == slurm.CANCELLED, (name, info[submitted[name]['job']])
    for i in range(K):
        assert not list((work / f'incubate_{i}').glob('slurm-*.out')) and not (work / f'incubate_{i}' / 'cost.json').exists()

    status = incubate(*command, '--status')
    print(status.stdout)
    meta_log = submitted['meta']['log']
    lines = report_lines(status.stdout)
    assert lines['meta'][1] == 'failed' and meta_log in lines['meta'], status.stdout
    assert all(lines[name][1] == 'cancelled' for name in JOB_NODES[1:]), status.stdout
    # the cause, in one line of the command's own output
    cause = next(line for line in status.stdout.splitlines() if line.strip().startswith('meta: job'))
    assert f'meta: job {submitted["meta"]["job"]} failed: ' in cause and 'image' in cause and meta_log in cause, cause
    assert jobs(work) == submitted and 'submitted' not in status.stdout  # --status submits nothing
    refused = after_pipeline_dry_run(work, tmp_path, check=False)
    assert refused.returncode != 0 and f'its final job {submitted["final"]["job"]} is CANCELLED' in refused.stderr

    # the cause fixed (readable images where the broken ones were), the same command resubmits the
    # failed meta and everything behind it, in order
    shutil.rmtree(data)
    shutil.copytree(digits_root, data)
    again = incubate(*command)
    resubmitted = jobs(work)
    assert all(resubmitted[n]['job'] != submitted[n]['job'] for n in JOB_NODES), again.stdout
    lines = report_lines(again.stdout)
    assert lines['meta'][1] == 'failed' and f'submitted job {resubmitted["meta"]["job"]}' in again.stdout
    for i in range(K):
        assert f'(afterok {resubmitted["meta"]["job"]})' in ' '.join(lines[f'incubate_{i}']), again.stdout
    after = ':'.join(resubmitted[f'incubate_{i}']['job'] for i in range(K))
    assert f'(afterok {after})' in ' '.join(lines['assemble']), again.stdout
    assert f'(afterok {resubmitted["assemble"]["job"]})' in ' '.join(lines['final']), again.stdout
    # the meta job now trains (readable images): the chain behind it runs as in the test above,
    # so it is not waited for here
    meta = wait_state(resubmitted['meta']['job'], frozenset({slurm.RUNNING}))
    assert meta.state in (slurm.RUNNING, slurm.COMPLETED), meta
    slurm.cancel([j['job'] for j in resubmitted.values()])


# --- no cluster needed ------------------------------------------------------------------------


def test_jobs_an_older_manifest_kept_move_to_the_state_file(tmp_path):
    """Work dirs submitted by the version that kept jobs in the manifest: the jobs move to the run
    graph's state file (a job still queued is not submitted twice) and leave the manifest."""
    from classification.incubate import migrate_manifest_jobs

    meta = record.JobRecord('41', slurm.COMPLETED, str(tmp_path / 'meta' / 'slurm-41.out'))
    final = record.JobRecord('42', slurm.RUNNING, str(tmp_path / 'finetune' / 'slurm-42.out'))
    phases = [record.PhaseRecord('meta', 'done', job=meta), record.PhaseRecord('assemble', job=final),
              record.PhaseRecord('finetune', 'started', job=final)]
    data = record.Manifest.from_phases('cfg.py', phases, {}).to_dict()
    assert data['phases'][0]['job'] == {'id': '41', 'state': 'COMPLETED', 'log': meta.log}  # the old format
    (tmp_path / record.MANIFEST).write_text(json.dumps(data))
    assert record.pipeline_final_job(tmp_path) == '42'  # readable before the migration (tools/slurm_submit.py)
    migrate_manifest_jobs(str(tmp_path), str(tmp_path / record.SLURM_STATE))
    assert jobs(tmp_path) == {'meta': dict(job='41', log=meta.log), 'final': dict(job='42', log=final.log)}
    assert all(p.job is None for p in record.read_manifest(tmp_path).phases)
    assert record.pipeline_final_job(tmp_path) == '42'


def test_job_commands_resume_and_map_nproc_to_torchrun(tmp_path):
    from classification.incubate import final_command, job_options, make_parser, phase_command, slurm_nodes
    from classification.pipeline import IncubationPipeline

    pipeline = IncubationPipeline(str(CONFIG), str(tmp_path / 'w'), cfg_options=dict(TINY_DIGITS_OPTIONS))
    meta = pipeline.meta_phase()
    assert phase_command(meta, 1)[-6:] == [meta.config_file, '--work-dir', meta.work_dir, '--resume', '--launcher', 'none']
    group = phase_command(meta, 4)
    assert group[1:5] == ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=4']
    assert group[-2:] == ['--launcher', 'pytorch'] and '--resume' in group
    words = [str(CONFIG), '--work-dir', 'w', '--meta-epochs', '3', '--launcher', 'slurm', '--cfg-options', 'a=1']
    assert final_command(words, 4)[3:] == [*words, '--launcher', 'none', '--modules', '0', '1', '2', '3']
    assert final_command(words, 4, 'assemble')[-2:] == ['--stop-after', 'assemble']
    args = make_parser().parse_args([*words, '--partition', 'gpu', '--gpus', '4', '--cpus-per-task', '16',
                                     '--time', '2-00:00:00', '--nproc-per-worker', '4'])
    script = slurm.batch_script(group, job_options(args, 'w-meta', meta.work_dir, nproc=4))
    assert '#SBATCH --gres=gpu:4\n' in script and '#SBATCH --ntasks-per-node=1\n' in script and 'srun' not in script
    assert "export OMP_NUM_THREADS=16" in script and '#SBATCH --requeue' in script
    nodes = slurm_nodes(pipeline, words, nproc=1)
    assert [(n.name, n.needs) for n in nodes] == [
        ('meta', ()), *[(f'incubate_{i}', ('meta',)) for i in range(K)],
        ('assemble', tuple(f'incubate_{i}' for i in range(K))), ('final', ('assemble',))]
    assert nodes[-2].argv[-2:] == ['--stop-after', 'assemble'] and '--stop-after' not in nodes[-1].argv
    # without the assembled network's evaluation there is no assemble node
    quick = slurm_nodes(pipeline, [*words, '--no-assembled-eval'], nproc=1)
    assert [(n.name, n.needs) for n in quick][-1] == ('final', tuple(f'incubate_{i}' for i in range(K)))
    # --modules: the others are held (never submitted by this command), and so is the final node's wait
    held = slurm_nodes(IncubationPipeline(str(CONFIG), str(tmp_path / 'w'), modules=[0, 1]), words)
    assert [n.held for n in held] == ['', '', '', 'not in --modules', 'not in --modules', '', '']
    # the suite splices them in place of its one pipeline node, behind the shared meta model
    from runtime import graph

    outer = [graph.Node('meta', ['m'], 'm'), graph.Node('up', ['u'], 'u', needs=('meta',)),
             graph.Node('det', ['d'], 'd', needs=('up',))]
    given = IncubationPipeline(str(CONFIG), str(tmp_path / 'v'), meta=str(tmp_path / 'meta.pth'))
    spliced = graph.splice(outer, 'up', slurm_nodes(given, words, prefix='up/'))
    assert [(n.name, n.needs) for n in graph.check_graph(spliced)] == [
        ('meta', ()), *[(f'up/incubate_{i}', ('meta',)) for i in range(K)],
        ('up/assemble', tuple(f'up/incubate_{i}' for i in range(K))), ('up/final', ('up/assemble',)),
        ('det', ('up/final',))]


def test_a_fashion_study_is_submitted_as_one_graph(slurm_cluster, tmp_path, capsys, monkeypatch):  # noqa: F811
    """``benchmarks reproduce --preset fashion-* --launcher slurm``: the study's runs on the same run
    graph, each pipeline spliced in as its phase jobs behind the seed's shared meta model."""
    from conftest import write_fashion_idx

    from benchmarks.__main__ import main as cli

    data = tmp_path / 'fashion-mnist'
    write_fashion_idx(data, {'train': 20, 'test': 10})
    monkeypatch.setenv('INCUBATION_VIT_CACHE', str(tmp_path / 'cache'))
    work = tmp_path / 'work'
    words = ['reproduce', '--preset', 'fashion-smoke', '--depths', '8', '--seeds', '0', '--work-dir', str(work),
             '--data-root', str(data), '--launcher', 'slurm', '--partition', slurm_cluster.partition, '--gpus', '0',
             '--cpus-per-task', '1']
    assert cli(words) == 0
    out = capsys.readouterr().out
    state = record.read_json_object(work / 'fashion-slurm.json')['jobs']
    pipeline = 'd8_incubation_seed0'
    assert set(state) == {'meta_seed0_data100', 'd8_e2e_seed0', *[f'{pipeline}/incubate_{i}' for i in range(K)],
                          f'{pipeline}/assemble', f'{pipeline}/final'}, out
    try:
        lines = report_lines(out)
        for i in range(K):  # the pipeline was handed the shared meta model (--meta): its phases wait for it
            assert f'(afterok {state["meta_seed0_data100"]["job"]})' in ' '.join(lines[f'{pipeline}/incubate_{i}'])
        assert (work / 'meta_seed0_data100' / f'slurm-{state["meta_seed0_data100"]["job"]}.out').name in \
            state['meta_seed0_data100']['log']
        assert cli([*words, '--status']) == 0
        assert 'submitted' not in capsys.readouterr().out
        assert record.read_json_object(work / 'fashion-slurm.json')['jobs'] == state
    finally:
        slurm.cancel([j['job'] for j in state.values()])
