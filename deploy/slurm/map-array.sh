#!/bin/bash
# geomaml batch mapping as a Slurm job array: task i maps shard i of SHARDS.
#
#   mkdir -p logs
#   MODEL=model.onnx MANIFEST=scenes.txt OUT=maps sbatch --array=0-15%8 deploy/slurm/map-array.sh
#
# The array is the shard count: --array=0-(N-1) makes N shards ("%8" runs at most
# 8 at a time and changes nothing else). SHARDS may say N explicitly; an array
# that does not cover exactly the shards 0..SHARDS-1 is refused (exit 2) before
# geomaml starts, as its tasks would map only some of the scenes and all exit 0.
# Every task reads the same manifest and writes into the same folder OUT on a
# shared file system; the scenes are dealt to the shards evenly (they differ by
# one scene at most), so tasks never write the same file. Rerunning the array (or
# only some tasks, e.g. `SHARDS=16 PARTIAL_ARRAY=1 sbatch --array=3,7 ...`, with
# the SHARDS of the first run) maps only what is missing: done scenes are skipped,
# failed or interrupted ones redone. A task exits 3 when one of its scenes failed
# (1 when the run itself failed, 2 for a wrong array or options);
# OUT/summary-<i>-of-<SHARDS>.json says which and why.
#
# CPUs and memory: the #SBATCH lines below ask for 4 CPUs and 4 GB per task. A
# partition whose nodes have fewer CPUs never starts the tasks (they stay
# pending); options on the sbatch command line win over these lines:
#   sbatch --cpus-per-task=2 --mem=2G --array=0-15 deploy/slurm/map-array.sh
# geomaml then uses the CPUs Slurm gave the task (SLURM_CPUS_PER_TASK).
#
# In a container (Apptainer/Singularity, built from deploy/Containerfile):
#   GEOMAML="apptainer exec --bind $PWD geomaml.sif geomaml" sbatch --array=0-15 deploy/slurm/map-array.sh
#
#SBATCH --job-name=geomaml-map
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --output=logs/geomaml-map-%A_%a.log

set -euo pipefail

MODEL=${MODEL:-model.onnx}
MANIFEST=${MANIFEST:-scenes.txt}
OUT=${OUT:-maps}
GEOMAML=${GEOMAML:-geomaml}

fail() {
  echo "map-array.sh: $*" >&2
  exit 2
}

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
  fail "submit as a job array: sbatch --array=0-(N-1) for N shards"
fi
task=$SLURM_ARRAY_TASK_ID
min=${SLURM_ARRAY_TASK_MIN:-$task}
max=${SLURM_ARRAY_TASK_MAX:-$task}
count=${SLURM_ARRAY_TASK_COUNT:-1}
array="tasks $min-$max, $count in all"

if [ -z "${SHARDS:-}" ]; then
  # The array is the whole run: 0-(N-1) gives N shards.
  if [ "$min" != 0 ] || [ "$count" != $((max + 1)) ]; then
    fail "the array ($array) is not 0-(N-1), so it does not say the number of shards: submit with --array=0-(N-1), or set SHARDS=N (the shard count of the whole run) with PARTIAL_ARRAY=1 to rerun some of its tasks"
  fi
  SHARDS=$count
fi
case "$SHARDS" in
  '' | *[!0-9]* | 0) fail "SHARDS=$SHARDS: expected the number of shards, a positive integer" ;;
esac
if [ "$max" -ge "$SHARDS" ]; then
  fail "the array ($array) has tasks past the last shard of SHARDS=$SHARDS: submit with --array=0-$((SHARDS - 1))"
fi
if [ "${PARTIAL_ARRAY:-0}" != 1 ] && { [ "$min" != 0 ] || [ "$max" != $((SHARDS - 1)) ] || [ "$count" != "$SHARDS" ]; }; then
  fail "the array ($array) does not cover the SHARDS=$SHARDS shards: the scenes of the others would never be mapped. Submit with --array=0-$((SHARDS - 1)), or leave SHARDS unset to take the array's size; to rerun some tasks of a $SHARDS-shard run, set PARTIAL_ARRAY=1"
fi

# The shard is explicit (task id / SHARDS) rather than derived by geomaml from
# SLURM_ARRAY_TASK_COUNT, so resubmitting a subset of the tasks keeps the split.
# ONNX Runtime uses the CPUs Slurm gave the task.
exec $GEOMAML map \
  --model "$MODEL" \
  --manifest "$MANIFEST" \
  -o "$OUT" \
  --shard "${task}/${SHARDS}" \
  --threads "${SLURM_CPUS_PER_TASK:-0}"
