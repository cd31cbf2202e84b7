#!/bin/bash
# geomaml batch mapping as a Slurm job array: task i maps shard i of SHARDS.
#
#   mkdir -p logs
#   MODEL=model.onnx MANIFEST=scenes.txt OUT=maps sbatch --array=0-15%8 deploy/slurm/map-array.sh
#
# --array must be 0-(SHARDS-1) (here SHARDS=16; "%8" runs at most 8 at a time).
# Every task reads the same manifest and writes into the same folder OUT on a
# shared file system; scenes are split between tasks by a hash of their input, so
# tasks never write the same file. Rerunning the array (or only some tasks, e.g.
# `sbatch --array=3,7 ...` with the same SHARDS) maps only what is missing: done
# scenes are skipped, failed or interrupted ones redone. A task exits 3 when one of
# its scenes failed (1 when the run itself failed); OUT/summary-<i>-of-<SHARDS>.json says which and why.
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
SHARDS=${SHARDS:-16}
GEOMAML=${GEOMAML:-geomaml}

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
  echo "map-array.sh: submit with sbatch --array=0-$((SHARDS - 1))" >&2
  exit 2
fi

# The shard is explicit (task id / SHARDS) rather than derived from
# SLURM_ARRAY_TASK_COUNT, so resubmitting a subset of the tasks keeps the split.
# ONNX Runtime uses the CPUs Slurm gave the task.
exec $GEOMAML map \
  --model "$MODEL" \
  --manifest "$MANIFEST" \
  -o "$OUT" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}" \
  --threads "${SLURM_CPUS_PER_TASK:-0}"
