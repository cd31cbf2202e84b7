#!/usr/bin/env bash
# The whole geomaml pipeline on an embedded default, on CPU:
# synthesise a Sen12MS-layout dataset and a scene of an unseen region, catalog it,
# meta-train a small MAML model, adapt it to the scene from its labelled points,
# map the scene, and assess the map against the scene's true labels.
# Outputs go to ${GEOMAML_DEMO_OUT:-out/demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/geomaml
OUT="${GEOMAML_DEMO_OUT:-out/demo}"
mkdir -p "$OUT"

step() { printf '\n== %s\n' "$*" >&2; }
timed() { local t0=$SECONDS; "$@"; printf '   (%ds)\n' $((SECONDS - t0)) >&2; }

step "doctor"
$BIN doctor
