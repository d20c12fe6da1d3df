"""`python -m trainer pack RUN_DIR --out DIR`: a compact, resumable copy of a run.

The copy holds run.json and the newest checkpoint with the Adam moments stored as bfloat16
(weights, RNG states and bookkeeping stay exact), about two thirds of the size. Resume it with
`fit --resume --out DIR` (give --data / --val when the photos live elsewhere now): torch casts the
moments back to float32 when the optimiser state is loaded. Used to commit long CPU runs between
sessions and to move a run between machines.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from inpaint_studio.contracts.runs import CHECKPOINTS_DIR, RUN_FILE

from ..fit.checkpoint import checkpoint_path, latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint

MOMENTS = ("exp_avg", "exp_avg_sq")


def compact(payload: dict) -> dict:
    """The payload with every optimiser's moment tensors in bfloat16 (in place)."""
    for key in ("opt_g", "opt_d"):
        for state in (payload.get(key) or {}).get("state", {}).values():
            for name in MOMENTS:
                if isinstance(state.get(name), torch.Tensor):
                    state[name] = state[name].to(torch.bfloat16)
    return payload


def pack_run(run_dir: str | Path, out: str | Path, checkpoint: str | Path | None = None) -> Path:
    """Writes out/run.json and out/checkpoints/ckpt-N.safetensors; returns the checkpoint path.
    An existing pack in `out` is replaced by the newer checkpoint only once that one is written."""

    run_dir, out = Path(run_dir), Path(out)
    if not (run_dir / RUN_FILE).is_file():
        raise ValueError(f"{run_dir}: not a training run folder (no {RUN_FILE})")
    if out.resolve() == run_dir.resolve():
        raise ValueError("--out must be another folder than the run itself")
    if checkpoint is not None:
        payload = load_checkpoint(Path(checkpoint))
    else:
        found = latest_checkpoint(run_dir / CHECKPOINTS_DIR)
        if found is None:
            raise ValueError(f"{run_dir}: no checkpoint to pack yet")
        payload = found[1]
    iteration = int(payload["iteration"])
    ckpt_dir = out / CHECKPOINTS_DIR
    stale = [p for _, p in list_checkpoints(ckpt_dir) if p != checkpoint_path(ckpt_dir, iteration)]
    written = save_checkpoint(ckpt_dir, iteration, compact(payload), keep=len(stale) + 1)
    shutil.copyfile(run_dir / RUN_FILE, out / RUN_FILE)
    for path in stale:
        path.unlink(missing_ok=True)
    return written
