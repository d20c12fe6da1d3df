"""Training checkpoints: one safetensors file per checkpoint, written atomically.

A checkpoint holds any nested structure of dicts, lists and tensors (generator, discriminator,
both optimisers, RNG states, iteration, config): tensors go into the safetensors body, the rest
into its JSON metadata, so nothing is ever unpickled. A file is written under a temporary name,
synced, then renamed: a reader sees complete checkpoints only, and a failed write (full disk,
I/O error) leaves the previous checkpoints untouched. The last `keep` are kept.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as serialize

from inpaint_studio.atomic import sync_directory
from inpaint_studio.contracts.runs import CHECKPOINT_PREFIX, CHECKPOINT_SUFFIX

FORMAT = "inpaint-studio-checkpoint/1"
_NAME = re.compile(rf"^{re.escape(CHECKPOINT_PREFIX)}(\d{{9}}){re.escape(CHECKPOINT_SUFFIX)}$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the message says which file and why."""


def checkpoint_path(directory: Path, iteration: int) -> Path:
    return Path(directory) / f"{CHECKPOINT_PREFIX}{iteration:09d}{CHECKPOINT_SUFFIX}"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def save_checkpoint(directory: Path, iteration: int, payload: dict, keep: int = 3) -> Path:
    directory = Path(directory)
    final = checkpoint_path(directory, iteration)
    tensors: dict[str, torch.Tensor] = {}
    tmp = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        structure = _split(payload, "", tensors)
        data = serialize(tensors, metadata={"format": FORMAT, "iteration": str(iteration),
                                            "structure": json.dumps(structure)})
        fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}-", suffix=".tmp", dir=directory)
        os.close(fd)
        _write_file(Path(tmp), data)
        os.replace(tmp, final)
        tmp = None
        sync_directory(directory)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CheckpointError(f"could not write checkpoint {final}: {reason}; "
                              "the previous checkpoint is kept") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    for _, old in list_checkpoints(directory)[:-max(1, keep)]:
        old.unlink(missing_ok=True)
    return final


def load_checkpoint(path: Path) -> dict:
    """The payload given to save_checkpoint (tuples come back as tuples, tensors on the CPU)."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a trainer checkpoint")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return _join(json.loads(meta["structure"]), tensors)
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises its own types for damaged files
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from None


def latest_checkpoint(directory: Path) -> tuple[Path, dict] | None:
    """The newest readable checkpoint and its payload; a damaged newest one falls back to the
    one before (its error is raised only when none is readable)."""
    error = None
    for _, path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as exc:
            error = error or exc
    if error:
        raise error
    return None


def checkpoint_architecture(payload: dict) -> dict:
    """The network a checkpoint holds: {"name", "cnum"}. Checkpoints written before the
    architecture was recorded hold PEN-Net, whose width the first convolution tells."""
    found = payload.get("architecture")
    if found:
        return found
    return {"name": "pennet", "cnum": int(payload["generator"]["dw_conv01.0.weight"].shape[0])}


def remove_stale_temporaries(directory: Path) -> None:
    """Half-written files of a process that was killed while writing."""
    for p in Path(directory).glob(".ckpt-*.tmp") if Path(directory).is_dir() else ():
        p.unlink(missing_ok=True)


# -- helpers ------------------------------------------------------------------------------------
def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _split(obj, key: str, tensors: dict):
    """Nested payload -> JSON structure, tensors moved into `tensors` under path-like names."""
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().to("cpu").contiguous()
        return {"$tensor": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: _split(v, f"{key}/{k}", tensors) for k, v in obj.items()}
        return {"$items": [[k, _split(v, f"{key}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"$tuple": [_split(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_split(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {key or '/'} in a checkpoint")


def _join(obj, tensors: dict):
    if isinstance(obj, dict):
        if "$tensor" in obj:
            return tensors[obj["$tensor"]]
        if "$items" in obj:
            return {k: _join(v, tensors) for k, v in obj["$items"]}
        if "$tuple" in obj:
            return tuple(_join(v, tensors) for v in obj["$tuple"])
        return {k: _join(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj
