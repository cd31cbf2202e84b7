#!/usr/bin/env bash
# Sen12MS tile classification (Russwurm et al. 2020, figure 5): a
# CNN meta-trained with MAML against the same CNN pretrained, and the random
# initialisation, each fine-tuned on 0 to 10 shots of 4-way meta-test tasks drawn
# from the regions of the paper author's split.
USAGE="usage: experiments/sen12ms_classification.sh DATA_ROOT OUT_DIR [--quick] [--overwrite | --resume]

DATA_ROOT  a Sen12MS tree (ROIs*_<season>/{s1,s2,lc}_<scene>/...tif, as distributed)
           or one written by: geomaml synth sen12ms DATA_ROOT
OUT_DIR    outputs: catalog.json, {maml,pretrain}.safetensors (+ .last, .log.jsonl,
           .done when finished), eval/ (report.json, curves.csv, curves.svg), summary.md

--quick      small CPU run (the settings of docs/experiments.md): 32 px tiles,
             experiments/sen12ms_quick.json (200 steps), 30 meta-test tasks with 5 query
             tiles per class, the small grid on 3 meta-val tasks
--overwrite  redo everything in OUT_DIR (only this script's outputs are removed)
--resume     keep finished steps (catalog, models, evaluation) and run the rest

Environment (defaults: the paper's settings; --quick changes those marked *):
  GEOMAML      binary (target/release/geomaml)
  DEVICE       auto | cpu | cuda:N (auto)
  TILE_SIZE    tile edge in pixels* (128: a 256 px patch gives four tiles)
  TRAIN_CONFIG train config JSON* (experiments/sen12ms_train.json: 4-way 2-shot,
               16 tasks per meta-step, inner step 0.32 x 1, 2000 steps)
  TRAIN_STEPS  meta-steps / gradient steps, overrides the config's \`steps\`
  SHOTS        shot counts evaluated (0,1,2,5,10)
  WAY          classes per meta-test task (4)
  EVAL_TASKS   meta-test tasks* (100)
  QUERY        query tiles per class* (10)
  GRID         small | paper: adaptation step size x steps searched* (paper)
  GRID_LRS, GRID_STEPS  a custom grid instead (comma-separated)
  GRID_TASKS   meta-val tasks the grid search scores on* (10)
  SEED         seed of initialisation, task draws and the random model (0)
  OMP_NUM_THREADS  libtorch CPU threads; on a busy shared CPU 1 can be much faster"
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=experiments/lib.sh
source "$REPO/experiments/lib.sh"
OWNED=(catalog.json maml.safetensors maml.last.safetensors maml.log.jsonl maml.done
  pretrain.safetensors pretrain.last.safetensors pretrain.log.jsonl pretrain.done eval summary.md)
parse_args "$USAGE" "$@"

DEVICE="${DEVICE:-auto}"
SHOTS="${SHOTS:-0,1,2,5,10}"
WAY="${WAY:-4}"
SEED="${SEED:-0}"
TRAIN_STEPS="${TRAIN_STEPS:-}"
if ((QUICK)); then
  TILE_SIZE="${TILE_SIZE:-32}"
  TRAIN_CONFIG="${TRAIN_CONFIG:-$REPO/experiments/sen12ms_quick.json}"
  EVAL_TASKS="${EVAL_TASKS:-30}"
  QUERY="${QUERY:-5}"
  GRID="${GRID:-small}"
  GRID_TASKS="${GRID_TASKS:-3}"
else
  TILE_SIZE="${TILE_SIZE:-128}"
  TRAIN_CONFIG="${TRAIN_CONFIG:-$REPO/experiments/sen12ms_train.json}"
  EVAL_TASKS="${EVAL_TASKS:-100}"
  QUERY="${QUERY:-10}"
  GRID="${GRID:-paper}"
  GRID_TASKS="${GRID_TASKS:-10}"
fi
GRID_LRS="${GRID_LRS:-}"
GRID_STEPS="${GRID_STEPS:-}"
[[ -f $TRAIN_CONFIG ]] || die "train config $TRAIN_CONFIG not found"
run_flags
START=$SECONDS

say "catalog $DATA ($TILE_SIZE px tiles, majority DFC2020 label)"
if ! done_already "$OUT/catalog.json"; then
  timed "$BIN" catalog "$DATA" --kind sen12ms --tile-size "$TILE_SIZE" \
    -o "$OUT/catalog.json" --overwrite
fi

train_models "$OUT"

if ! done_already "$OUT/eval/curves.csv"; then
  say "evaluate on $EVAL_TASKS meta-test tasks ($WAY-way, shots $SHOTS)"
  timed "$BIN" evaluate "$OUT/catalog.json" --model "$OUT/maml.safetensors" \
    --model "$OUT/pretrain.safetensors" --model random --shots "$SHOTS" --way "$WAY" \
    --tasks "$EVAL_TASKS" --query "$QUERY" "${grid_flags[@]}" --seed "$SEED" \
    --device "$DEVICE" -o "$OUT/eval" --overwrite
fi

{
  echo "# Sen12MS classification: $DATA"
  echo
  echo "Overall accuracy in % and mean IoU (mean ± 95 % interval over $EVAL_TASKS meta-test"
  echo "tasks, $WAY-way, $QUERY query tiles per class), Cohen's kappa, and the step size x"
  echo "steps chosen on meta-val tasks. Shots: support tiles per class (0: no adaptation)."
  echo
  echo "| split | model | shots | accuracy % | mIoU | kappa | lr x steps |"
  echo "|---|---|---|---|---|---|---|"
  rows "$OUT/eval/curves.csv" "paper"
} >"$OUT/summary.md.tmp"
mv "$OUT/summary.md.tmp" "$OUT/summary.md"
cat "$OUT/summary.md"
printf '\ndone in %d s; outputs in %s\n' $((SECONDS - START)) "$OUT" >&2
