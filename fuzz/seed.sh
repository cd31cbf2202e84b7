#!/usr/bin/env bash
# Writes the seed corpus of the `inputs` fuzz target into fuzz/corpus/inputs/:
# one valid file per reader (first byte = the reader), made by geomaml and GDAL
# from sample_data; and for the `graphs` target its base model and scene
# (fuzz/corpus/base/) and a few choices of operations (fuzz/corpus/graphs/). Run from the repository root after `cargo build --release`.
set -euo pipefail
BIN=${GEOMAML_BIN:-target/release/geomaml}
OUT=fuzz/corpus/inputs
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"
seed() { { printf "\\x$(printf %02x "$1")"; cat "$2"; } > "$OUT/$3"; }
"$BIN" catalog sample_data/sen12ms --tile-size 16 -o "$TMP/catalog.json" 2>/dev/null
# Small inputs fuzz fast: a narrow, shallow model and a catalog of a few tiles.
echo '{"width": 4, "depth": 2}' > "$TMP/tiny.json"
"$BIN" train "$TMP/catalog.json" --method pretrain --steps 1 --val-every 0 --device cpu \
  --config "$TMP/tiny.json" -o "$TMP/m.safetensors" 2>/dev/null
/usr/bin/python3 - "$TMP/catalog.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["tiles"] = c["tiles"][:4]
json.dump(c, open(sys.argv[1], "w"))
PY
"$BIN" export "$TMP/m.safetensors" -o "$TMP/m.onnx" 2>/dev/null
"$BIN" info --json "$TMP/m.onnx" > "$TMP/card.json"
gdal_translate -q -srcwin 0 0 24 24 sample_data/scene/scene.tif "$TMP/scene.tif"
seed 0 "$TMP/card.json" card
seed 1 "$TMP/m.onnx" onnx
seed 2 "$TMP/catalog.json" catalog
seed 3 sample_data/scene/labels.geojson labels
seed 4 "$TMP/scene.tif" scene
ls -la "$OUT"
mkdir -p fuzz/corpus/base fuzz/corpus/graphs
cp "$TMP/m.onnx" fuzz/corpus/base/model.onnx
cp "$TMP/scene.tif" fuzz/corpus/base/scene.tif
# First byte: flags (1 probabilities, 2 confidence, 4 exact, 8 batches of one);
# then one byte per choice of lying_graph::compose.
printf '\x00\x00\x00\x08' > fuzz/corpus/graphs/slice-to-8
printf '\x03\x01\x02\x02\x01' > fuzz/corpus/graphs/two-ops
printf '\x0f\x02\x04\x00' > fuzz/corpus/graphs/nan
