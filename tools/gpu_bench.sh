#!/usr/bin/env bash
# Issue 13's GPU measurements in one command, for a lent GPU machine (the `device` tool: commands
# of at most 10 minutes, files back from $OUT). Each part prints its plan and estimate first.
#
#   tools/gpu_bench.sh inference   # ~2 min: inpaint_studio bench, 256/512/1024 px, fp16/bf16/fp32,
#                                  #   batch 1 (+16 at 256), the engine's choice against the old kernel
#   tools/gpu_bench.sh training    # ~6-8 min: trainer bench, batches 8-128, 4 attention variants,
#                                  #   compile off/on, peak memory, and a profile of fit's defaults
#   tools/gpu_bench.sh all         # both (may exceed one 10-minute command: prefer two calls)
#   tools/gpu_bench.sh check       # both on the CPU at 64 px, one step: proves the script, its
#                                  #   options and its files work before a GPU window (~1 min)
#
# Output: $OUT/bench-inference.txt, $OUT/bench-training.txt, $OUT/profile-training.txt
# (OUT defaults to ./bench-out).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
part="${1:-all}"
device=cuda
infer_opts=(--sizes 256 512 1024 --repeats 20 --arch pennet)
train_opts=()
case "$part" in
    inference|training|all) ;;
    check)
        device=cpu
        infer_opts=(--sizes 64 --repeats 1 --precision fp32 --arch pennet)
        train_opts=(--size 64 --batches 1 --variants holes --steps 1 --warmup 0 --precision fp32)
        ;;
    *) echo "usage: tools/gpu_bench.sh inference|training|all|check" >&2; exit 2 ;;
esac
OUT="${OUT:-$PWD/bench-out}"
mkdir -p "$OUT"
PY="${PY:-${PYTHON:-python3}}"  # PY as in tools/gpu_window.sh

"$PY" - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda,
      torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA DEVICE")
EOF

if [[ "$part" == inference || "$part" == all || "$part" == check ]]; then
    "$PY" -m inpaint_studio bench --device "$device" "${infer_opts[@]}" 2> "$OUT/bench-inference.log" \
        | tee "$OUT/bench-inference.txt" || { tail -n 20 "$OUT/bench-inference.log" >&2; exit 1; }
fi
if [[ "$part" == training || "$part" == all || "$part" == check ]]; then
    "$PY" -m trainer bench --device "$device" "${train_opts[@]}" --profile "$OUT/profile-training.txt" \
        2> "$OUT/bench-training.log" \
        | tee "$OUT/bench-training.txt" || { tail -n 20 "$OUT/bench-training.log" >&2; exit 1; }
    head -n 45 "$OUT/profile-training.txt"
fi
