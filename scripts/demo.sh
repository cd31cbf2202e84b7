#!/usr/bin/env bash
# The whole geomaml pipeline on CPU, on synthetic data, in a few minutes:
#
#   1. synthesise a Sen12MS-layout dataset (real regions, region-specific class
#      appearance) and a scene of an unseen meta-test region with labelled points;
#   2. catalog the dataset into 32 px tiles;
#   3. meta-train the per-pixel mapping network with MAML on point tasks, and
#      pretrain the same network as the baseline;
#   4. map the scene with the pretrained model as it is (no adaptation);
#   5. adapt the MAML model (and, for comparison, fine-tune the pretrained one)
#      from the scene's labelled points, and map the scene with each, at the
#      scene's resolution;
#   6. assess every map against the scene's true labels, pixel by pixel, and put
#      a Random Forest, an SVM and 1-NN on the same points beside it
#      (scripts/map_benchmark.py; needs scikit-learn, which scripts/setup.sh
#      installs).
#
# Outputs go to ${GEOMAML_DEMO_OUT:-out/demo}; steps whose outputs exist are redone
# (everything is overwritten). GEOMAML_DEMO_STEPS sets the training steps.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${GEOMAML:-target/release/geomaml}"
OUT="${GEOMAML_DEMO_OUT:-out/demo}"
STEPS="${GEOMAML_DEMO_STEPS:-200}"
ADAPT_STEPS=50  # gradient steps on the labelled points, the same for both models
SKLEARN="${GEOMAML_SKLEARN:-${GEOMAML_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/geomaml}/sklearn}"
SEED=7
REGION=110   # a meta-test region: never seen in meta-training
mkdir -p "$OUT"

step() { printf '\n== %s\n' "$*" >&2; }
timed() {
  local t0=$SECONDS
  "$@"
  printf '   (%d s)\n' $((SECONDS - t0)) >&2
}
accuracy() { "$BIN" assess "$1" --reference "$OUT/scene/truth.tif" | sed -n 's/^overall accuracy \([^ ]*\) *kappa \([^ ]*\).*/\1 (kappa \2)/p'; }

step "doctor"
"$BIN" doctor

step "synthesise: Sen12MS tree (14 regions, summer) and a scene of region $REGION"
timed "$BIN" synth sen12ms "$OUT/sen12ms" --regions train:8,val:3,test:3 --seasons summer \
  --patches 12 --size 128 --seed $SEED --overwrite
timed "$BIN" synth scene "$OUT/scene" --region $REGION --size 512 --points 5 --seed $SEED --overwrite

step "catalog (32 px tiles)"
timed "$BIN" catalog "$OUT/sen12ms" -o "$OUT/catalog.json" --tile-size 32 --overwrite

step "meta-train the per-pixel network with MAML ($STEPS meta-steps, 4-way point tasks: 5 labelled pixels per class, CPU)"
timed "$BIN" train "$OUT/catalog.json" --arch pixel --method maml --steps "$STEPS" --val-every 50 \
  --device cpu --seed $SEED -o "$OUT/maml.safetensors" --overwrite
step "pretrain the baseline ($STEPS steps on the same tasks)"
timed "$BIN" train "$OUT/catalog.json" --arch pixel --method pretrain --steps "$STEPS" --val-every 50 \
  --device cpu --seed $SEED -o "$OUT/pretrain.safetensors" --overwrite

step "map without adaptation (pretrained model, 0 shots)"
timed "$BIN" export "$OUT/pretrain.safetensors" -o "$OUT/pretrain.onnx" --overwrite
timed "$BIN" map --model "$OUT/pretrain.onnx" "$OUT/scene/scene.tif" -o "$OUT/map_unadapted.tif" --overwrite

step "adapt MAML to the scene from its labelled points, then map"
timed "$BIN" adapt --model "$OUT/maml.safetensors" --scene "$OUT/scene/scene.tif" \
  --labels "$OUT/scene/labels.geojson" --inner-steps "$ADAPT_STEPS" -o "$OUT/maml_adapted.onnx" --overwrite
timed "$BIN" map --model "$OUT/maml_adapted.onnx" "$OUT/scene/scene.tif" -o "$OUT/map_maml.tif" --overwrite

step "fine-tune the pretrained model on the same points, then map"
timed "$BIN" adapt --model "$OUT/pretrain.safetensors" --scene "$OUT/scene/scene.tif" \
  --labels "$OUT/scene/labels.geojson" --inner-steps "$ADAPT_STEPS" -o "$OUT/pretrain_finetuned.onnx" --overwrite
timed "$BIN" map --model "$OUT/pretrain_finetuned.onnx" "$OUT/scene/scene.tif" -o "$OUT/map_finetuned.tif" --overwrite

step "assess against the true labels ($OUT/scene/truth.tif)"
"$BIN" assess "$OUT/map_maml.tif" --reference "$OUT/scene/truth.tif"
step "the same points for a Random Forest, an SVM and 1-NN, scored per pixel on the same test pixels"
peers=""
if PYTHONPATH="$SKLEARN" /usr/bin/python3 -c "import sklearn" 2>/dev/null; then
  PYTHONPATH="$SKLEARN" /usr/bin/python3 scripts/map_benchmark.py --geomaml "$BIN" \
    --model "$OUT/maml.safetensors" --inner-steps "$ADAPT_STEPS" --out "$OUT/benchmark" \
    --synthetic "$OUT/scene" --labels "$OUT/scene/labels.geojson" > "$OUT/benchmark.log"
  peers=$(tail -n 1 "$OUT/benchmark/results.jsonl")
else
  echo "scikit-learn is not installed (scripts/setup.sh installs it): no peers beside geomaml" >&2
fi
pct() { /usr/bin/python3 -c "import json,sys; r=json.loads(sys.argv[1]); print('%.1f%%' % (100*r[sys.argv[2]]))" "$peers" "$1"; }
{
  echo
  echo "geomaml demo: maps of meta-test region $REGION at the scene's 10 m pixels, scored against its true labels"
  printf '  %-52s %s\n' "pretrained, unadapted (0 shots)" "$(accuracy "$OUT/map_unadapted.tif")"
  printf '  %-52s %s\n' "pretrained + fine-tuned on the labels" "$(accuracy "$OUT/map_finetuned.tif")"
  printf '  %-52s %s\n' "MAML, adapted on the labels" "$(accuracy "$OUT/map_maml.tif")"
  if [ -n "$peers" ]; then
    echo "  on test pixels more than 8 px from every label (scripts/map_benchmark.py):"
    printf '  %-52s %s\n' "MAML, adapted on the labels" "$(pct geomaml)"
    printf '  %-52s %s\n' "Random Forest (500 trees) on the same labels" "$(pct rf)"
    printf '  %-52s %s\n' "SVM (RBF, C and gamma by cross-validation)" "$(pct svm)"
    printf '  %-52s %s\n' "1-nearest neighbour" "$(pct knn)"
  fi
  echo "  outputs: $OUT (map_*.tif, *.onnx, *.safetensors, *.log.jsonl)"
} | tee "$OUT/summary.txt"
