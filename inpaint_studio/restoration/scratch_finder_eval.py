"""The scratch finder's evaluation: synthetic old-photo damage over real photos, and how much of
it the finder proposes (`python -m inpaint_studio scratch-finder-eval --photos DIR`).

`synthesize_defects` draws scratches (thin anti-aliased bright or dark curves, sometimes broken,
with intensity varying along their length) and dust (small irregular bright or dark blobs) over a
real photo and returns the damaged photo plus the truth mask. `evaluate` prints and returns the
pixel precision and recall of find_defects on such damage. No Qt, no torch.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..engine.base import InpaintError
from .scratch_finder import find_defects

SUPERSAMPLE = 4          # drawing resolution factor, for anti-aliased edges
TRUTH_COVERAGE = 0.5     # a pixel is a true defect pixel when the defect covers at least half of it
TRUTH_MIN_CHANGE = 10    # ... and changed it by at least this many grey levels (visible damage)
SCRATCH, DUST = 1, 2     # values of the optional kinds map


def synthesize_defects(image: np.ndarray, seed: int = 0, n_scratches: int = 6, n_dust: int = 30,
                       width: tuple[float, float] = (1.0, 3.0),
                       dust_size: tuple[float, float] = (2.0, 8.0), return_kinds: bool = False):
    """Damage `image` (uint8 HxWx3 RGB or HxW grey) -> (damaged copy, truth mask uint8 HxW, 255 =
    defect). A pixel is in the truth when a defect covers at least half of it and changed it by at
    least TRUTH_MIN_CHANGE grey levels (a white scratch over white sky is no damage to find).
    `width` is the scratch width range in px, `dust_size` the dust diameter range in px.
    With return_kinds, a third array says which kind each truth pixel is (SCRATCH or DUST)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"Expected a uint8 HxW or HxWx3 image, got {image.dtype} {image.shape}.")
    grey = image.ndim == 2
    out = (image[..., None] if grey else image).astype(np.float32)
    h, w = out.shape[:2]
    rng = np.random.default_rng(seed)
    coverage = np.zeros((h, w), np.float32)
    kinds = np.zeros((h, w), np.uint8)
    for _ in range(n_scratches):
        _paint(out, coverage, kinds, *_scratch(rng, h, w, width), rng)
    for _ in range(n_dust):
        _paint(out, coverage, kinds, *_dust(rng, h, w, dust_size), rng)
    damaged = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    src = image[..., None] if grey else image
    change = np.abs(damaged.astype(np.int16) - src.astype(np.int16)).max(axis=2)
    truth = (coverage >= TRUTH_COVERAGE) & (change >= TRUTH_MIN_CHANGE)
    result = (damaged[..., 0] if grey else damaged), truth.astype(np.uint8) * 255
    return (*result, np.where(truth, kinds, 0).astype(np.uint8)) if return_kinds else result


