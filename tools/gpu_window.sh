#!/usr/bin/env bash
# One training window on a lent GPU machine (the `device` tool) in ONE call: the machine starts
# bare and offline, and a later call may find nothing of this one.
#
#   here, first:   tools/gpu_window.sh carry       the carry's size, checked against 64 MiB (exit 1 if over)
#   there:         tools/gpu_window.sh MINUTES     train MINUTES, then pack and bench (see trainer/README.md)
#   here, after:   python -m trainer window-return FILES_AT --data ~/corpus/val    (rebuild, promote, figure)
#
# There: a warm start from the bundled model (WARM, default: the app's default model) on the
# carried corpus (.corpus/train, held out .corpus/val), with the from-scratch settings and a fresh
# optimiser; training begins within a minute and stops MINUTES after the call began (a checkpoint
# at the stop); the newest checkpoint goes to $OUT as window.part-NN (generator fp16 and
# discriminator, below 16 MiB each), with the events, the log's tail and the bench tables.
# Env: OUT, RUN, CORPUS, WARM, TRAIN_ARGS (replaces the GPU settings; the tests use a tiny CPU
# run), SKIP_BENCH=1 (no bench tables), PY.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}

if [ "${1:-}" = carry ]; then
    shift
    exec "$PY" -m trainer window-carry "$@"
fi
if ! [[ "${1:-}" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    sed -n 2,15p "$0"
    exit 2
fi
SECONDS_LEFT=$("$PY" -c "import sys; print(max(1, round(float(sys.argv[1]) * 60)))" "$1")
deadline=$((SECONDS + SECONDS_LEFT))
OUT=${OUT:-out}
RUN=${RUN:-runs/window}
CORPUS=$(realpath -m "${CORPUS:-.corpus}")
WARM=${WARM:-default}
# batch, workers and learning rate: fit's CUDA defaults (contracts/training.py). No torch.compile
# until tools/gpu_bench.sh has measured that its minutes of compiling pay back within one window.
TRAIN_ARGS=${TRAIN_ARGS:---no-compile --checkpoint-every 1000 --keep-checkpoints 1 --val-every 1000 --val-images 58 --log-every 50}
EVENTS=$RUN.events.jsonl
if [ ! -d "$CORPUS/train" ] || [ ! -d "$CORPUS/val" ]; then
    echo "error: $CORPUS: no carried corpus (train/ and val/); make it with 'python -m trainer corpus compress" \
         "~/corpus .corpus' and carry .corpus" >&2
    exit 2
fi
export INPAINT_STUDIO_HOME=${INPAINT_STUDIO_HOME:-$PWD/runs/home} PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then  # what that machine's Python lacks
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
rm -rf "$RUN" "$EVENTS"
mkdir -p "$OUT" "$(dirname "$RUN")"

progress() {  # the newest progress event, in one line (nothing before the first step)
    { grep '"event": "progress"' "$EVENTS" 2>/dev/null || true; } | tail -n 1 | "$PY" -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    print("iteration %d  %s samples/s  hole L1 %.4f  elapsed %s s" % (e["iteration"], e.get("samples_per_s"),
          e["losses"]["hole"], e.get("elapsed_s")))'
}

# shellcheck disable=SC2086
"$PY" -m trainer fit --warm-start "$WARM" --data "$CORPUS/train" --val "$CORPUS/val" --out "$RUN" \
    --events "$EVENTS" $TRAIN_ARGS >"$RUN.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT  # never leave the trainer behind
next_report=$((SECONDS + 30))
while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    sleep 1
    if [ $SECONDS -ge $next_report ]; then progress; next_report=$((SECONDS + 30)); fi
done
if kill -0 "$pid" 2>/dev/null; then
    # stop after the current step; the trainer clears a STOP left before it started, so wait for a step
    until grep -q '"event": "progress"' "$EVENTS" 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; do sleep 1; done
    touch "$RUN/STOP"
fi
status=0
wait "$pid" || status=$?
trap - EXIT
echo "trainer ended after $SECONDS s"
progress
tail -n 5 "$RUN.log"
if [ $status -ne 0 ]; then
    echo "error: the trainer ended with status $status (log above)" >&2
fi
"$PY" -m trainer window-pack "$RUN" --out "$OUT"
cp "$EVENTS" "$OUT/events.jsonl"
tail -n 200 "$RUN.log" >"$OUT/train.log"

if [ -z "${SKIP_BENCH:-}" ]; then
    if [ -x tools/gpu_bench.sh ]; then
        OUT=$OUT tools/gpu_bench.sh inference
    else
        "$PY" -m inpaint_studio bench --device cuda 2>/dev/null | tee "$OUT/bench-inference.txt"
    fi
    "$PY" -m trainer bench --device cuda --batches 8 16 | tee "$OUT/bench-trainer.txt"
fi

"$PY" - "$OUT" <<'EOF'
import sys
from trainer.release.window import check_return
problems = check_return(sys.argv[1])
for p in problems:
    print("error:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
ls -l "$OUT"
exit $status
