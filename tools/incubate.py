"""Deep Incubation in one resumable command:

    python tools/incubate.py PIPELINE_CONFIG --work-dir DIR [--data-root DATA] [--parallel K]
        [--meta META_CKPT] [--nproc-per-worker G] [--launcher slurm --partition P] [--modules I ...]

meta model -> K incubation runs (concurrent with --parallel) -> assembly -> fine-tune. Running
the same command again skips finished phases and resumes an interrupted one. State, metrics
and cost go to DIR/manifest.json. See classification/pipeline.py.
"""
import sys

import _bootstrap  # noqa: F401
from classification.pipeline import main

if __name__ == '__main__':
    sys.exit(main())
