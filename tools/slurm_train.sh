#!/usr/bin/env bash
# OpenMMLab-style Slurm training that waits for the run:
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# A thin wrapper: it submits through tools/slurm_submit.py --wait (the Slurm options are defined
# there, once, in runtime/slurm.py), shows the job's log (WORK_DIR/slurm-<job id>.out) as it grows,
# and exits 0 only when the job completed; Ctrl-C cancels the job. The run resumes from the latest
# checkpoint in WORK_DIR (tools/train.py --resume), also when requeued at its time limit.
# Environment, as OpenMMLab's script: GPUS (total processes, default 8), GPUS_PER_NODE (8),
# CPUS_PER_TASK (5), SRUN_ARGS (more Slurm options, one --name=value word each, given to sbatch);
# PYTHON (default python) is the interpreter, on the compute nodes too. SUBMIT_ARGS: more
# tools/slurm_submit.py options (--time T, --account A, --qos Q, --no-requeue ...).
# GPUS_PER_NODE=0 is a CPU job: no --gres, one process (GPUS defaults to 1) started without a
# distributed launcher. To submit and return at once, use tools/slurm_submit.py.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SUBMIT_ARGS=${SUBMIT_ARGS:-""}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# GPUS processes as GPUS_PER_NODE a node -> slurm_submit.py's GPUs per node and nodes
if [ "$GPUS_PER_NODE" = 0 ]; then
    GPUS=${GPUS:-1}
    if [ "$GPUS" != 1 ]; then
        echo "slurm_train.sh: GPUS_PER_NODE=0 runs one CPU process; GPUS=$GPUS needs GPUs (set GPUS_PER_NODE)" >&2
        exit 2
    fi
    PER_NODE=0
    NODES=1
else
    GPUS=${GPUS:-8}
    if [ "$GPUS" -le "$GPUS_PER_NODE" ]; then
        PER_NODE=$GPUS
        NODES=1
    elif [ $((GPUS % GPUS_PER_NODE)) = 0 ]; then
        PER_NODE=$GPUS_PER_NODE
        NODES=$((GPUS / GPUS_PER_NODE))
    else
        echo "slurm_train.sh: GPUS=$GPUS is not a whole number of nodes of GPUS_PER_NODE=$GPUS_PER_NODE" >&2
        exit 2
    fi
fi

read -r -a SRUN_WORDS <<< "$SRUN_ARGS"
read -r -a SUBMIT_WORDS <<< "$SUBMIT_ARGS"
EXTRA=()
for word in ${SRUN_WORDS[@]+"${SRUN_WORDS[@]}"}; do
    EXTRA+=("--sbatch-arg=$word")
done
EXTRA+=(${SUBMIT_WORDS[@]+"${SUBMIT_WORDS[@]}"})

set -x
exec "$PYTHON" -u "$ROOT/tools/slurm_submit.py" "$CONFIG" --work-dir "$WORK_DIR" --partition "$PARTITION" \
    --job-name "$JOB_NAME" --gpus "$PER_NODE" --nodes "$NODES" --cpus-per-task "$CPUS_PER_TASK" \
    ${EXTRA[@]+"${EXTRA[@]}"} --wait -- "${@:5}"
