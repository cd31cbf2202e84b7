#!/usr/bin/env bash
# Regenerates sample_data/ with `geomaml synth` (deterministic: the same commands
# give the same bytes, in debug and release builds alike). Uses $GEOMAML if set,
# else builds the current source (`cargo build --bin geomaml`) and uses that.
#
#   scripts/make_sample_data.sh            # rewrite sample_data/
#   scripts/make_sample_data.sh OUT_DIR    # write elsewhere (e.g. to compare)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-sample_data}"
if [ -z "${GEOMAML:-}" ]; then
  cargo build --quiet --bin geomaml
  GEOMAML=target/debug/geomaml
fi
SEED=1
mkdir -p "$OUT"

# Sen12MS layout: 4 meta-train, 2 meta-val, 2 meta-test regions, two seasons,
# 8 patches of 64 px per (region, season) -> 16 tasks, 128 patch triplets.
"$GEOMAML" synth sen12ms "$OUT/sen12ms" --regions train:4,val:2,test:2 \
  --seasons summer,winter --patches 8 --size 64 --seed "$SEED" --overwrite

# DeepGlobe layout: 6 image/mask pairs of 256 px (two of each kind).
"$GEOMAML" synth deepglobe "$OUT/deepglobe" --images 6 --size 256 --seed "$SEED" --overwrite

# A 256 px scene of meta-test region 91 (summer) with 5 labelled points per class.
"$GEOMAML" synth scene "$OUT/scene" --region 91 --season summer --size 256 --points 5 \
  --seed "$SEED" --overwrite

du -sh "$OUT" >&2
