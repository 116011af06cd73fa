"""Deep Incubation in one resumable command:

    python tools/incubate.py PIPELINE_CONFIG --work-dir DIR [--data-root DATA] [--parallel K]
        [--meta META_CKPT] [--nproc-per-worker G] [--modules I ...]
        [--launcher slurm [--partition P] [--gpus N] [--cpus-per-task C] [--time T]
         [--account A] [--qos Q] [--sbatch-arg ARG ...] [--no-requeue] [--status]]

meta model -> K incubation runs (concurrent with --parallel) -> assembly -> fine-tune. Running
the same command again skips finished phases and resumes an interrupted one. State, metrics
and cost go to DIR/manifest.json. See classification/pipeline.py.

With --launcher slurm the whole method is submitted at once as dependent sbatch jobs (meta, K
incubations, a final assemble + fine-tune job) and the command returns; running it again reports
each job and resubmits only what failed or was cancelled (--status: report only). See
classification/incubate.py and docs/slurm.md.
"""
import sys

import _bootstrap  # noqa: F401
from classification.incubate import main

if __name__ == '__main__':
    sys.exit(main())
