# Shared helpers of the experiment scripts (sourced, not run).
# shellcheck shell=bash

BIN="${GEOMAML:-$REPO/target/release/geomaml}"

say() { printf '\n== %s\n' "$*" >&2; }
die() {
  printf '%s: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}
timed() {
  local t0=$SECONDS
  "$@"
  printf '   (%d s)\n' $((SECONDS - t0)) >&2
}

# parse_args USAGE "$@": sets DATA, OUT, QUICK, OVERWRITE, RESUME. The script sets
# OWNED (paths under OUT it writes) first: --overwrite removes those only.
parse_args() {
  local usage=$1
  shift
  DATA="" OUT="" QUICK=0 OVERWRITE=0 RESUME=0
  while (($#)); do
    case "$1" in
      --quick) QUICK=1 ;;
      --overwrite) OVERWRITE=1 ;;
      --resume) RESUME=1 ;;
      -h | --help)
        printf '%s\n' "$usage"
        exit 0
        ;;
      -*) die "unknown option $1 (see --help)" ;;
      *)
        if [[ -z $DATA ]]; then
          DATA=$1
        elif [[ -z $OUT ]]; then
          OUT=$1
        else
          die "unexpected argument $1 (see --help)"
        fi
        ;;
    esac
    shift
  done
  [[ -n $DATA && -n $OUT ]] || die "give the data root and the output folder (see --help)"
  [[ -d $DATA ]] || die "data root $DATA is not a folder"
  ((OVERWRITE && RESUME)) && die "--overwrite and --resume exclude each other"
  [[ -x $BIN ]] || die "$BIN not found: run cargo build --release (or set GEOMAML)"
  if [[ -e $OUT && -n "$(ls -A "$OUT" 2>/dev/null)" ]] && ((!OVERWRITE && !RESUME)); then
    die "$OUT exists and is not empty: pass --overwrite to redo everything, or --resume to keep finished steps"
  fi
  if ((OVERWRITE)); then
    # Only what this script writes (OWNED, set by the script); anything else stays.
    local p
    for p in "${OWNED[@]}"; do rm -rf "${OUT:?}/$p"; done
  fi
  mkdir -p "$OUT"
}

# done_already FILE: true (and says so) when --resume keeps FILE.
done_already() {
  if ((RESUME)) && [[ -s $1 ]]; then
    printf '   kept %s (--resume)\n' "$1" >&2
    return 0
  fi
  return 1
}

# rows CSV SPLIT: one markdown row per (model, shots) of an evaluate curves.csv.
rows() {
  awk -F, -v part="$2" 'NR > 1 {
    lr = ($4 == "") ? "-" : $4 " x " $5
    printf "| %s | %s | %s | %.1f ± %.1f | %.3f ± %.3f | %.2f | %s |\n",
      part, $1, $3, 100 * $7, 100 * $8, $11, $12, $9, lr
  }' "$1"
}

# run_flags: sets grid_flags (evaluate's grid search, from GRID, GRID_TASKS,
# GRID_LRS, GRID_STEPS) and step_flags (train --steps, from TRAIN_STEPS).
run_flags() {
  grid_flags=(--grid "$GRID" --grid-tasks "$GRID_TASKS")
  if [[ -n ${GRID_LRS:-} ]]; then grid_flags+=(--grid-lrs "$GRID_LRS"); fi
  if [[ -n ${GRID_STEPS:-} ]]; then grid_flags+=(--grid-steps "$GRID_STEPS"); fi
  step_flags=()
  if [[ -n ${TRAIN_STEPS:-} ]]; then step_flags=(--steps "$TRAIN_STEPS"); fi
}

# train_models DIR [FLAG...]: trains MAML and pretraining into DIR/<method>.safetensors
# with TRAIN_CONFIG, step_flags, DEVICE, SEED and the FLAGs. train writes the best
# model as it goes, so DIR/<method>.done marks a finished run (kept by --resume).
train_models() {
  local dir=$1 method model
  shift
  for method in maml pretrain; do
    model="$dir/$method.safetensors"
    done_already "$dir/$method.done" && continue
    say "train $method -> $model"
    rm -f "$dir/$method.done"
    timed "$BIN" train "$OUT/catalog.json" --method "$method" --config "$TRAIN_CONFIG" \
      ${step_flags[@]+"${step_flags[@]}"} "$@" --device "$DEVICE" --seed "$SEED" \
      -o "$model" --overwrite
    date -u +%FT%TZ >"$dir/$method.done"
  done
}
