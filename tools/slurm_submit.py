"""Submit one training run (any task's config) to Slurm with sbatch and return at once.

    python tools/slurm_submit.py CONFIG --work-dir DIR --partition P [--gpus N] [--nodes M]
        [--cpus-per-task C] [--time T] [--account A] [--qos Q] [--job-name NAME]
        [--after JOB_ID ...] [--after-pipeline INCUBATION_WORK_DIR]
        [--sbatch-arg=--constraint=a100 ...] [--no-requeue] [--wait] [--dry-run] [-- TRAIN_OPTIONS ...]

For the E2E baselines and the detection and segmentation configs, as ``tools/train.py`` runs
them all. The job runs ``tools/train.py CONFIG --work-dir DIR --resume TRAIN_OPTIONS``: a job
requeued at its time limit (or resubmitted after a failure) continues from the latest
checkpoint in DIR. ``--gpus N`` is per node; N > 1 runs one process per GPU through ``srun``
with mmengine's ``--launcher slurm``; ``--gpus 0`` is a CPU job that requests no GPU (no
``--gres``).

``--after-pipeline DIR`` starts the run once the incubation pipeline submitted into DIR
(``tools/incubate.py --launcher slurm``) has its final model: ``afterok`` on its final job
while that is queued or running, no dependency once the model exists. The model is handed to
a detection or segmentation run by reference: ``model.backbone.init_cfg.checkpoint=DIR/finetune/model.pth``
is added to its ``--cfg-options`` (a checkpoint given there yourself is kept). For a whole chain of upstream and
downstream runs, see ``python -m benchmarks suite --launcher slurm``.

Prints the job id alone on stdout (``JOB=$(python tools/slurm_submit.py ...)``, then
``--after $JOB`` chains the next run); the log is ``DIR/slurm-<job id>.out``. With ``--wait`` it
then waits for the job, copying its log to stdout as it grows, and exits 0 only when the job
completed (``tools/slurm_train.sh`` runs it so); Ctrl-C cancels the job.

The Slurm options (``--partition`` ... ``--no-requeue``) are those of ``tools/incubate.py`` and
the benchmark suite: :func:`runtime.slurm.add_sbatch_arguments`.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time
from typing import List, Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from runtime import record, slurm  # noqa: E402  (torch-free: submitting must not wait for torch to import)

TRAIN = osp.join(ROOT, 'tools', 'train.py')


def parse_args(argv: Optional[Sequence[str]] = None) -> Tuple[argparse.Namespace, List[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: List[str] = []
    if '--' in argv:
        cut = argv.index('--')
        argv, train_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description='Submit tools/train.py CONFIG as a Slurm batch job',
                                     epilog='Options after -- go to tools/train.py.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', required=True, help='where logs, checkpoints and the job log go')
    slurm.add_sbatch_arguments(parser, gpus_help='Per node (--nodes); N > 1 runs N processes a node through srun')
    parser.add_argument('--nodes', type=int, default=1)
    parser.add_argument('--job-name', help='default: train-CONFIG_NAME')
    parser.add_argument('--after', nargs='+', default=[], metavar='JOB_ID',
                        help='start only after these jobs completed successfully (afterok)')
    parser.add_argument('--after-pipeline', metavar='WORK_DIR',
                        help="start after the final job of tools/incubate.py --launcher slurm's run in WORK_DIR")
    parser.add_argument('--wait', action='store_true',
                        help='wait for the job to end, copying its log to stdout; exit 0 only if it completed')
    parser.add_argument('--dry-run', action='store_true', help='print the batch script, submit nothing')
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error(f'--nodes must be >= 1 (got {args.nodes})')
    return args, train_args


def build_job(args: argparse.Namespace, train_args: Sequence[str]) -> Tuple[List[str], slurm.SbatchOptions]:
    """The command and sbatch options of one training run."""
    work_dir = osp.abspath(args.work_dir)
    processes = max(1, args.gpus) * args.nodes
    launcher = 'slurm' if processes > 1 else 'none'
    command = [sys.executable, '-u', TRAIN, osp.abspath(args.config), '--work-dir', work_dir, '--resume',
               '--launcher', launcher, *train_args]
    config_name = osp.splitext(osp.basename(args.config))[0]
    options = slurm.sbatch_options_from(
        args, job_name=args.job_name or f'train-{config_name}', output=osp.join(work_dir, 'slurm-%j.out'),
        nodes=args.nodes, ntasks_per_node=max(1, args.gpus), chdir=ROOT,
        env={'PYTHONPATH': os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)})
    return command, options


def pipeline_dependency(work_dir: str) -> List[str]:
    """The final job of the incubation pipeline in ``work_dir`` while it is queued or running;
    nothing once its final model exists; an error naming the work dir otherwise."""
    work_dir = osp.abspath(work_dir)
    if osp.isfile(osp.join(work_dir, record.FINETUNE, record.artifact_name('assembled'))):
        return []
    try:
        job = record.pipeline_final_job(work_dir)
    except record.RecordError as e:
        sys.exit(f'slurm_submit: --after-pipeline: {e}')
    state = slurm.job_states([job])[job] if job is not None else None
    if state not in slurm.ACTIVE:
        found = f'its final job {job} is {state}' if job is not None else 'no final job is recorded'
        sys.exit(f'slurm_submit: --after-pipeline {work_dir}: the pipeline has no final model and {found}; '
                 f'run its tools/incubate.py --launcher slurm command again first')
    return [job]


def has_backbone(config: str) -> bool:
    """Whether a config's model has a ``backbone`` (a detector or segmentor) to hand the model to."""
    from mmengine.config import Config

    model = Config.fromfile(config, import_custom_modules=False).get('model') or {}
    return isinstance(model.get('backbone'), dict)


