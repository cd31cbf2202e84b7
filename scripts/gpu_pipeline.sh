#!/usr/bin/env bash
# The whole pipeline on a CUDA machine that has no Rust and no GDAL: paper-sized
# synthetic Sen12MS data, train (MAML and pretrain), evaluate, adapt, map, assess, and
# the same short training on CPU and CUDA with one seed.
#
#   scripts/gpu_pipeline.sh pack        # here: .device/runtime.tar.xz (geomaml + the
#                                       # GDAL/PROJ libraries it links, proj.db, GDAL data)
#   scripts/gpu_pipeline.sh run [OUTDIR] # on the GPU machine: unpack, run, summarise
#
# `run` prints one JSON line per step (wall time, peak GPU memory, exit status) into
# OUTDIR/steps.jsonl and the step outputs beside it. libtorch comes from the GPU
# machine's PyTorch, ONNX Runtime from its onnxruntime package. Knobs: STEPS (meta-steps,
# default 300), PATCHES (per region, default 72), EVAL_TASKS (default 100), EVAL_SHOTS
# (default 0,1,2,5,10), EVAL_QUERY (default 10), DEVICE
# (default cuda:0; cpu to rehearse the script on a machine without a GPU).
set -uo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
pack)
    set -e
    cargo build --release
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage/lib" "$stage/share/proj"
    # The executable with libtorch, under the name the run step uses.
    strip -o "$stage/geomaml" target/release/geomaml-train
    # Every shared library geomaml links except libtorch/CUDA (the GPU machine's
    # PyTorch has them) and the C/C++ runtime (the machine's own is newer).
    ldd target/release/geomaml-train | awk '/=> \//{print $1" "$3}' |
        grep -v -E '^(libtorch|libc10|libcudart|libcusparse|libcufft|libcufile|libcublas|libcurand|libcudnn|libcupti|libnccl|libnv|libgomp|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libstdc|libgcc_s|ld-linux)' |
        awk '{print $2}' | xargs cp -L -t "$stage/lib/"
    cp /usr/share/proj/proj.db "$stage/share/proj/"
    cp -r /usr/share/gdal "$stage/share/gdal"
    mkdir -p .device
    tar -C "$stage" -cf - geomaml lib share | xz -T0 -6 > .device/runtime.tar.xz
    echo "built .device/runtime.tar.xz ($(du -h .device/runtime.tar.xz | cut -f1)); carry .device"
    ;;