def _scratch(rng, h, w, width):
    """-> (x0, y0, coverage patch, kind) for one scratch: a gently curving path, maybe broken."""
    diag = math.hypot(h, w)
    length = diag * rng.uniform(0.06, 0.6)
    # Film scratches run mostly along the film; the rest go any way.
    theta = (math.pi / 2 + rng.normal(0, 0.08)) if rng.random() < 0.35 else rng.uniform(0, math.pi)
    turn = rng.uniform(-0.45, 0.45)                       # total change of direction, radians
    wobble, phase = rng.uniform(0, 0.08), rng.uniform(0, 2 * math.pi)
    n = max(int(length / 3), 2)
    t = np.linspace(0.0, 1.0, n)
    ang = theta + turn * t + wobble * np.sin(2 * math.pi * t * rng.uniform(1, 3) + phase)
    step = length / (n - 1)
    x = rng.uniform(0, w) + np.concatenate([[0], np.cumsum(np.cos(ang[:-1]) * step)])
    y = rng.uniform(0, h) + np.concatenate([[0], np.cumsum(np.sin(ang[:-1]) * step)])
    keep = np.ones(n, bool)
    if rng.random() < 0.35:                                # broken scratch: 1-3 gaps
        for _ in range(rng.integers(1, 4)):
            g0 = rng.integers(0, n)
            keep[g0:g0 + max(2, int(n * rng.uniform(0.03, 0.15)))] = False
    thick = rng.uniform(*width)
    pad = int(math.ceil(thick)) + 2
    x0, y0 = int(math.floor(x.min())) - pad, int(math.floor(y.min())) - pad
    pw, ph = int(math.ceil(x.max())) + pad - x0, int(math.ceil(y.max())) + pad - y0
    canvas = np.zeros((ph * SUPERSAMPLE, pw * SUPERSAMPLE), np.uint8)
    pts = np.stack([(x - x0) * SUPERSAMPLE, (y - y0) * SUPERSAMPLE], axis=1)
    runs, start = [], None
    for i in range(n + 1):                                 # consecutive kept points form one run
        if i < n and keep[i]:
            start = i if start is None else start
        elif start is not None:
            if i - start >= 2:
                runs.append(np.rint(pts[start:i] * 16).astype(np.int32))
            start = None
    if runs:
        cv2.polylines(canvas, runs, False, 255, max(1, round(thick * SUPERSAMPLE)), cv2.LINE_AA, shift=4)
    cov = cv2.resize(canvas, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return x0, y0, cov, "scratch"


def _dust(rng, h, w, dust_size):
    """-> (x0, y0, coverage patch, kind) for one irregular speck."""
    lo, hi = dust_size
    d = lo + (hi - lo) * rng.random() ** 1.5               # small specks are the most common
    k = int(rng.integers(5, 10))
    a = np.sort(rng.uniform(0, 2 * math.pi, k))
    r = d / 2 * rng.uniform(0.6, 1.25, k)
    pad = int(math.ceil(d)) + 2
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    x0, y0 = int(cx) - pad, int(cy) - pad
    size = 2 * pad + 1
    pts = np.stack([cx - x0 + r * np.cos(a), cy - y0 + r * np.sin(a)], axis=1) * SUPERSAMPLE
    canvas = np.zeros((size * SUPERSAMPLE, size * SUPERSAMPLE), np.uint8)
    cv2.fillPoly(canvas, [np.rint(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    cov = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    cov = cv2.GaussianBlur(cov, (3, 3), 0.4)               # soft edge
    return x0, y0, cov, "dust"


def _paint(out, coverage, kinds, x0, y0, cov, kind, rng):
    """Blend one defect into `out` (float HxWxC) toward a near-white or near-black tone, with a
    strength that varies smoothly across the defect; record its coverage."""
    h, w, c = out.shape
    ph, pw = cov.shape
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + pw, w), min(y0 + ph, h)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    cov = cov[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
    bright = rng.random() < (0.6 if kind == "scratch" else 0.5)
    if bright:
        tone = rng.uniform(215, 255) + rng.uniform(-8, 8, c)
    else:
        tone = rng.uniform(5, 60) + rng.uniform(-6, 6, c)
    lo = rng.uniform(0.35, 0.8) if kind == "scratch" else rng.uniform(0.5, 0.9)
    hi = min(lo + rng.uniform(0.1, 0.4), 1.0)
    grid = rng.uniform(lo, hi, (3, 3)).astype(np.float32)  # coarse field -> smooth strength
    strength = cv2.resize(grid, (ax1 - ax0, ay1 - ay0), interpolation=cv2.INTER_LINEAR)
    alpha = (cov * strength)[..., None]
    region = out[ay0:ay1, ax0:ax1]
    blended = region + alpha * (tone.astype(np.float32) - region)
    # Dust and scratches only brighten (bright kind) or only darken (dark kind).
    (np.maximum if bright else np.minimum)(region, blended, out=region)
    np.maximum(coverage[ay0:ay1, ax0:ax1], cov, out=coverage[ay0:ay1, ax0:ax1])
    kinds[ay0:ay1, ax0:ax1][cov >= TRUTH_COVERAGE] = SCRATCH if kind == "scratch" else DUST


# -- evaluation ---------------------------------------------------------------------------------

TOLERANCE = 2  # px


def match_counts(proposed: np.ndarray, truth: np.ndarray, tolerance: float = TOLERANCE):
    """-> (proposed pixels within `tolerance` of a true one, proposed pixels, true pixels within
    `tolerance` of a proposed one, true pixels)."""
    prop, true = np.asarray(proposed) != 0, np.asarray(truth) != 0

    def dist_to(m):
        if not m.any():
            return np.full(m.shape, np.inf, np.float32)
        return cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5)

    return (int((dist_to(true)[prop] <= tolerance).sum()), int(prop.sum()),
            int((dist_to(prop)[true] <= tolerance).sum()), int(true.sum()))


def load_photos(folder: str | Path) -> list[tuple[str, np.ndarray]]:
    """(name, RGB) of the *.jpg and *.png in `folder`."""
    folder = Path(folder)
    photos = []
    for path in sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png")):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is not None:
            photos.append((path.stem, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    return photos


def evaluate(folder: str | Path, sensitivities=(0.25, 0.5, 0.75), seeds=range(100, 120),
             n_scratches: int = 6, n_dust: int = 30, upscale: float = 1.0,
             out: Callable[[str], None] = print) -> dict:
    """Print and return pixel precision / recall / F1 per sensitivity over the photos x seeds.
    `upscale` enlarges the photos (bicubic) before the defects are drawn at their usual 1-3 px:
    image detail then is softer than the damage, as in a scan at a higher resolution."""
    photos = load_photos(folder)
    if not photos:
        raise InpaintError(f"No photos (*.jpg, *.png) in {folder}.")
    if upscale != 1.0:
        photos = [(n, cv2.resize(img, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC))
                  for n, img in photos]
    seeds = list(seeds)
    if not seeds:
        raise InpaintError("Give at least one seed.")
    cases = [(name, *synthesize_defects(img, seed, n_scratches, n_dust, return_kinds=True))
             for name, img in photos for seed in seeds]
    out(f"Synthetic defects ({n_scratches} scratches, {n_dust} dust specks per photo) over "
        f"{len(photos)} photos x {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}), "
        + ("at the photos' own size (long side <= 512 px)." if upscale == 1.0 else
           f"photos enlarged {upscale:g}x before the damage is drawn."))
    out(f"A proposed pixel counts as correct when within {TOLERANCE} px of a true defect pixel; a true "
        f"pixel counts as found when within {TOLERANCE} px of a proposed one. Pixel counts are pooled "
        "over all cases.")
    names = [n for n, _ in photos]
    out(f"{'sensitivity':>11} {'precision':>9} {'recall':>7} {'F1':>6} {'R scratch':>9} {'R dust':>7} "
        f"{'s/photo':>7}   " + "  ".join(f"{n[:9]:>9}" for n in names) + "   (per photo P/R)")
    results = {}
    for s in sensitivities:
        total, by_kind = np.zeros(4), {SCRATCH: np.zeros(4), DUST: np.zeros(4)}
        per = {n: np.zeros(4) for n in names}
        t0 = time.perf_counter()
        for name, damaged, truth, kinds in cases:
            proposed = find_defects(damaged, s)
            counts = np.array(match_counts(proposed, truth), float)
            total += counts
            per[name] += counts
            for k in by_kind:
                by_kind[k] += match_counts(proposed, kinds == k)
        secs = (time.perf_counter() - t0) / len(cases)
        p, r = _ratios(total)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        rs, rd = _ratios(by_kind[SCRATCH])[1], _ratios(by_kind[DUST])[1]
        cells = "  ".join(f"{_ratios(per[n])[0]:.2f}/{_ratios(per[n])[1]:.2f}" for n in names)
        out(f"{s:>11.2f} {p:>9.3f} {r:>7.3f} {f1:>6.3f} {rs:>9.3f} {rd:>7.3f} {secs:>7.2f}   {cells}")
        results[s] = {"precision": p, "recall": r, "f1": f1, "recall_scratches": rs, "recall_dust": rd}
    return results


def _ratios(c) -> tuple[float, float]:
    return (c[0] / c[1] if c[1] else 1.0), (c[2] / c[3] if c[3] else 1.0)


def register(subparsers) -> None:
    """`python -m inpaint_studio scratch-finder-eval --photos DIR`."""
    ap = subparsers.add_parser("scratch-finder-eval", help="the scratch finder's precision and recall on synthetic damage",
                               description="Draw synthetic scratches and dust over the photos of --photos and "
                                           "print how much of it the scratch finder proposes, per sensitivity.")
    ap.add_argument("--photos", type=Path, required=True, help="folder of photos (*.jpg, *.png)")
    ap.add_argument("--sensitivity", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    ap.add_argument("--seeds", type=int, default=20, help="synthetic damage patterns per photo")
    ap.add_argument("--first-seed", type=int, default=100,
                    help="first seed (the defaults, 100-119, were never used while tuning)")
    ap.add_argument("--upscale", type=float, default=1.0,
                    help="enlarge the photos before drawing the damage (softer detail, as in a scan)")
    ap.set_defaults(func=_run)


def _run(args) -> int:
    try:
        evaluate(args.photos, args.sensitivity, range(args.first_seed, args.first_seed + args.seeds),
                 upscale=args.upscale)
    except InpaintError as exc:   # no photos, no seeds: bad input
        raise ValueError(str(exc)) from None
    return 0
