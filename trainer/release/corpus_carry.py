"""The corpus as it travels to a lent GPU machine: `corpus compress` and `corpus check-carry`.

One device call carries at most 64 MiB in all: the project's tracked files, the bundled model
(generator and discriminator in fp16), the wheels that machine lacks, and the carried corpus.
BUDGET_MIB is what the corpus may take (the arithmetic is in trainer/README.md). `compress`
re-encodes train/ and val/ (JPEG or WebP, a quality, optionally a cap on the short side) and,
when the train photos do not fit the budget beside val/, splits them into shards that each
do: `--window N` then carries shard N mod K, so that successive GPU windows see every photo.
Shards are filled greedily in the order of a hash of each name, so a given corpus and encoding
always gives the same shards.

`check-carry` measures what the carried form does to training: N loader samples (the trainer's
own TrainImages: a random crop between the crop size and the short side, resized, flipped,
jittered) with the same seeds from the original, from the original re-encoded as JPEG q85 (the
noise that plain re-encoding makes), from the original with other seeds (the sampling noise of
the figures themselves) and from the carried copy, and prints per-channel mean/std, the
gradient-magnitude histogram and the high-frequency energy side by side.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from . import corpus  # CorpusError looked up when raised: corpus may be reloaded

MIB = 1 << 20
CARRY_LIMIT_MIB = 64   # what one device call carries in all
BUDGET_MIB = 28        # of which the carried corpus may take this much (see trainer/README.md)
FORMATS = {"jpeg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}
# The carried form, chosen with check-carry on the 490-photo corpus (trainer/README.md): 25.5 MiB,
# and the loader statistics closest to the original's among the forms that fit in one piece.
CARRY_FORMAT, CARRY_QUALITY, CARRY_SHORT_SIDE = "webp", 85, 512
REFERENCE_QUALITY = 85  # check-carry's yardstick: plain JPEG re-encoding at this quality
SPLITS = ("train", "val")
GRADIENT_BINS = (0.0, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, math.inf)  # |grad Y| per pixel, Y in [0, 1]
HIGH_FREQUENCY = 0.25   # cycles per pixel: the upper half of the band


# -- compress -------------------------------------------------------------------------------------
def encode(path: Path, fmt: str, quality: int, short_side: int | None) -> bytes:
    """One photo re-encoded: RGB, the short side capped at `short_side` (never enlarged)."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if short_side and min(image.size) > short_side:
            scale = short_side / min(image.size)
            size = (max(short_side, round(image.width * scale)), max(short_side, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, FORMATS[fmt][0], quality=quality)
        return out.getvalue()


def shard_plan(sizes: dict[str, int], count: int) -> list[list[str]]:
    """Train photos (name -> bytes) into `count` shards: in the order of a hash of their name,
    each into the emptiest shard, so the shards differ by at most one photo's size."""
    shards: list[list[str]] = [[] for _ in range(count)]
    filled = [0] * count
    for name in sorted(sizes, key=lambda n: hashlib.sha1(n.encode()).hexdigest()):
        k = min(range(count), key=lambda i: (filled[i], i))
        shards[k].append(name)
        filled[k] += sizes[name]
    return [sorted(s) for s in shards]


def shards_needed(sizes: dict[str, int], capacity: int) -> int:
    """The fewest shards whose plan keeps each within `capacity` bytes."""
    if capacity <= 0:
        raise corpus.CorpusError("val/ alone fills the budget: nothing is left for train photos")
    largest = max(sizes, key=sizes.get, default=None)
    if largest is not None and sizes[largest] > capacity:
        raise corpus.CorpusError(f"{largest}: {sizes[largest] / MIB:.1f} MiB does not fit beside val/ in the budget "
                          "(lower --quality or --short-side)")
    count = max(1, math.ceil(sum(sizes.values()) / capacity))
    while max((sum(sizes[n] for n in s) for s in shard_plan(sizes, count)), default=0) > capacity:
        count += 1
    return count


def compress(root: str | Path, dest: str | Path, quality: int = CARRY_QUALITY,
             short_side: int | None = CARRY_SHORT_SIDE, fmt: str = CARRY_FORMAT, budget_mib: float = BUDGET_MIB,
             shards: int | None = None, window: int = 0, log=None) -> dict:
    """A carried copy of a built corpus's train/ and val/ in `dest` (made aside, then moved in
    place: an interrupted run leaves the previous copy or none). `short_side` None or 0: keep the
    size; `shards` None: as few as fit the budget. Returns the report written to dest/carry.json."""
    root, dest = Path(root), Path(dest)
    if fmt not in FORMATS:
        raise corpus.CorpusError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not (root / "train").is_dir():
        raise corpus.CorpusError(f"{root}: no train/ folder: build the corpus first (corpus build {root})")
    if dest.resolve() == root.resolve() or root.resolve() in dest.resolve().parents:
        raise corpus.CorpusError("the compressed copy needs a folder outside the corpus")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not (dest / "carry.json").is_file():
        raise corpus.CorpusError(f"{dest}: exists and is not a carried corpus (no carry.json): not replacing it")
    if shards is not None and shards < 1:
        raise corpus.CorpusError("--shards must be at least 1")
    budget = int(budget_mib * MIB)
    encoded: dict[str, dict[str, bytes]] = {}
    before = 0
    for split in SPLITS:
        photos = sorted(p for p in (root / split).glob("*") if p.is_file()) if (root / split).is_dir() else []
        encoded[split] = {}
        for i, path in enumerate(photos):
            encoded[split][path.stem + FORMATS[fmt][1]] = encode(path, fmt, quality, short_side)
            before += path.stat().st_size
            if log and (i + 1) % 100 == 0:
                log(f"{split}: {i + 1}/{len(photos)} encoded")
    sizes = {n: len(b) for n, b in encoded["train"].items()}
    val_bytes = sum(len(b) for b in encoded["val"].values())
    needed = shards_needed(sizes, budget - val_bytes)
    if shards is not None and shards < needed:
        raise corpus.CorpusError(f"{sum(sizes.values()) / MIB:.1f} MiB of train photos beside "
                                 f"{val_bytes / MIB:.1f} MiB of val photos need {needed} shards under the "
                                 f"{budget_mib:g} MiB budget, not {shards} (or lower --quality / --short-side)")
    plan = shard_plan(sizes, shards or needed)
    shard = window % len(plan)
    chosen = {"train": plan[shard], "val": sorted(encoded["val"])}
    report = {"format": fmt, "quality": quality, "short_side": short_side, "budget_bytes": budget,
              "shards": len(plan), "shard": shard, "window": window,
              "shard_bytes": [sum(sizes[n] for n in s) + val_bytes for s in plan],
              "images": {s: len(chosen[s]) for s in SPLITS}, "corpus_images": {s: len(encoded[s]) for s in SPLITS},
              "bytes_before": before,
              "bytes": {s: sum(len(encoded[s][n]) for n in chosen[s]) for s in SPLITS}}
    report["bytes"]["total"] = report["bytes"]["train"] + report["bytes"]["val"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for split in SPLITS:
            (staging / split).mkdir()
            for name in chosen[split]:
                (staging / split / name).write_bytes(encoded[split][name])
        (staging / "carry.json").write_text(json.dumps(report, indent=2) + "\n")
        old = None
        if dest.exists():
            old = dest.parent / f".{dest.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
        os.replace(staging, dest)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


# -- check-carry ----------------------------------------------------------------------------------
def _photos(folder: Path) -> dict[str, Path]:
    from inpaint_studio import imaging

    base = folder / "train" if (folder / "train").is_dir() else folder
    if not base.is_dir():
        raise corpus.CorpusError(f"{folder}: no such folder")
    return {p.stem: p for p in sorted(base.iterdir())
            if p.is_file() and p.suffix.lower() in imaging.SUPPORTED_SUFFIXES}


def loader_samples(paths: list[Path], size: int, count: int, seed: int) -> np.ndarray:
    """`count` training samples (count x size x size x 3, float in [0, 1]) as the trainer makes
    them: sample k is photo k mod len(paths) with the per-sample seed (seed, k)."""
    from inpaint_studio import imaging

    from ..fit.data import ImageEntry, TrainImages

    entries = [ImageEntry(str(p), *imaging.probe_image(p)) for p in paths]
    images = TrainImages(entries, size)
    out = np.empty((count, size, size, 3), np.float32)
    for k in range(count):
        item = images[(k % len(paths), seed, 0, 0, k)]
        out[k] = (item["image"].numpy().transpose(1, 2, 0) + 1) / 2
    return out


def statistics(samples: np.ndarray) -> dict:
    """Per-channel mean/std, the gradient-magnitude histogram (fractions of pixels per bin of
    GRADIENT_BINS) and the share of spectral energy above HIGH_FREQUENCY of the luminance."""
    luma = samples @ np.array([0.299, 0.587, 0.114], np.float32)
    gx, gy = np.diff(luma, axis=2)[:, :-1, :], np.diff(luma, axis=1)[:, :, :-1]
    magnitude = np.sqrt(gx ** 2 + gy ** 2)
    hist = np.histogram(magnitude, bins=np.array(GRADIENT_BINS))[0] / magnitude.size
    size = luma.shape[1]
    window = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    power = np.abs(np.fft.fft2((luma - luma.mean(axis=(1, 2), keepdims=True)) * window)) ** 2
    freq = np.fft.fftfreq(size)
    radius = np.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2)
    high = power[:, radius > HIGH_FREQUENCY].sum(1) / np.maximum(power.sum(axis=(1, 2)), 1e-12)
    return {"mean": samples.mean(axis=(0, 1, 2)), "std": samples.std(axis=(0, 1, 2)),
            "gradient_mean": float(magnitude.mean()), "gradient_hist": hist, "high_frequency": float(high.mean())}


def _rows(stats: dict) -> dict[str, float]:
    rows = {f"{k} {c}": float(stats[k][i]) for k in ("mean", "std") for i, c in enumerate("RGB")}
    rows["|grad| mean"] = stats["gradient_mean"]
    for i, share in enumerate(stats["gradient_hist"]):
        hi = GRADIENT_BINS[i + 1]
        name = f"|grad| {GRADIENT_BINS[i]:g}-{hi:g}" if hi != math.inf else f"|grad| >{GRADIENT_BINS[i]:g}"
        rows[name] = float(share)
    rows[f"HF energy >{HIGH_FREQUENCY:g}"] = stats["high_frequency"]
    return rows


def check_carry(original: str | Path, carried: str | Path, samples: int = 256, size: int = 256,
                seed: int = 0, log=None) -> dict:
    """The table of `corpus check-carry`: loader statistics of the original, the original with
    other seeds, the original re-encoded as JPEG q85 and the carried copy (same photos, same seeds)."""
    from inpaint_studio import imaging

    original, carried = Path(original), Path(carried)
    ours, theirs = _photos(original), _photos(carried)
    common = sorted(set(ours) & set(theirs))
    if not common:
        raise corpus.CorpusError(f"{carried}: none of its photos is in {original} (photos are matched by name)")
    columns: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="check-carry-") as tmp:
        reencoded = []
        for stem in common:
            target = Path(tmp) / f"{stem}.jpg"
            target.write_bytes(encode(ours[stem], "jpeg", REFERENCE_QUALITY, None))
            reencoded.append(target)
        sources = {"original": ([ours[s] for s in common], seed),
                   "other seeds": ([ours[s] for s in common], seed + 1),
                   f"jpeg q{REFERENCE_QUALITY}": (reencoded, seed),
                   "carried": ([theirs[s] for s in common], seed)}
        for name, (paths, s) in sources.items():
            if log:
                log(f"sampling {samples} crops from {name}")
            columns[name] = _rows(statistics(loader_samples(paths, size, samples, s)))
    short = {name: float(np.median([min(imaging.probe_image(p)) for p in paths]))
             for name, paths in (("original", [ours[s] for s in common]), ("carried", [theirs[s] for s in common]))}
    return {"photos": len(common), "samples": samples, "size": size, "columns": columns, "median_short_side": short}