run)
    out=${2:-${OUT:-out/gpu_pipeline}}
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    steps=${STEPS:-300}
    patches=${PATCHES:-72}
    eval_tasks=${EVAL_TASKS:-100}
    gpu=${DEVICE:-cuda:0}
    eval_shots=${EVAL_SHOTS:-0,1,2,5,10}
    eval_query=${EVAL_QUERY:-10}
    rt=$(mktemp -d)
    tar -C "$rt" -xJf .device/runtime.tar.xz || { echo "gpu_pipeline: .device/runtime.tar.xz missing; run '$0 pack' and carry .device" >&2; exit 1; }
    # Ask Python first: the carried libraries go ahead of the system's only for geomaml.
    torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
    ORT_DYLIB_PATH=$(python3 -c 'import onnxruntime, os, glob; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[-1])')
    export ORT_DYLIB_PATH
    export LD_LIBRARY_PATH="$rt/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PROJ_DATA="$rt/share/proj" PROJ_LIB="$rt/share/proj" GDAL_DATA="$rt/share/gdal"
    B="$rt/geomaml"
    W=${WORK:-/tmp/gpu_pipeline}
    rm -rf "$W" && mkdir -p "$W"
    lines="$out/steps.jsonl"
    : > "$lines"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
    nproc | sed 's/^/cpu cores: /' | tee -a "$out/gpu.txt"

    # step NAME TIMEOUT_S CMD...: runs CMD with a GPU-memory sampler; one JSON line.
    step() {
        local name=$1 limit=$2
        shift 2
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$W/mem_$name.txt" 2>/dev/null &
        local sampler=$! t0 t1 rc
        local base
        base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
        t0=$(date +%s.%N)
        timeout "$limit" "$@" > "$out/$name.log" 2>&1
        rc=$?
        t1=$(date +%s.%N)
        kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
        local peak
        peak=$(sort -n "$W/mem_$name.txt" 2>/dev/null | tail -1)
        printf '{"step": "%s", "rc": %d, "wall_s": %.1f, "peak_gpu_mib": %s, "baseline_gpu_mib": %s, "output_lines": %d}\n' \
            "$name" "$rc" "$(awk "BEGIN{print $t1 - $t0}")" "${peak:-null}" "${base:-null}" "$(wc -l < "$out/$name.log")" | tee -a "$lines"
        tail -3 "$out/$name.log"
        return $rc
    }

    step synth 100 "$B" synth sen12ms "$W/sen12ms" --regions train:12,val:4,test:4 --seasons summer \
        --patches "$patches" --size 256 --seed 7
    step scene 40 "$B" synth scene "$W/scene" --region 110 --size 1024 --points 5 --seed 7
    step catalog 30 "$B" catalog "$W/sen12ms" -o "$W/catalog.json" --tile-size 128
    # CPU/CUDA agreement: the same 3 meta-steps, one seed, 4 tasks, one task at a time
    # (the reference path) and on CUDA also batched.
    for dev in cpu "$gpu"; do
        tag=${dev%%:*}
        step "agree_$tag" 60 "$B" train "$W/catalog.json" --method maml --steps 3 --meta-batch 4 \
            --task-group 1 --val-every 0 --device "$dev" --seed 7 -o "$W/agree_$tag.safetensors"
    done
    step agree_cuda_batched 45 "$B" train "$W/catalog.json" --method maml --steps 3 --meta-batch 4 \
        --task-group 0 --val-every 0 --device "$gpu" --seed 7 -o "$W/agree_cuda_batched.safetensors"
    # The same CUDA run with TF32 off in cuDNN and cuBLAS (NVIDIA_TF32_OVERRIDE): how
    # much of the CPU/CUDA difference is TF32 convolution.
    NVIDIA_TF32_OVERRIDE=0 step agree_cuda_fp32 60 "$B" train "$W/catalog.json" --method maml --steps 3 \
        --meta-batch 4 --task-group 1 --val-every 0 --device "$gpu" --seed 7 -o "$W/agree_cuda_fp32.safetensors"
    step train_maml 150 "$B" train "$W/catalog.json" --method maml --steps "$steps" --val-every 100 \
        --device "$gpu" --seed 7 -o "$W/maml.safetensors"
    step train_pretrain 60 "$B" train "$W/catalog.json" --method pretrain --steps "$steps" --val-every 100 \
        --device "$gpu" --seed 7 -o "$W/pretrain.safetensors"
    step evaluate 120 "$B" evaluate "$W/catalog.json" --model "$W/maml.safetensors" --model "$W/pretrain.safetensors" \
        --shots "$eval_shots" --query "$eval_query" --tasks "$eval_tasks" --device "$gpu" --seed 7 -o "$W/eval"
    step adapt 45 "$B" adapt --model "$W/maml.safetensors" --scene "$W/scene/scene.tif" \
        --labels "$W/scene/labels.geojson" --device "$gpu" -o "$W/maml_adapted.onnx"
    step map 40 "$B" map --model "$W/maml_adapted.onnx" "$W/scene/scene.tif" -o "$W/map_maml.tif"
    step assess 20 "$B" assess "$W/map_maml.tif" --reference "$W/scene/truth.tif"
    for f in agree_cpu agree_cuda agree_cuda_fp32 agree_cuda_batched maml pretrain; do
        [ -f "$W/$f.log.jsonl" ] && cp "$W/$f.log.jsonl" "$out/"
    done
    [ -d "$W/eval" ] && cp "$W/eval/curves.csv" "$out/" && tar -C "$W" -czf "$out/eval.tar.gz" eval
    python3 - "$out" <<'EOF_PY' | tee "$out/summary.txt"
import json, os, sys
out = sys.argv[1]
def log(name):
    p = os.path.join(out, name + ".log.jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
print("CPU/CUDA agreement (3 MAML steps, seed 7, 4 tasks): query loss per step")
runs = {n: [r["loss"] for r in log(n) if r["kind"] == "train"] for n in ("agree_cpu", "agree_cuda", "agree_cuda_fp32", "agree_cuda_batched")}
for n, v in runs.items():
    print(f"  {n:<20}", " ".join(f"{x:.6f}" for x in v))
cpu = runs["agree_cpu"]
for n in ("agree_cuda", "agree_cuda_fp32", "agree_cuda_batched"):
    if cpu and runs[n]:
        d = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(cpu, runs[n]))
        print(f"  max relative difference cpu vs {n}: {d:.2e}")
for n in ("maml", "pretrain"):
    rec = log(n)
    tr = [r for r in rec if r["kind"] == "train"]
    va = [r for r in rec if r["kind"] == "val"]
    if tr:
        tps = sorted(r.get("tasks_per_s", 0) for r in tr)
        print(f"{n}: {len(tr)} steps, median {tps[len(tps)//2]:.1f} tasks/s, last train loss {tr[-1]['loss']:.4f}")
    for r in va:
        print(f"  val step {r['step']}: loss {r['loss']:.4f} accuracy {r.get('accuracy', float('nan')):.3f}")
EOF_PY
    ;;
*)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
