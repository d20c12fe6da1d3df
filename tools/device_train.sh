#!/usr/bin/env bash
# Train the bundled model on a lent GPU machine (the `device` tool), in steps that fit its
# 10-minute commands. The machine starts bare and has no network, so the call carries:
#   .corpus/train, .corpus/val   python -m trainer corpus compress CORPUS .corpus  (~48 MB)
#   .whl/platformdirs-*.whl      the one dependency its Python lacks
#   .run/                        optional: a `trainer pack` to resume from
# and what is worth keeping goes to $OUT (files of 16 MiB at most, so the model comes in parts).
#
#   tools/device_train.sh start            start (or resume) training, detached from the call
#   tools/device_train.sh watch MINUTES    follow it; leaves a snapshot of the model in $OUT
#   tools/device_train.sh finish           stop it, export the model, bench and evaluate
#
# A detached trainer outlives the call only while the machine stays warm (30 s), so issue the
# next call at once: `start && watch 8`, then `watch 8` as the budget allows, then `finish`
# (stop, export, evaluate, bench: a few minutes).
# TRAIN_ARGS replaces the options of a new run, SPEED_ARGS those given on resuming (a pack made
# on a CPU carries its small batch); the tests use them for a tiny CPU run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
RUN=${RUN:-runs/bundled-gpu}
OUT=${OUT:-out}
NAME=${NAME:-PEN-Net (open photo corpus)}
SPEED_ARGS=${SPEED_ARGS:---batch-size 16 --workers 12 --checkpoint-every 1000 --keep-checkpoints 2 --val-every 2000 --log-every 50}
TRAIN_ARGS=${TRAIN_ARGS:---size 256 --iterations 200000 --val-images 44 $SPEED_ARGS}
EVENTS=$RUN.events.jsonl
PACK=${PACK:-.run}
CORPUS=$(realpath -m "${CORPUS:-.corpus}")
EVAL_ARGS=${EVAL_ARGS:-}
export INPAINT_STUDIO_HOME=${INPAINT_STUDIO_HOME:-$PWD/runs/home} PYTHONUNBUFFERED=1
mkdir -p "$RUN" "$OUT"

if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi

last_progress() {
    grep '"event": "progress"' "$EVENTS" 2>/dev/null | tail -n 1 | "$PY" -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    loss = e["losses"]
    print("iteration %d  %.1f samples/s  hole L1 %.4f  D %.3f"
          % (e["iteration"], e["samples_per_s"], loss["hole"], loss["discriminator"]))'
}

# the newest checkpoint as fp16 model files in $OUT, split below the 16 MiB a file may have
snapshot() {
    local id
    id=$("$PY" -m trainer export "$RUN" --name "$NAME" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["model_id"])')
    rm -f "$OUT"/model.safetensors.part-*
    split -b 15M -d "$INPAINT_STUDIO_HOME/models/$id.safetensors" "$OUT/model.safetensors.part-"
    cp "$INPAINT_STUDIO_HOME/models/$id.json" "$OUT/model.json"
    cp "$EVENTS" "$OUT/events.jsonl"
    echo "$id"
}

case "${1:-}" in
start)
    if [ ! -f "$RUN/run.json" ] && [ -f "$PACK/run.json" ]; then
        rm -rf "$RUN" && cp -r "$PACK" "$RUN"
    fi
    if [ -f "$RUN/run.json" ]; then
        # shellcheck disable=SC2086
        set -- fit --resume --out "$RUN" --data "$CORPUS/train" --val "$CORPUS/val" $SPEED_ARGS
    else
        rm -rf "$RUN"
        # shellcheck disable=SC2086
        set -- fit --data "$CORPUS/train" --val "$CORPUS/val" --out "$RUN" $TRAIN_ARGS
    fi
    mkdir -p "$(dirname "$RUN")"
    setsid nohup "$PY" -m trainer "$@" --events "$EVENTS" >"$RUN.log" 2>&1 </dev/null &
    echo $! >"$RUN.pid"
    for _ in $(seq 120); do  # until the first step has run
        sleep 1
        if [ -f "$EVENTS" ] && grep -q '"event": "progress"' "$EVENTS"; then break; fi
        if ! kill -0 "$(cat "$RUN.pid")" 2>/dev/null; then cat "$RUN.log"; exit 1; fi
    done
    last_progress
    ;;
watch)
    end=$((SECONDS + 60 * ${2:?minutes}))
    while [ $SECONDS -lt $end ] && kill -0 "$(cat "$RUN.pid")" 2>/dev/null; do
        sleep $((end - SECONDS < 60 ? (end - SECONDS > 0 ? end - SECONDS : 1) : 60))
        last_progress
    done
    snapshot >/dev/null
    ;;
finish)
    touch "$RUN/STOP"
    while kill -0 "$(cat "$RUN.pid")" 2>/dev/null; do sleep 1; done
    tail -n 3 "$RUN.log"
    id=$(snapshot)
    for masks in center free; do
        # shellcheck disable=SC2086
        "$PY" -m trainer evaluate --model "$id" --data "$CORPUS/val" --masks $masks --json $EVAL_ARGS \
            >"$OUT/eval-$masks.json"
        "$PY" -c 'import json, sys; from trainer.evaluate import format_table
print(format_table(json.load(open(sys.argv[1]))))' "$OUT/eval-$masks.json"
    done
    if [ -z "${SKIP_BENCH:-}" ]; then
        "$PY" -m inpaint_studio bench --device cuda 2>/dev/null | tee "$OUT/bench-inference.txt"
        "$PY" -m trainer bench --device cuda --batches 1 8 16 --compile off | tee "$OUT/bench-trainer.txt"
    fi
    ;;
*)
    sed -n 2,15p "$0"
    exit 2
    ;;
esac
