"""runtime.slurm and the Slurm tools against a real single-node cluster on localhost.

The cluster (tests/slurm_cluster.py) starts once per session in about a second; the tests that
need it are skipped with one reason where it cannot start (not root, Slurm not installed).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLS_CONFIGS, ROOT, TINY_DIGITS_OPTIONS, cfg_words, data_options, load_tool, tool_env
from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)

from runtime import slurm

DIGITS_E2E = CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py'


def shell(script: str) -> list:
    return ['bash', '-c', script]


def cpu_options(cluster, tmp_path: Path, name: str, **kwargs) -> slurm.SbatchOptions:
    return slurm.SbatchOptions(partition=cluster.partition, job_name=name, output=str(tmp_path / f'{name}-%j.out'),
                               chdir=str(tmp_path), **kwargs)


def wait_running(job_id: str, timeout: float = 30) -> None:
    slurm.wait([job_id], timeout, poll_seconds=0.2, until=frozenset({slurm.RUNNING}) | slurm.FINAL)
    assert slurm.job_states([job_id])[job_id] == slurm.RUNNING


# --- batch scripts (no cluster needed) ---------------------------------------------------

def test_cpu_script_requests_no_gres_and_requeues_on_signal():
    script = slurm.batch_script(['python', 'train.py', 'a b'], slurm.SbatchOptions(partition='cpu', time_limit='1:00:00'))
    assert '--gres' not in script and 'srun' not in script
    assert '#SBATCH --requeue' in script and '#SBATCH --signal=B:USR1@300' in script
    assert '#SBATCH --time=1:00:00' in script and '#SBATCH --kill-on-invalid-dep=yes' in script
    assert "python train.py 'a b' &" in script  # quoted: an argument with a space stays one argument
    assert 'scontrol requeue "$SLURM_JOB_ID"' in script


def test_multi_gpu_script_runs_one_task_per_gpu_through_srun():
    options = slurm.SbatchOptions(partition='gpu', gpus_per_node=4, nodes=2, ntasks_per_node=4, cpus_per_task=8,
                                  account='proj', qos='high', requeue=False, extra_args=['--constraint=a100'])
    script = slurm.batch_script(['python', 'train.py'], options)
    for line in ('--gres=gpu:4', '--nodes=2', '--ntasks-per-node=4', '--cpus-per-task=8', '--account=proj',
                 '--qos=high', '--no-requeue', '--constraint=a100'):
        assert f'#SBATCH {line}\n' in script
    assert 'exec srun --kill-on-bad-exit=1 python train.py' in script and 'USR1' not in script
    assert options.ntasks == 8


@pytest.mark.parametrize('slurm_state, state', [
    ('COMPLETED', slurm.COMPLETED), ('CANCELLED by 0', slurm.CANCELLED), ('CANCELLED+', slurm.CANCELLED),
    ('REQUEUED', slurm.PENDING), ('COMPLETING', slurm.RUNNING), ('OUT_OF_MEMORY', slurm.FAILED),
    ('NODE_FAIL', slurm.FAILED), ('TIMEOUT', slurm.TIMEOUT), ('SOMETHING_NEW', slurm.UNKNOWN)])
def test_slurm_states_are_normalised(slurm_state, state):
    assert slurm.normalise_state(slurm_state) == state


def test_slurm_submit_dry_run_builds_a_resuming_train_job(tmp_path):
    proc = subprocess.run([sys.executable, 'tools/slurm_submit.py', str(DIGITS_E2E), '--work-dir', str(tmp_path),
                           '--partition', 'gpu', '--gpus', '2', '--time', '10', '--dry-run', '--',
                           '--cfg-options', 'train_cfg.max_epochs=1'],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    script = proc.stdout
    assert '#SBATCH --gres=gpu:2' in script and '#SBATCH --ntasks-per-node=2' in script
    assert f'--work-dir {tmp_path} --resume --launcher slurm --cfg-options train_cfg.max_epochs=1' in script
    assert not list(tmp_path.iterdir())  # a dry run writes nothing


SLURM_WORDS = ['--partition', 'gpu', '--gpus', '2', '--cpus-per-task', '8', '--time', '2-00:00:00',
               '--account', 'proj', '--qos', 'high', '--sbatch-arg=--constraint=a100', '--sbatch-arg=--exclusive',
               '--no-requeue']
SLURM_FIELDS = ('partition', 'gpus_per_node', 'cpus_per_task', 'time_limit', 'account', 'qos', 'requeue', 'extra_args')


def test_slurm_options_are_the_same_in_every_command_and_round_trip():
    """tools/incubate.py, tools/slurm_submit.py and the benchmark suite take the same Slurm options
    (runtime.slurm.add_sbatch_arguments) and build the same sbatch options from them, for their
    own jobs and for the pipeline's phase jobs the suite splices into its graph."""
    import argparse

    from benchmarks import suite
    from classification.incubate import job_options, make_parser
    from runtime.graph import Node

    submit_tool = load_tool('slurm_submit')
    incubate = make_parser().parse_args(['cfg.py', '--work-dir', 'w', '--launcher', 'slurm', *SLURM_WORDS])
    submit, _ = submit_tool.parse_args(['cfg.py', '--work-dir', 'w', *SLURM_WORDS])
    suite_parser = argparse.ArgumentParser()
    suite.add_arguments(suite_parser)
    suite_args = suite_parser.parse_args(['--launcher', 'slurm', *SLURM_WORDS])
    expected = slurm.SbatchOptions(partition='gpu', gpus_per_node=2, cpus_per_task=8, time_limit='2-00:00:00',
                                   account='proj', qos='high', requeue=False,
                                   extra_args=('--constraint=a100', '--exclusive'))
    for args in (incubate, submit, suite_args):
        assert slurm.sbatch_options_from(args) == expected
    # and what each command submits carries them
    suite_options = suite.slurm_options(suite_args)
    built = [job_options(incubate, 'w-meta', 'w/meta', nproc=1), submit_tool.build_job(submit, [])[1],
             suite_options(Node('det/x', ['true'], 'w/det')),
             suite_options(Node('up/x/meta', ['true'], 'w/up', labels=dict(phase='meta', nproc=2)))]
    for options in built:
        assert {f: getattr(options, f) for f in SLURM_FIELDS} == {f: getattr(expected, f) for f in SLURM_FIELDS}
    # a phase job is one task, the same from tools/incubate.py and from the suite
    assert built[0].ntasks_per_node == built[3].ntasks_per_node == 1 and not built[3].srun
    # the alias: --gpus-per-job is --gpus, -p is --partition; without --gpus a job has --nproc-per-worker GPUs
    short = make_parser().parse_args(['cfg.py', '--work-dir', 'w', '-p', 'cpu', '--gpus-per-job', '0'])
    assert (short.partition, short.gpus) == ('cpu', 0)
    four = make_parser().parse_args(['cfg.py', '--work-dir', 'w', '--nproc-per-worker', '4'])
    assert job_options(four, 'w-meta', 'w/meta', nproc=4).gpus_per_node == 4
    with pytest.raises(SystemExit):  # refused by the parser, with its usage line
        submit_tool.parse_args(['cfg.py', '--work-dir', 'w', '--gpus', '-1'])


