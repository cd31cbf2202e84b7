#!/usr/bin/env bash
# Megapixels/s of a map read through the GEOMAML driver (gdal_translate) and
# written by `geomaml map`, on the same scene and model; checks both are equal.
#   plugin/bench.sh MODEL.onnx [SIZE]   (default 2048: the sample scene resampled
#                                        to SIZE x SIZE px)
# Needs `make plugin` and target/release/geomaml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=$(realpath "$1")
size=${2:-2048}
export GDAL_DRIVER_PATH=$root/target/gdalplugins
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gdal_translate -q -outsize "$size" "$size" -r bilinear "$root/sample_data/scene/scene.tif" "$tmp/scene.tif"
mpx=$(python3 -c "print($size * $size / 1e6)")
t0=$(date +%s.%N)
gdal_translate -q "GEOMAML:$model:$tmp/scene.tif" "$tmp/plugin.tif"
t1=$(date +%s.%N)
"$root/target/release/geomaml" map --model "$model" "$tmp/scene.tif" -o "$tmp/map.tif" >/dev/null
t2=$(date +%s.%N)
same=$(/usr/bin/python3 -c "
from osgeo import gdal
a, b = gdal.Open('$tmp/plugin.tif'), gdal.Open('$tmp/map.tif')
print(a.ReadRaster() == b.ReadRaster())")
python3 -c "
p, m = $t1 - $t0, $t2 - $t1
print(f'scene {$size}x{$size} ({$mpx:.2f} Mpx)')
print(f'gdal_translate GEOMAML: {p:.2f} s, {$mpx / p:.2f} Mpx/s')
print(f'geomaml map:            {m:.2f} s, {$mpx / m:.2f} Mpx/s')
print('pixel-identical: $same')"
