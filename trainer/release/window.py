"""A training window on a lent GPU machine, in one call each way (tools/gpu_window.sh).

The machine starts bare, offline, and may be gone before the next call; a call carries at most
CARRY_LIMIT bytes there and brings back at most RETURN_FILES files of RETURN_FILE_LIMIT bytes.

- `window-carry` (here, before the call): the carry's size, part by part, checked against the limit.
- `window-pack RUN --out DIR` (there, at the end): the run's newest checkpoint without the
  optimiser (generator fp16, discriminator fp16 or bf16, settings, data summary, run.json) in
  parts below the file limit: `window.part-00`, `window.part-01`, ...
- `window-return DIR --data HELDOUT` (here, after): joins the parts into a run folder, `promote`s
  it, and when it was promoted, draws the results figure.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import torch

from inpaint_studio.contracts.runs import CHECKPOINTS_DIR, RUN_FILE

from ..fit.checkpoint import checkpoint_path, latest_checkpoint, load_checkpoint, save_checkpoint
from .bundle import BUNDLED_ID

CARRY_LIMIT = 64 * 2**20          # bytes a device call carries, everything together
RETURN_FILE_LIMIT = 16 * 2**20    # bytes per file it brings back ...
RETURN_FILES = 8                  # ... and files at most
PART_BYTES = 15 * 2**20           # window parts, below the file limit
PART_PREFIX = "window.part-"
CARRIED = (".corpus", ".whl")     # the ignored paths a window carries (`run` tool: carry=[...])
STATE_DIR = "models"              # what a window starts from: the bundled model


# -- before the call ---------------------------------------------------------------------------------
def carry_report(root: str | Path, carried: tuple[str, ...] = CARRIED) -> dict:
    """Bytes a device call would carry from the checkout `root`: the files git would copy (tracked,
    and untracked but not ignored), split into the bundled model (state) and the rest, plus each
    carried path."""
    root = Path(root)
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ValueError(f"{root}: not a git checkout ({exc}); the carry is measured from git's file list") from None
    project = state = 0
    for name in filter(None, listed):
        path = root / name
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            if Path(name).parts[0] == STATE_DIR:
                state += size
            else:
                project += size
    parts = {"project files": project, f"state ({STATE_DIR}/)": state}
    for name in carried:
        parts[name] = _tree_size(root / name)
    total = sum(parts.values())
    return {"parts": parts, "total": total, "limit": CARRY_LIMIT, "fits": total <= CARRY_LIMIT}


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) if path.is_dir() else 0


def format_carry(report: dict) -> str:
    lines = [f"{'carried':<24}{'bytes':>14}{'MiB':>9}"]
    for name, size in report["parts"].items():
        lines.append(f"{name:<24}{size:>14,}{size / 2**20:>9.2f}")
    lines.append(f"{'total':<24}{report['total']:>14,}{report['total'] / 2**20:>9.2f}")
    spare = report["limit"] - report["total"]
    verdict = "fits" if report["fits"] else "TOO BIG"
    lines.append(f"{'limit':<24}{report['limit']:>14,}{report['limit'] / 2**20:>9.2f}  {verdict}, "
                 f"{spare:,} bytes ({spare / 2**20:.2f} MiB) {'to spare' if spare >= 0 else 'over'}")
    return "\n".join(lines)


# -- on the GPU machine ----------------------------------------------------------------------------
def window_pack(run_dir: str | Path, out: str | Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """The run's newest checkpoint, slimmed to what promotion needs, as parts in `out`."""
    run_dir, out = Path(run_dir), Path(out)
    if not (run_dir / RUN_FILE).is_file():
        raise ValueError(f"{run_dir}: not a training run folder (no {RUN_FILE})")
    found = latest_checkpoint(run_dir / CHECKPOINTS_DIR)
    if found is None:
        raise ValueError(f"{run_dir}: no checkpoint yet: the window ended before the first one was saved")
    _, payload = found
    slim = {k: payload.get(k) for k in ("iteration", "config", "architecture", "metrics", "data", "hardware",
                                        "world_size", "base", "warm_start")}
    slim["generator"] = {k: _half(v, torch.float16) for k, v in payload["generator"].items()}
    d_dtype = torch.float16
    if any(v.is_floating_point() and v.abs().max() > torch.finfo(torch.float16).max
           for v in payload["discriminator"].values()):
        d_dtype = torch.bfloat16  # fp16 would overflow
    slim["discriminator"] = {k: _half(v, d_dtype) for k, v in payload["discriminator"].items()}
    slim["run"] = (run_dir / RUN_FILE).read_text(encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{PART_PREFIX}*"):
        old.unlink()
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        whole = save_checkpoint(Path(tmp), int(payload["iteration"]), slim, keep=1).read_bytes()
    parts = []
    for i in range(0, len(whole), part_bytes):
        part = out / f"{PART_PREFIX}{i // part_bytes:02d}"
        _write_atomic(part, whole[i:i + part_bytes])
        parts.append(part)
    return parts


def _half(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return tensor.to(dtype) if tensor.is_floating_point() else tensor


def check_return(folder: str | Path) -> list[str]:
    """What in `folder` the device tool would not bring back: too many files, or too big ones."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    problems = [f"{p}: {p.stat().st_size:,} bytes, over {RETURN_FILE_LIMIT:,}" for p in files
                if p.stat().st_size > RETURN_FILE_LIMIT]
    if len(files) > RETURN_FILES:
        problems.append(f"{folder}: {len(files)} files, over {RETURN_FILES}")
    return problems


# -- back here ---------------------------------------------------------------------------------------
def rebuild_run(folder: str | Path, out: str | Path) -> Path:
    """Joins the parts in `folder` into the run folder `out` (run.json and one checkpoint); -> out."""
    folder, out = Path(folder), Path(out)
    parts = sorted(folder.glob(f"{PART_PREFIX}*"))
    if not parts:
        raise ValueError(f"{folder}: no {PART_PREFIX}NN files (what tools/gpu_window.sh left in $OUT)")
    numbers = [int(p.name[len(PART_PREFIX):]) for p in parts]
    if numbers != list(range(len(parts))):
        raise ValueError(f"{folder}: parts {numbers} are not 0..{len(parts) - 1}: one is missing")
    if (out / CHECKPOINTS_DIR).is_dir() and any((out / CHECKPOINTS_DIR).iterdir()):
        raise ValueError(f"{out} already holds a run: choose another --out")
    (out / CHECKPOINTS_DIR).mkdir(parents=True, exist_ok=True)
    joined = out / CHECKPOINTS_DIR / ".joined.tmp"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    try:
        payload = load_checkpoint(joined)   # a damaged or incomplete set fails here, naming the file
    except Exception:
        joined.unlink(missing_ok=True)
        raise
    os.replace(joined, checkpoint_path(out / CHECKPOINTS_DIR, int(payload["iteration"])))
    _write_atomic(out / RUN_FILE, payload["run"].encode())
    return out


def window_return(folder: str | Path, data: str | Path, out: str | Path | None = None, figure: str | Path | None = None,
                  log=print, **promote_options) -> dict:
    """rebuild_run, promote, and (when promoted and `figure` is given) the results figure."""
    from inpaint_studio.paths import runs_dir

    from .promote import promote

    out = Path(out) if out else runs_dir() / datetime.now().strftime("window-%Y%m%d-%H%M%S")
    rebuild_run(folder, out)
    log(f"rebuilt the run in {out}")
    result = promote(out, data, log=log, **promote_options)
    if result["promoted"] and figure:
        from inpaint_studio.engine.registry import ModelRegistry

        from .figure import results_figure

        models = promote_options.get("models")
        registry = ModelRegistry(bundled_dir=models) if models else ModelRegistry()
        info = registry.get(promote_options.get("model_id") or BUNDLED_ID)
        result["figure"] = str(results_figure(info, data, figure, size=info.architecture.input_size,
                                              device=promote_options.get("device", "auto")))
        log(f"figure: {result['figure']}")
    return result


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# -- command line ------------------------------------------------------------------------------------
def register(subparsers) -> None:
    from .promote import add_arguments

    carry = subparsers.add_parser("window-carry", help="the size of what a GPU window carries, checked against the limit")
    carry.add_argument("--root", default=str(Path(__file__).resolve().parents[2]), help="the checkout (default: this one)")
    carry.add_argument("--carry", nargs="*", default=list(CARRIED), metavar="PATH",
                       help=f"ignored paths carried too (default {' '.join(CARRIED)})")
    carry.set_defaults(func=_carry)

    pack = subparsers.add_parser("window-pack", help="on the GPU machine: a run's newest checkpoint in parts to bring back")
    pack.add_argument("run_dir", metavar="RUN")
    pack.add_argument("--out", required=True, help="the folder the device tool brings back ($OUT)")
    pack.set_defaults(func=_pack)

    back = subparsers.add_parser("window-return", help="back here: rebuild a window's run, promote it, draw the figure",
                                 description="Join the parts a GPU window brought back into a run folder, run "
                                             "`promote` on it and, if promoted, `figure`.")
    back.add_argument("folder", metavar="DIR", help="the files the device tool brought back")
    back.add_argument("--out", help="run folder to rebuild (default: a new one in the user's runs directory)")
    back.add_argument("--figure", default=str(Path(__file__).resolve().parents[2] / "docs" / "results.png"),
                      help="results figure to redraw when promoted (default docs/results.png)")
    add_arguments(back)
    back.set_defaults(func=_return)


def _carry(args) -> int:
    report = carry_report(args.root, tuple(args.carry))
    print(format_carry(report))
    if not report["fits"]:
        print(f"error: the carry is {report['total'] - report['limit']:,} bytes over the device call's limit",
              file=sys.stderr)
        return 1
    return 0


def _pack(args) -> int:
    parts = window_pack(args.run_dir, args.out)
    print(json.dumps({"parts": [str(p) for p in parts], "bytes": sum(p.stat().st_size for p in parts)}))
    return 0


def _return(args) -> int:
    window_return(args.folder, args.data, args.out, args.figure, models=args.models, model_id=args.id,
                  dry_run=args.dry_run, size=args.size, limit=args.limit, seed=args.seed, device=args.device)
    return 0