# --- the real cluster ----------------------------------------------------------------------

def test_cluster_is_up(slurm_cluster):  # noqa: F811
    out = subprocess.run(['sinfo', '--noheader', '--format=%P %a %D %T'], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [f'{slurm_cluster.partition}*', 'up', '1', 'idle']
    print(f'cluster started in {slurm_cluster.start_seconds:.1f} s')


def test_dependent_job_runs_after_its_dependency(slurm_cluster, tmp_path):  # noqa: F811
    a = slurm.submit(shell('sleep 2; echo a-done > a.txt'), cpu_options(slurm_cluster, tmp_path, 'a'))
    b = slurm.submit(shell('cat a.txt > b.txt'), cpu_options(slurm_cluster, tmp_path, 'b'), after_ok=[a])
    assert slurm.job_info([b])[b].reason == 'Dependency'  # held while A runs
    info = slurm.wait([a, b], timeout=60, poll_seconds=0.2)
    assert {i.state for i in info.values()} == {slurm.COMPLETED}
    assert (tmp_path / 'b.txt').read_text() == 'a-done\n'  # B started after A had finished


def test_failed_dependency_leaves_dependent_unrun(slurm_cluster, tmp_path):  # noqa: F811
    a = slurm.submit(shell('sleep 1; exit 3'), cpu_options(slurm_cluster, tmp_path, 'a'))
    b = slurm.submit(shell('touch b-ran'), cpu_options(slurm_cluster, tmp_path, 'b'), after_ok=[a])
    kept = slurm.submit(shell('touch kept-ran'), cpu_options(slurm_cluster, tmp_path, 'kept', kill_on_invalid_dep=False),
                        after_ok=[a])
    info = slurm.wait([a, b, kept], timeout=60, poll_seconds=0.2)
    assert info[a].state == slurm.FAILED
    # the default: Slurm cancels a job whose dependency can never be satisfied
    assert info[b].state == slurm.CANCELLED and info[b].reason == slurm.NEVER_SATISFIED
    # without --kill-on-invalid-dep it stays queued for ever, and job_info says so
    assert info[kept].state == slurm.PENDING and info[kept].never_runs
    slurm.cancel(kept)
    assert slurm.wait([kept], timeout=30, poll_seconds=0.2)[kept].state == slurm.CANCELLED
    assert not (tmp_path / 'b-ran').exists() and not (tmp_path / 'kept-ran').exists()


def test_scancel_of_a_running_job_is_reported_cancelled(slurm_cluster, tmp_path):  # noqa: F811
    job = slurm.submit(shell('sleep 120'), cpu_options(slurm_cluster, tmp_path, 'long'))
    wait_running(job)
    slurm.cancel(job)
    assert slurm.wait([job], timeout=30, poll_seconds=0.2)[job].state == slurm.CANCELLED
    # once slurmctld has forgotten the job, the job-completion log still has its final state
    log = slurm.jobcomp_log()
    assert log is not None and slurm.read_jobcomp([job], log)[job].state == slurm.CANCELLED
    assert slurm.job_states(['999999']) == {'999999': slurm.UNKNOWN}


def test_cpu_job_has_no_gres_and_a_gpu_job_is_refused_clearly(slurm_cluster, tmp_path):  # noqa: F811
    job = slurm.submit(shell('sleep 30'), cpu_options(slurm_cluster, tmp_path, 'cpu', cpus_per_task=1),
                       script_path=str(tmp_path / 'cpu.sbatch'))
    record = subprocess.run(['scontrol', 'show', 'job', '--oneliner', job], capture_output=True, text=True,
                            check=True).stdout
    slurm.cancel(job)
    fields = dict(word.split('=', 1) for word in record.split() if '=' in word)
    assert 'gpu' not in fields['TRES'] and 'TresPerNode' not in fields and 'Gres' not in fields, record
    assert '--gres' not in (tmp_path / 'cpu.sbatch').read_text()
    # this cluster has no GPUs: sbatch refuses, and the error names the command and Slurm's reason
    with pytest.raises(slurm.SlurmError, match=r'`sbatch --parsable` failed \(exit 1\): .*(gres|Gres|GRES)'):
        slurm.submit(['true'], cpu_options(slurm_cluster, tmp_path, 'gpu', gpus_per_node=1))


def test_requeued_job_runs_again_and_keeps_its_log(slurm_cluster, tmp_path):  # noqa: F811
    """USR1 is what Slurm sends before the time limit (--signal=B:USR1@S): the job requeues
    itself and its command runs again (here: finishes on the second run, as a resumed training would)."""
    runs = tmp_path / 'runs'
    job = slurm.submit(shell(f'echo run >> {runs}; [ $(wc -l < {runs}) -ge 2 ] && exit 0; sleep 120'),
                       cpu_options(slurm_cluster, tmp_path, 'requeue'))
    wait_running(job)
    subprocess.run(['scancel', '--signal=USR1', '--batch', job], check=True)
    slurm.wait([job], timeout=30, poll_seconds=0.2, until=frozenset({slurm.PENDING}))
    # a requeued job waits a while before it may start again (BeginTime); release it now
    subprocess.run(['scontrol', 'update', f'JobId={job}', 'StartTime=now'], check=True)
    assert slurm.wait([job], timeout=60, poll_seconds=0.2)[job].state == slurm.COMPLETED
    assert runs.read_text() == 'run\nrun\n'
    log = (tmp_path / f'requeue-{job}.out').read_text()
    assert 'requeueing' in log and 'DUE TO JOB REQUEUE' in log  # the first run's log was appended to


# --- training through Slurm ----------------------------------------------------------------

def tiny_training_words(digits_root: Path) -> list:
    # 3 epochs: the shortest schedule past the config's 2 warmup epochs
    options = {**TINY_DIGITS_OPTIONS, **data_options(digits_root), 'train_cfg.max_epochs': 3}
    return ['--cfg-options', *cfg_words(options)]


def test_slurm_submit_trains_digits_through_sbatch(slurm_cluster, digits_root, tmp_path):  # noqa: F811
    work = tmp_path / 'e2e'
    started = time.monotonic()
    proc = subprocess.run([sys.executable, 'tools/slurm_submit.py', str(DIGITS_E2E), '--work-dir', str(work),
                           '--partition', slurm_cluster.partition, '--gpus', '0', '--cpus-per-task', '1',
                           '--', *tiny_training_words(digits_root)],
                          cwd=ROOT, env=tool_env(), capture_output=True, text=True, check=True)
    job = proc.stdout.strip()
    assert job.isdigit() and time.monotonic() - started < 30  # submitted, not run
    info = slurm.wait([job], timeout=300, poll_seconds=1)[job]
    log = work / f'slurm-{job}.out'
    assert info.state == slurm.COMPLETED, log.read_text()[-3000:]
    assert (work / 'epoch_3.pth').exists() and (work / 'model.safetensors').exists()
    assert (work / 'train-vit-digits-d16_e2e_60e_digits.sbatch').exists()


def test_slurm_train_sh_runs_a_cpu_job_without_gres(slurm_cluster, digits_root, tmp_path):  # noqa: F811
    work = tmp_path / 'e2e'
    env = {**tool_env(), 'GPUS_PER_NODE': '0', 'CPUS_PER_TASK': '1', 'PYTHON': sys.executable}
    proc = subprocess.run(['bash', 'tools/slurm_train.sh', slurm_cluster.partition, 'digits-srun', str(DIGITS_E2E),
                           str(work), *tiny_training_words(digits_root)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # it waited for the job (tools/slurm_submit.py --wait), showing the job's log after its id
    job = proc.stdout.splitlines()[0]
    assert job.isdigit() and slurm.job_states([job])[job] == slurm.COMPLETED
    assert (work / f'slurm-{job}.out').read_text().strip() in proc.stdout
    script = (work / 'digits-srun.sbatch').read_text()
    assert '--gres' not in script and '--launcher none' in script and '#SBATCH --cpus-per-task=1\n' in script
    assert (work / 'epoch_3.pth').exists()
    env['GPUS'] = '2'
    refused = subprocess.run(['bash', 'tools/slurm_train.sh', slurm_cluster.partition, 'x', str(DIGITS_E2E), str(work)],
                             cwd=ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and 'GPUS_PER_NODE=0 runs one CPU process' in refused.stderr


def test_graph_resubmits_the_dependants_of_a_fixed_failure(slurm_cluster, tmp_path):  # noqa: F811
    """The run graph on the real cluster: an upstream job fails, so Slurm cancels one dependant
    and leaves another pending for ever (DependencyNeverSatisfied, without --kill-on-invalid-dep);
    once the cause is fixed, the same call resubmits the upstream and both dependants behind it."""
    from runtime import graph

    flag, state = tmp_path / 'fixed', str(tmp_path / 'state.json')

    def node(name, script, needs=()):
        return graph.Node(name, shell(script), str(tmp_path / name), needs=needs,
                          done=lambda n=name: (tmp_path / f'{n}.done').is_file())

    nodes = [node('up', f'test -f {flag} && touch up.done'),
             node('cancelled', 'touch cancelled.done', ('up',)), node('stuck', 'touch stuck.done', ('up',))]

    def options(n):
        return cpu_options(slurm_cluster, tmp_path, n.name, kill_on_invalid_dep=n.name != 'stuck')

    first = {s.node.name: s.job for s in graph.submit_slurm(nodes, state, options)}
    slurm.wait([first['up'], first['cancelled']], timeout=60, poll_seconds=0.2)
    deadline = time.monotonic() + 30
    while not slurm.job_info([first['stuck']])[first['stuck']].never_runs and time.monotonic() < deadline:
        time.sleep(0.2)
    verdicts = {s.node.name: s.verdict for s in graph.inspect_slurm(nodes, state)}
    assert verdicts == {'up': 'failed', 'cancelled': 'cancelled', 'stuck': 'stuck'}, verdicts
    flag.touch()
    again = {s.node.name: s for s in graph.submit_slurm(nodes, state, options)}
    assert all(again[n].job != first[n] for n in first)
    assert 'its dependency had failed' in again['stuck'].action
    slurm.wait([again[n].job for n in first], timeout=60, poll_seconds=0.2)
    assert all((tmp_path / f'{n}.done').is_file() for n in first)
    assert slurm.job_info([first['stuck']])[first['stuck']].state == slurm.CANCELLED
