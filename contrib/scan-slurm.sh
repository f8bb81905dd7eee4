#!/bin/bash
# `mxkit scan` split over 16 array tasks: a Slurm batch script (docs/scan.md,
# "Routing at internet scale").
#
#   mkdir -p logs shards
#   jid=$(sbatch --parsable contrib/scan-slurm.sh)
#   # the merge, once every task has succeeded:
#   sbatch --dependency=afterok:$jid --job-name=mxkit-merge --output=logs/merge-%j.log \
#       --wrap "mxkit scan-merge --input $PWD/input.txt --output $PWD/routes.jsonl --shards 16 $PWD/shards/shard-*.jsonl"
#
# Every task reads the same input (on a file system all nodes see) and
# routes only its share of it: task K (SLURM_ARRAY_TASK_ID, 0 to 15) routes
# the input lines whose line number modulo 16 is K (`--shard K/16`), into
# its own file, shards/shard-K.jsonl. Nothing is split beforehand.
#
# A task requeued by Slurm (node failure, preemption) runs this script
# again from the top: `--resume` keeps the lines already in its file and
# routes only the others. So does a task submitted again by hand, after a
# failure: `sbatch --array=5 contrib/scan-slurm.sh` redoes shard 5 only
# (the shard count is fixed below, not taken from the array's size, so
# one task submitted alone still routes its 1/16th).
#
# Set INPUT, OUT, SERVERS, RATE in the environment of sbatch to change
# them (sbatch passes its environment on), or edit the defaults below.
#
#SBATCH --job-name=mxkit-scan
#SBATCH --array=0-15
# One task per shard; each its own threads (--threads = this).
#SBATCH --cpus-per-task=4
# Memory follows the window, not the input (under 200 MB in BENCHMARKS.md)
# plus the shared cache of the exchangers' addresses.
#SBATCH --mem=1G
#SBATCH --time=24:00:00
# Requeued, not failed, when its node fails or it is preempted.
#SBATCH --requeue
# Keep the log of the earlier attempts when a task is requeued.
#SBATCH --open-mode=append
#SBATCH --output=logs/scan-%A_%a.log

set -euo pipefail

# The shard count: the size of the array above (--array=0-15). Change both
# together.
SHARDS=16
INPUT=${INPUT:-$PWD/input.txt}
OUT=${OUT:-$PWD/shards}
# Your recursive resolvers, separated by spaces.
SERVERS=${SERVERS:-192.0.2.53 192.0.2.54}
# Queries per second for this task, all of its threads together: the total
# your resolvers accept from this scan divided by the tasks running at once
# (here 40000 / 16; with `--array=0-15%4`, divide by 4).
RATE=${RATE:-2500}
# How often a task that stopped early (exit 3: no usable reply from any
# resolver for 30 s) requeues itself to resume.
MAX_REQUEUE=${MAX_REQUEUE:-3}

K=${SLURM_ARRAY_TASK_ID:?submit it as an array job: sbatch contrib/scan-slurm.sh}
if ((K >= SHARDS)); then
    echo "scan-slurm: task $K is outside the $SHARDS shards (0 to $((SHARDS - 1)))" >&2
    exit 64
fi

server_args=()
for s in $SERVERS; do
    server_args+=(--server "$s")
done

echo "scan-slurm: shard $K/$SHARDS on $(hostname), attempt $((${SLURM_RESTART_COUNT:-0} + 1))" >&2

status=0
mxkit scan "$INPUT" --shard "$K/$SHARDS" "${server_args[@]}" \
    --rate "$RATE" --threads "${SLURM_CPUS_PER_TASK:-1}" \
    --output "$OUT/shard-$K.jsonl" --resume \
    --stats "$OUT/shard-$K.stats.json" --no-progress || status=$?

# Exit 3: the lines written are whole and the rest can be resumed; 64 (a
# usage error, or an output that was not written for this input) would
# only fail again, and 0 is done.
if ((status == 3 && ${SLURM_RESTART_COUNT:-0} < MAX_REQUEUE)); then
    echo "scan-slurm: shard $K stopped early; requeued to resume" >&2
    scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
exit "$status"
