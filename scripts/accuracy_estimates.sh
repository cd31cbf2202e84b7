#!/usr/bin/env bash
# The accuracy estimates of `adapt` (last layer only, the default; whole network) against
# the accuracy of the map they come with, on synthetic scenes of meta-test regions
# (110, 8, 17) with 2 and 5 labelled points per class and two seeds. Needs `make demo`.
#   scripts/accuracy_estimates.sh [DEMO_DIR] [OUT_DIR]   -> CSV on stdout
set -uo pipefail
cd "$(dirname "$0")/.."
B=${GEOMAML:-target/release/geomaml}; D=${1:-out/demo}; O=${2:-out/estimates}; mkdir -p "$O"
echo "region,points,seed,labels,head,head_s,full,full_s,map_accuracy" | tee "$O/estimates.csv"
for region in 110 8 17; do for pts in 2 5; do for seed in 1 2; do
  s=$O/s_${region}_${pts}_${seed}
  $B synth scene $s --region $region --size 384 --points $pts --seed $seed --overwrite >/dev/null 2>&1 || continue
  h=$($B adapt --model $D/maml.safetensors --scene $s/scene.tif --labels $s/labels.geojson --inner-steps 20 -o $O/h.onnx --overwrite 2>&1 | grep held-out)
  f=$($B adapt --model $D/maml.safetensors --scene $s/scene.tif --labels $s/labels.geojson --inner-steps 20 -o $O/f.onnx --overwrite --full-cross-validation 2>&1 | grep held-out)
  $B map --model $O/h.onnx $s/scene.tif -o $O/m.tif --overwrite >/dev/null 2>&1
  acc=$($B assess $O/m.tif --reference $s/truth.tif 2>/dev/null | sed -n 's/^overall accuracy \([^ ]*\).*/\1/p')
  n=$(grep -o '"type": *"Feature"' $s/labels.geojson | wc -l)
  hv=$(echo "$h" | sed -n 's/.*: \([0-9.]*\)% (\([0-9.]*\) s).*/\1,\2/p'); fv=$(echo "$f" | sed -n 's/.*: \([0-9.]*\)% (\([0-9.]*\) s).*/\1,\2/p')
  echo "$region,$pts,$seed,$n,$hv,$fv,${acc%\%}" | tee -a "$O/estimates.csv"
done; done; done
# Mean error (estimate - map accuracy), mean absolute error and mean time of each.
awk -F, 'NR > 1 && $9 != "" { n++; for (k = 0; k < 2; k++) { d = $(5 + 2 * k) - $9; b[k] += d; a[k] += (d < 0 ? -d : d); t[k] += $(6 + 2 * k) } }
  END { split("last-layer whole-network", name, " "); for (k = 0; k < 2; k++)
    printf "%s: %d scenes, mean error %+.1f points, mean absolute error %.1f points, %.2f s\n", name[k + 1], n, b[k] / n, a[k] / n, t[k] / n > "/dev/stderr" }' "$O/estimates.csv"