def format_table(result: dict) -> str:
    cols = result["columns"]
    names = list(cols)
    base = cols["original"]
    deltas = [n for n in names if n != "original"]
    head = f"{'statistic':<18}" + "".join(f"{n:>13}" for n in names) + "".join(f"{'|d| ' + n:>18}" for n in deltas)
    lines = [f"loader statistics: {result['samples']} samples of {result['size']} px from {result['photos']} photos "
             "(same seeds; 'other seeds' shows the sampling noise of the figures)", head, "-" * len(head)]
    for row in base:
        lines.append(f"{row:<18}" + "".join(f"{cols[n][row]:>13.4f}" for n in names)
                     + "".join(f"{abs(cols[n][row] - base[row]):>18.4f}" for n in deltas))
    hist = [r for r in base if r.startswith("|grad| ") and r != "|grad| mean"]
    lines.append(f"{'|grad| hist TV':<18}" + " " * 13 * len(names)
                 + "".join(f"{0.5 * sum(abs(cols[n][r] - base[r]) for r in hist):>18.4f}" for n in deltas))
    worst = {n: max(abs(cols[n][r] - base[r]) / max(abs(cols[f"jpeg q{REFERENCE_QUALITY}"][r] - base[r]),
                                                    abs(cols["other seeds"][r] - base[r]), 1e-4)
                    for r in base) for n in ("carried",)}
    s = result["median_short_side"]
    lines.append(f"crop scale: median short side {s['original']:.0f} px original, {s['carried']:.0f} px carried: "
                 f"crops of {result['size']}-{s['carried']:.0f} px, i.e. 1x-{s['carried'] / result['size']:.1f}x "
                 "downscaling per sample")
    lines.append(f"carried vs original: largest difference {worst['carried']:.1f}x the larger of JPEG "
                 f"q{REFERENCE_QUALITY} re-encoding and sampling noise, per statistic")
    return "\n".join(lines)
