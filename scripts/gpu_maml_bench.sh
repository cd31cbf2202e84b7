#!/usr/bin/env bash
# MAML meta-step on a GPU: geomaml's benchmark and the PyTorch reference, same machine,
# one command, JSON lines out.
#
#   scripts/gpu_maml_bench.sh build        # here: builds the benchmark binary into .device/
#   scripts/gpu_maml_bench.sh run [OUTDIR] # on the GPU machine (no Rust there): runs both
#
# `run` sweeps meta-batches 4/16/64, inner steps 1/5 and first/second order for
# geomaml's per-task loop and batched step (one process per path), measures peak GPU
# memory in a fresh process per setting at 16 and 64 tasks, samples the GPU's busy
# fraction over a long batched run at 16 tasks and times smaller tiles (where the time
# goes, without a profiler), then times the reference script (loop and vmap, each also
# captured in a CUDA graph) at each meta-batch for one inner step, second order (the
# only setting it implements), and prints a side-by-side summary. Knobs: ITERS
# (default 10), REFERENCE (path of maml_reference.py; default: the copy `build` puts
# in .device/, then ../shared/bench/ and shared/bench/).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
build)
    exe=$(cargo bench --bench maml_step --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "maml_step" and m.get("executable"):
        print(m["executable"])')
    [ -n "$exe" ] || { echo "gpu_maml_bench: building the maml_step benchmark failed" >&2; exit 1; }
    mkdir -p .device
    cp "$exe" .device/maml_step
    # The GPU machine sees only the work tree: bring the reference script along.
    if [ -f ../shared/bench/maml_reference.py ]; then
        cp ../shared/bench/maml_reference.py .device/
    fi
    strip .device/maml_step 2>/dev/null || true
    echo "built .device/maml_step ($(du -h .device/maml_step | cut -f1)); carry .device to the GPU machine"
    ;;
run)
    out=${2:-${OUT:-out/gpu_bench}}
    mkdir -p "$out"
    iters=${ITERS:-10}
    ref=${REFERENCE:-}
    for candidate in .device/maml_reference.py ../shared/bench/maml_reference.py shared/bench/maml_reference.py; do
        [ -z "$ref" ] && [ -f "$candidate" ] && ref=$candidate
    done
    [ -x .device/maml_step ] || { echo "gpu_maml_bench: .device/maml_step missing; run '$0 build' first and carry .device" >&2; exit 1; }
    torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
    lines="$out/maml_bench.jsonl"
    : > "$lines"
    # Throughput: the whole sweep in one process per path (one CUDA start each).
    for mode in batched loop; do
        .device/maml_step --device cuda:0 --modes "$mode" --sweep --iters "$iters" |
            sed 's/"peak_gpu_mib":[^,}]*/"peak_gpu_mib":null,"sweep":true/' | tee -a "$lines" ||
            echo "{\"mode\": \"tch-$mode\", \"sweep\": true, \"error\": \"failed\"}" | tee -a "$lines"
    done
    # Memory: a fresh process per setting, so the growth is that setting's own.
    for tasks in 16 64; do
        for mode in batched loop; do
            .device/maml_step --device cuda:0 --modes "$mode" --tasks "$tasks" --iters 3 |
                sed 's/^{/{"memory_run":true,/' | tee -a "$lines" ||
                echo "{\"mode\": \"tch-$mode\", \"tasks\": $tasks, \"error\": \"failed (out of memory?)\"}" | tee -a "$lines"
        done
    done
    # Where the time goes: GPU busy fraction (NVML, 50 ms samples) over a long batched run
    # at the paper's setting, and the step time against the tile area.
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 50 > "$out/util.txt" 2>/dev/null &
    sampler=$!
    .device/maml_step --device cuda:0 --modes batched --tasks 16 --iters 60 |
        sed 's/^{/{"utilisation_run":true,/' | tee -a "$lines"
    kill "$sampler" 2>/dev/null
    python3 -c 'import sys; v=[int(x) for x in open(sys.argv[1]) if x.strip().isdigit()]; v=v[len(v)//5:]; print("{\"gpu_busy_percent_mean\": %.1f, \"samples\": %d}" % (sum(v)/max(len(v),1), len(v)))' "$out/util.txt" | tee -a "$lines"
    for size in 64 32; do
        .device/maml_step --device cuda:0 --modes batched --tasks 16 --size "$size" --iters "$iters" |
            sed 's/^{/{"size_run":true,/' | tee -a "$lines"
    done
    if [ -n "$ref" ]; then
        for tasks in 4 16 64; do
            python3 "$ref" --tasks "$tasks" --iters "$iters" --cuda-graph | tee -a "$lines" ||
                echo "{\"mode\": \"reference\", \"tasks\": $tasks, \"error\": \"failed\"}" | tee -a "$lines"
        done
    else
        echo "gpu_maml_bench: maml_reference.py not found; set REFERENCE" >&2
    fi
    python3 - "$lines" <<'EOF' | tee "$out/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
ok = [r for r in rows if "tasks_per_s" in r and not r.get("utilisation_run") and not r.get("size_run")]
peers = [r for r in ok if not r["mode"].startswith("tch-")]
print(f"{'mode':<28}{'tasks':>6}{'steps':>6}{'order':>6}{'tasks/s':>10}{'peak MiB':>10}{'x best peer':>12}")
for r in ok:
    best = max((p["tasks_per_s"] for p in peers if p["tasks"] == r["tasks"]), default=None)
    mine = r["mode"].startswith("tch-")
    ratio = f"{r['tasks_per_s'] / best:.2f}" if best and mine and r.get("inner_steps", 1) == 1 and r.get("order", 2) == 2 else ""
    mem = r.get("peak_gpu_mib")
    print(f"{r['mode']:<28}{r['tasks']:>6}{r.get('inner_steps', 1):>6}{r.get('order', 2):>6}"
          f"{r['tasks_per_s']:>10.1f}{(f'{mem:.0f}' if mem is not None else '-'):>10}{ratio:>12}")
for r in rows:
    if "error" in r:
        print("error:", r)
EOF
    ;;
*)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
