#!/usr/bin/env bash
# Commit a compact, resumable copy of a training run (`trainer pack`) to a branch of its own, as
# one commit that replaces the last: long CPU runs survive between sessions without growing main
# or the working tree (the GPU machine takes 64 MiB a call).
#
#   tools/save_progress.sh RUN_DIR [EVENTS_FILE] [BRANCH]      (default branch progress/bundled-model)
#
# To resume: git archive progress/bundled-model | tar -x -C ~/progress
#            python -m trainer fit --resume --out ~/progress/run --data ... --val ...
set -euo pipefail
run=${1:?usage: tools/save_progress.sh RUN_DIR [EVENTS_FILE] [BRANCH]}
events=${2:-}
branch=${3:-progress/bundled-model}
repo=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}  # the repository that gets the branch
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-python}
stage=$(mktemp -d)
index=$(mktemp)
trap 'rm -rf "$stage" "$index"' EXIT

packed=$("$PY" -m trainer pack "$run" --out "$stage/run")
iteration=$(echo "$packed" | "$PY" -c 'import json, re, sys
print(int(re.search(r"ckpt-(\d+)", json.load(sys.stdin)["checkpoint"]).group(1)))')
if [ -n "$events" ]; then cp "$events" "$stage/run/events.jsonl"; fi
cat >"$stage/README.md" <<EOF
# Training progress: $(basename "$run"), iteration $iteration

A compact copy of the run (\`python -m trainer pack\`: weights exact, Adam moments in bf16),
committed by tools/save_progress.sh. This branch holds one commit, replaced at every save.

    git archive $branch | tar -x -C ~/progress
    python -m trainer fit --resume --out ~/progress/run --data CORPUS/train --val CORPUS/val
EOF

export GIT_INDEX_FILE=$index
git -C "$repo" read-tree --empty
(cd "$stage" && find . -type f | sed 's|^\./||') | while read -r path; do
    blob=$(git -C "$repo" hash-object -w "$stage/$path")
    git -C "$repo" update-index --add --cacheinfo "100644,$blob,$path"
done
tree=$(git -C "$repo" write-tree)
commit=$(git -C "$repo" commit-tree "$tree" -m "Training progress: $(basename "$run") at iteration $iteration")
git -C "$repo" update-ref "refs/heads/$branch" "$commit"
echo "$branch -> $commit (iteration $iteration)"