def with_pipeline_checkpoint(command: List[str], work_dir: str) -> List[str]:
    """``command`` with the pipeline's final model as the backbone checkpoint, unless it names one."""
    key = 'model.backbone.init_cfg.checkpoint='
    if any(word.startswith(key) for word in command):
        return command
    final = osp.join(osp.abspath(work_dir), record.FINETUNE, record.artifact_name('assembled'))
    if '--cfg-options' in command:
        at = command.index('--cfg-options') + 1
        return command[:at] + [key + final] + command[at:]
    return command + ['--cfg-options', key + final]


def main(argv: Optional[Sequence[str]] = None) -> str:
    args, train_args = parse_args(argv)
    command, options = build_job(args, train_args)
    if args.after_pipeline:
        args.after = [*args.after, *pipeline_dependency(args.after_pipeline)]
        if has_backbone(args.config):
            command = with_pipeline_checkpoint(command, args.after_pipeline)
    if args.dry_run:
        if args.after:
            print(f'# sbatch {slurm.dependency_arg(args.after)}')
        print(slurm.batch_script(command, options))
        return ''
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)  # Slurm opens the job log there before the job starts
    try:
        job_id = slurm.submit(command, options, after_ok=args.after,
                              script_path=osp.join(work_dir, f'{options.job_name}.sbatch'))
    except slurm.SlurmError as e:
        sys.exit(f'slurm_submit: {args.config}: {e}')
    log = osp.join(work_dir, f'slurm-{job_id}.out')
    print(job_id, flush=True)
    print(f'submitted job {job_id}; log: {log}', file=sys.stderr, flush=True)
    if args.wait:
        info = wait_for(job_id, log)
        if info.state != slurm.COMPLETED:
            sys.exit(f'slurm_submit: job {job_id} ended {info.slurm_state or info.state}'
                     f'{f" (exit code {info.exit_code})" if info.exit_code else ""}; log: {log}')
    return job_id


def _copy_new(path: str, shown: int) -> int:
    """Write what ``path`` has beyond its first ``shown`` bytes to stdout; return its size."""
    try:
        with open(path, 'rb') as f:
            f.seek(shown)
            new = f.read()
    except OSError:             # not created yet: the job has not started
        return shown
    sys.stdout.buffer.write(new)
    sys.stdout.flush()
    return shown + len(new)


def wait_for(job_id: str, log: str, poll_seconds: float = 2.0) -> slurm.JobInfo:
    """Wait until the job has ended (or can never start), copying its log to stdout as it grows;
    Ctrl-C cancels the job. Slurm not knowing the job three times in a row counts as ended."""
    shown, unknown = 0, 0
    try:
        while True:
            info = slurm.job_info([job_id])[job_id]
            shown = _copy_new(log, shown)
            unknown = unknown + 1 if info.state == slurm.UNKNOWN else 0
            if info.state in slurm.FINAL or info.never_runs or unknown >= 3:
                break
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        slurm.cancel(job_id)
        sys.exit(f'slurm_submit: interrupted; job {job_id} cancelled')
    _copy_new(log, shown)
    return info


if __name__ == '__main__':
    main()
