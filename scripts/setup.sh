#!/usr/bin/env bash
# Sets up everything geomaml needs on a Debian 12 machine, then builds it.
# Idempotent and quick when everything is already there.
#
#   - Debian packages: GDAL, PROJ, clang (bindgen), pkg-config, GDAL's Python bindings,
#     DejaVu fonts (text of the PNG plots), QGIS's Python bindings (headless QGIS
#     tests; about 50 s and a few hundred MB, without the desktop).
#   - scikit-learn 1.5.2 in the same cache folder (sklearn/), for the per-pixel
#     peers the map benchmark and the demo compare maps with.
#   - A Python venv with torch==2.11.0 and onnxruntime==1.31.1, the sources of
#     libtorch and libonnxruntime (~5 GB), kept in a per-user cache folder shared by
#     every clone: ${GEOMAML_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/geomaml}/venv.
#   - .cargo/config.toml (git-ignored) pointing cargo at that libtorch, so plain
#     `cargo build` and `cargo test` work afterwards.
#   - cargo build --release (geomaml-train, with libtorch) and
#     cargo build --release -p geomaml-cli (geomaml, without it).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${GEOMAML_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/geomaml}"
VENV="$CACHE/venv"
TORCH_VERSION=2.11.0
ORT_VERSION=1.31.1
APT_PACKAGES=(libgdal-dev gdal-bin libproj-dev proj-bin libclang-dev clang pkg-config python3-gdal python3-scipy fonts-dejavu-core)
# QGIS's Python bindings (with its data providers) for the headless QGIS tests of
# the GDAL driver and the Processing provider; without recommends, so no desktop.
APT_LEAN_PACKAGES=(python3-qgis)

say() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
lean_missing=()
for p in "${APT_LEAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || lean_missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ ${#lean_missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]} ${lean_missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ${#lean_missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${lean_missing[@]}" >/dev/null
  fi
fi

stamp="$VENV/.geomaml-torch-$TORCH_VERSION-ort-$ORT_VERSION"
if [ ! -f "$stamp" ]; then
  say "creating $VENV with torch==$TORCH_VERSION onnxruntime==$ORT_VERSION (about 5 GB, once per user)"
  mkdir -p "$CACHE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "torch==$TORCH_VERSION" "onnxruntime==$ORT_VERSION" "onnx==1.23.2" "numpy==2.4.6"
  touch "$stamp"
fi

# scikit-learn for the per-pixel peers of the map benchmark and the demo
# (scripts/map_benchmark.py, run with Debian's python3, whose numpy 1.24 GDAL's
# bindings need: so without its dependencies, with Debian's scipy).
SKLEARN="$CACHE/sklearn"
if [ ! -f "$SKLEARN/.geomaml-sklearn-1.5.2" ]; then
  say "installing scikit-learn 1.5.2 into $SKLEARN (for the map benchmark's peers)"
  mkdir -p "$SKLEARN"
  python3 -m pip install -q --disable-pip-version-check --no-deps --target "$SKLEARN" \
    scikit-learn==1.5.2 joblib==1.4.2 threadpoolctl==3.5.0
  touch "$SKLEARN/.geomaml-sklearn-1.5.2"
fi

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
LIBTORCH="$SITE/torch"
mkdir -p .cargo
config=$(cat <<TOML
# Written by scripts/setup.sh for this machine; not tracked.
[env]
LIBTORCH = "$LIBTORCH"
GEOMAML_ORT_DYLIB = "$SITE/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
TOML
)
if [ ! -f .cargo/config.toml ] || [ "$(cat .cargo/config.toml)" != "$config" ]; then
  printf '%s\n' "$config" > .cargo/config.toml
  say "wrote .cargo/config.toml (LIBTORCH=$LIBTORCH)"
fi

if [ "${GEOMAML_SETUP_NO_BUILD:-0}" != 1 ]; then
  say "building (the first build compiles libtorch's C++ wrapper: a few minutes)"
  cargo build --release --quiet
  # `geomaml` without libtorch, in a cargo run of its own (see the Makefile's `cli`).
  cargo build --release --quiet -p geomaml-cli
fi
say "ready: target/release/geomaml (and target/release/geomaml-train, with libtorch)"
