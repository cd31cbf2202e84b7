#!/usr/bin/env bash
# DeepGlobe land-cover segmentation (Russwurm et al. 2020, section 4.2): a U-Net
# meta-trained with MAML against the same U-Net pretrained, and the random
# initialisation, adapted on 1, 2, 4 and 8 support crops of each meta-test image,
# under a random and a clustered split of the images.
USAGE="usage: experiments/deepglobe_segmentation.sh DATA_ROOT OUT_DIR [--quick] [--overwrite | --resume]

DATA_ROOT  a DeepGlobe land-cover tree (<id>_sat.jpg + <id>_mask.png, as distributed)
           or one written by: geomaml synth deepglobe DATA_ROOT
OUT_DIR    outputs: catalog.json, splits/{random,clustered}.json, per split
           {maml,pretrain}.safetensors (+ .last, .log.jsonl, .done when finished) and
           eval/ (report.json, curves.csv, curves.svg), and summary.md (all splits)

--quick      small CPU run: experiments/deepglobe_quick.json (U-Net width 16, first-order
             MAML, 4 tasks per meta-step, 150 steps), 20 meta-test tasks, a 3 x 2 grid
             on 3 meta-val tasks
--overwrite  redo everything in OUT_DIR (only this script's outputs are removed)
--resume     keep finished steps (models, evaluations) and run the rest

Environment (defaults: the paper's settings; --quick changes those marked *):
  GEOMAML        binary (target/release/geomaml)
  DEVICE         auto | cpu | cuda:N (auto)
  TRAIN_CONFIG   train config JSON* (experiments/deepglobe_train.json)
  TRAIN_STEPS    meta-steps / gradient steps, overrides the config's \`steps\`
  SPLITS         splits to run (\"random clustered\")
  SPLIT_SEED     seed of the random shuffle and of k-means (0)
  SUPPORT_SIZES  support crops per meta-test task, the evaluated shot counts (1,2,4,8);
                 0 shots (no adaptation) is always added
  EVAL_TASKS     meta-test tasks* (100)
  QUERY          query sub-images per task (8: all of an image's query sub-images)
  GRID           small | paper: adaptation step size x steps searched* (paper)
  GRID_LRS, GRID_STEPS  a custom grid instead (comma-separated)*
  GRID_TASKS     meta-val tasks the grid search scores on* (10)
  SEED           seed of initialisation, task draws and the random model (0)
  OMP_NUM_THREADS  libtorch CPU threads; on a busy shared CPU 1 can be much faster"
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=experiments/lib.sh
source "$REPO/experiments/lib.sh"
OWNED=(catalog.json splits summary.md random clustered)
parse_args "$USAGE" "$@"

DEVICE="${DEVICE:-auto}"
SPLITS="${SPLITS:-random clustered}"
SPLIT_SEED="${SPLIT_SEED:-0}"
SUPPORT_SIZES="${SUPPORT_SIZES:-1,2,4,8}"
QUERY="${QUERY:-8}"
SEED="${SEED:-0}"
TRAIN_STEPS="${TRAIN_STEPS:-}"
if ((QUICK)); then
  TRAIN_CONFIG="${TRAIN_CONFIG:-$REPO/experiments/deepglobe_quick.json}"
  EVAL_TASKS="${EVAL_TASKS:-20}"
  GRID_LRS="${GRID_LRS:-0.05,0.32,1}"
  GRID_STEPS="${GRID_STEPS:-5,20}"
  GRID_TASKS="${GRID_TASKS:-3}"
else
  TRAIN_CONFIG="${TRAIN_CONFIG:-$REPO/experiments/deepglobe_train.json}"
  EVAL_TASKS="${EVAL_TASKS:-100}"
  GRID_TASKS="${GRID_TASKS:-10}"
fi
GRID="${GRID:-paper}"
GRID_LRS="${GRID_LRS:-}"
GRID_STEPS="${GRID_STEPS:-}"
[[ -f $TRAIN_CONFIG ]] || die "train config $TRAIN_CONFIG not found"
for s in $SPLITS; do
  [[ $s == random || $s == clustered ]] || die "SPLITS: $s is not random or clustered"
done
run_flags
START=$SECONDS

say "catalog $DATA (16 sub-images per image, half support, half query)"
if ! done_already "$OUT/catalog.json"; then
  timed "$BIN" catalog "$DATA" --kind deepglobe -o "$OUT/catalog.json" --overwrite
fi

# split_file STRATEGY FILE: the image split `geomaml tasks --split-strategy` uses,
# as a split file for train and evaluate (--splits). Every image of a split is
# drawn at least once (30 draws per image; checked against the sampler's count).
split_file() {
  local strategy=$1 file=$2 images part ids n groups json="{"
  images=$(find -L "$DATA" -name '*_sat.jpg' | wc -l)
  for part in train val test; do
    ids=$("$BIN" tasks "$OUT/catalog.json" --split "$part" --split-strategy "$strategy" \
      --split-seed "$SPLIT_SEED" --shot 0 --query 1 --count $((30 * images + 30)) \
      2>"$file.log" | grep -o '"region":[0-9]*' | cut -d: -f2 | sort -un | paste -sd, -) ||
      die "no $part images in the $strategy split ($(cat "$file.log"))"
    n=$(tr ',' '\n' <<<"$ids" | grep -c .)
    groups=$(sed -n 's/.* from \([0-9]*\) (season, region) pairs.*/\1/p' "$file.log")
    [[ $n == "$groups" ]] || die "$strategy split, $part: found $n of $groups images"
    json+="\"$part\": [$ids], "
    printf '   %-9s %-5s %4d images\n' "$strategy" "$part" "$n" >&2
  done
  rm -f "$file.log"
  printf '%s}\n' "${json%, }" >"$file.tmp" && mv "$file.tmp" "$file"
}

shots="0,$SUPPORT_SIZES"
for split in $SPLITS; do
  dir="$OUT/$split"
  splits="$OUT/splits/$split.json"
  mkdir -p "$dir" "$OUT/splits"
  say "$split split of the images (seed $SPLIT_SEED) -> $splits"
  done_already "$splits" || split_file "$split" "$splits"
  train_models "$dir" --splits "$splits"
  if ! done_already "$dir/eval/curves.csv"; then
    say "$split split: evaluate on $EVAL_TASKS meta-test tasks, support sizes $SUPPORT_SIZES"
    timed "$BIN" evaluate "$OUT/catalog.json" --model "$dir/maml.safetensors" \
      --model "$dir/pretrain.safetensors" --model random --splits "$splits" \
      --shots "$shots" --tasks "$EVAL_TASKS" --query "$QUERY" "${grid_flags[@]}" \
      --seed "$SEED" --device "$DEVICE" -o "$dir/eval" --overwrite
  fi
done

{
  echo "# DeepGlobe segmentation: $DATA"
  echo
  echo "Pixel accuracy in % and mean IoU (mean ± 95 % interval over $EVAL_TASKS meta-test"
  echo "tasks, $QUERY query sub-images each), Cohen's kappa, and the step size x steps chosen on"
  echo "meta-val tasks. Shots: support crops per task (0: no adaptation)."
  echo
  echo "| split | model | support | pixel accuracy % | mIoU | kappa | lr x steps |"
  echo "|---|---|---|---|---|---|---|"
  for split in $SPLITS; do rows "$OUT/$split/eval/curves.csv" "$split"; done
} >"$OUT/summary.md.tmp"
mv "$OUT/summary.md.tmp" "$OUT/summary.md"
cat "$OUT/summary.md"
printf '\ndone in %d s; outputs in %s\n' $((SECONDS - START)) "$OUT" >&2
