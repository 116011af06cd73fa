#!/usr/bin/env bash
# Slurm training through srun (waits for the run): tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# GPUS (total processes, default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS as usual;
# PYTHON (default python) is the interpreter on the compute nodes.
# GPUS_PER_NODE=0 is a CPU job: no --gres, one process (GPUS defaults to 1) started without a
# distributed launcher. To submit and return at once, use tools/slurm_submit.py (sbatch).
set -euo pipefail
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

if [ "$GPUS_PER_NODE" = 0 ]; then
    GPUS=${GPUS:-1}
    if [ "$GPUS" != 1 ]; then
        echo "slurm_train.sh: GPUS_PER_NODE=0 runs one CPU process; GPUS=$GPUS needs GPUs (set GPUS_PER_NODE)" >&2
        exit 2
    fi
    RESOURCES=(--ntasks=1)
    LAUNCHER=none   # mmengine's slurm launcher selects a CUDA device
else
    GPUS=${GPUS:-8}
    RESOURCES=(--gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE")
    LAUNCHER=slurm
fi

PYTHONPATH="$ROOT:${PYTHONPATH:-}" \
srun -p "$PARTITION" --job-name="$JOB_NAME" "${RESOURCES[@]}" --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 ${SRUN_ARGS} \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher="$LAUNCHER" "${@:5}"
