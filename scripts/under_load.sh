#!/usr/bin/env bash
# How adapt, evaluate and train slow down on a shared machine: each command's wall
# time, median of RUNS runs, on the idle machine and with as many CPU-bound
# processes (`yes > /dev/null`) as there are cores beside it. Proportional to the
# cores it loses is about 2x: the command then gets half the CPU time.
#
#   make demo                      # out/demo: catalog, MAML model, scene, labels
#   scripts/under_load.sh          # RUNS=3 by default; GEOMAML=path/to/geomaml
#   SETTINGS="shipped OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=1000" COMMANDS="adapt evaluate" \
#     scripts/under_load.sh        # OpenMP settings side by side (shipped: none set)
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
# "shipped" means geomaml's own choice, which a setting in the environment overrides.
unset OMP_WAIT_POLICY GOMP_SPINCOUNT
BIN="${GEOMAML:-target/release/geomaml}"
DEMO="${GEOMAML_DEMO_OUT:-out/demo}"
RUNS="${RUNS:-3}"
[[ "$RUNS" =~ ^[0-9]*[13579]$ ]] || { echo "under_load.sh: RUNS must be odd (a median of RUNS runs)" >&2; exit 1; }
TMP="$(mktemp -d)"
HOGS=()
cleanup() { for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
for f in "$DEMO/catalog.json" "$DEMO/maml.safetensors" "$DEMO/scene/scene.tif" "$DEMO/scene/labels.geojson"; do
  [[ -e "$f" ]] || { echo "under_load.sh: $f is missing; run make demo first" >&2; exit 1; }
done

adapt() {
  "$BIN" adapt --model "$DEMO/maml.safetensors" --scene "$DEMO/scene/scene.tif" \
    --labels "$DEMO/scene/labels.geojson" --inner-steps 20 --device cpu -o "$TMP/a.onnx" --overwrite
}
evaluate() {
  "$BIN" evaluate "$DEMO/catalog.json" --model "$DEMO/maml.safetensors" --shots 1,5 \
    --tasks 10 --inner-lr 0.4 --inner-steps 10 --device cpu --output "$TMP/eval" --overwrite
}
train() {
  "$BIN" train "$DEMO/catalog.json" --method maml --steps 20 --val-every 0 --device cpu \
    --seed 7 -o "$TMP/t.safetensors" --overwrite
}

# Median wall time of RUNS runs of $1, in seconds.
median_time() {
  local times=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N)
    "$1" > "$TMP/log" 2>&1 || { cat "$TMP/log" >&2; exit 1; }
    t1=$(date +%s%N)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')")
  done
  printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"
}

cores=$(nproc)
printf '%-24s %-10s %10s %12s %9s   (%d cores, %d busy processes, median of %d runs)\n' \
  setting command idle loaded slowdown "$cores" "$cores" "$RUNS"
for setting in ${SETTINGS:-shipped}; do
  for cmd in ${COMMANDS:-adapt evaluate train}; do
    [[ "$setting" == shipped ]] || export "${setting?}"
    idle=$(median_time "$cmd")
    for _ in $(seq "$cores"); do yes > /dev/null & HOGS+=($!); done
    loaded=$(median_time "$cmd")
    for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null || true; done
    HOGS=()
    [[ "$setting" == shipped ]] || unset "${setting%%=*}"
    printf '%-24s %-10s %9.2fs %11.2fs %8.1fx\n' "$setting" "$cmd" "$idle" "$loaded" "$(awk -v a="$loaded" -v b="$idle" 'BEGIN { print a / b }')"
  done
done
