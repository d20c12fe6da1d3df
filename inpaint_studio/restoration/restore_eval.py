"""How well old-photo damage is found and restored: synthetic damage over real photos, the scratch
finder's precision and recall on it, and the PSNR of the restored photo against the clean one
(`python -m inpaint_studio restore-eval --photos DIR`).

`synthesize_defects` draws scratches (thin anti-aliased bright or dark curves, sometimes broken,
with intensity varying along their length), dust (small irregular bright or dark blobs) and fold
lines (long creases from border to border, wider and mostly bright), each with a halo (a soft,
weaker band around the core, as a speck or a scratch leaves on a scan), over a real photo and
returns the damaged photo plus the truth mask: every pixel the damage changed visibly.

`line_structure` measures how much straight-line structure a photo has (planks, fences, window
frames, columns, text: what a scratch finder mistakes for scratches), and `select_photos` keeps
the photos with at least MIN_LINES of it. `evaluate` prints and returns the table. No Qt, no torch.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..engine.base import InpaintError
from .restore import restore_image, small_hole_engine
from .scratch_finder import find_defects

SUPERSAMPLE = 4          # drawing resolution factor, for anti-aliased edges
TRUTH_MIN_CHANGE = 10    # a pixel is damaged when the damage changed it by this many grey levels
SCRATCH, DUST, FOLD = 1, 2, 3   # values of the optional kinds map
KIND_NAMES = {SCRATCH: "scratch", DUST: "dust", FOLD: "fold"}
HALO = (1.0, 3.0)        # halo reach range, px
EVAL_SIDE = 512          # photos are evaluated with their long side at most this
LINE_SIDE = 512          # line structure is measured with the long side at this
MIN_LINE_LENGTH = 24     # px at LINE_SIDE: shorter segments are texture, not structure
MIN_LINES = 200.0        # select_photos: px of straight lines per 100 x 100 px


# -- synthetic damage -----------------------------------------------------------------------------

def synthesize_defects(image: np.ndarray, seed: int = 0, n_scratches: int = 6, n_dust: int = 30,
                       n_folds: int = 0, width: tuple[float, float] = (1.0, 3.0),
                       dust_size: tuple[float, float] = (2.0, 8.0),
                       halo: tuple[float, float] | None = None, return_kinds: bool = False):
    """Damage `image` (uint8 HxWx3 RGB or HxW grey) -> (damaged copy, truth mask uint8 HxW, 255 =
    damaged). A pixel is in the truth when the damage changed it by at least TRUTH_MIN_CHANGE
    grey levels (a white scratch over white sky is no damage to find).
    `width` is the scratch width range in px, `dust_size` the dust diameter range in px, `halo`
    the range of how far a defect's halo reaches beyond its core in px (None: no halo).
    With return_kinds, a third array says which kind each truth pixel is (SCRATCH, DUST, FOLD)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"Expected a uint8 HxW or HxWx3 image, got {image.dtype} {image.shape}.")
    grey = image.ndim == 2
    out = (image[..., None] if grey else image).astype(np.float32)
    h, w = out.shape[:2]
    rng = np.random.default_rng(seed)
    kinds = np.zeros((h, w), np.uint8)
    for _ in range(n_folds):
        _paint(out, kinds, *_fold(rng, h, w), rng, halo)
    for _ in range(n_scratches):
        _paint(out, kinds, *_scratch(rng, h, w, width), rng, halo)
    for _ in range(n_dust):
        _paint(out, kinds, *_dust(rng, h, w, dust_size), rng, halo)
    damaged = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    src = image[..., None] if grey else image
    change = np.abs(damaged.astype(np.int16) - src.astype(np.int16)).max(axis=2)
    truth = change >= TRUTH_MIN_CHANGE
    result = (damaged[..., 0] if grey else damaged), truth.astype(np.uint8) * 255
    return (*result, np.where(truth, kinds, 0).astype(np.uint8)) if return_kinds else result


def _path(rng, x, y, theta, length, turn, wobble):
    """Points (x, y) of a gently curving path of `length` px from (x, y) heading `theta`."""
    n = max(int(length / 3), 2)
    t = np.linspace(0.0, 1.0, n)
    phase = rng.uniform(0, 2 * math.pi)
    ang = theta + turn * t + wobble * np.sin(2 * math.pi * t * rng.uniform(1, 3) + phase)
    step = length / (n - 1)
    xs = x + np.concatenate([[0], np.cumsum(np.cos(ang[:-1]) * step)])
    ys = y + np.concatenate([[0], np.cumsum(np.sin(ang[:-1]) * step)])
    return xs, ys


def _draw(x, y, keep, thick):
    """-> (x0, y0, coverage patch) of a polyline through the kept points, `thick` px wide."""
    n = len(x)
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
    return x0, y0, cov


def _scratch(rng, h, w, width):
    """-> (x0, y0, coverage patch, kind) for one scratch: a gently curving path, maybe broken."""
    diag = math.hypot(h, w)
    length = diag * rng.uniform(0.06, 0.6)
    # Film scratches run mostly along the film; the rest go any way.
    theta = (math.pi / 2 + rng.normal(0, 0.08)) if rng.random() < 0.35 else rng.uniform(0, math.pi)
    x, y = _path(rng, rng.uniform(0, w), rng.uniform(0, h), theta, length,
                 rng.uniform(-0.45, 0.45), rng.uniform(0, 0.08))
    keep = np.ones(len(x), bool)
    if rng.random() < 0.35:                                # broken scratch: 1-3 gaps
        for _ in range(rng.integers(1, 4)):
            g0 = rng.integers(0, len(x))
            keep[g0:g0 + max(2, int(len(x) * rng.uniform(0.03, 0.15)))] = False
    return (*_draw(x, y, keep, rng.uniform(*width)), SCRATCH)


def _fold(rng, h, w):
    """-> (x0, y0, coverage patch, kind) for a fold line: a crease from one border across the
    photo (it runs out of the far border), nearly straight, 2-4 px wide."""
    if rng.random() < 0.5:                                 # mostly across the short way
        x, y, theta = rng.uniform(0.15, 0.85) * w, -4.0, math.pi / 2 + rng.normal(0, 0.12)
    else:
        x, y, theta = -4.0, rng.uniform(0.15, 0.85) * h, rng.normal(0, 0.12)
    xs, ys = _path(rng, x, y, theta, math.hypot(h, w) + 8, rng.uniform(-0.1, 0.1), rng.uniform(0, 0.03))
    keep = np.ones(len(xs), bool)
    return (*_draw(xs, ys, keep, rng.uniform(2.0, 4.0)), FOLD)


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
    return x0, y0, cov, DUST


def _with_halo(cov: np.ndarray, reach: float, strength: float) -> tuple[np.ndarray, int]:
    """The core coverage plus a halo reaching `reach` px beyond it at `strength` (0..1) of the
    core's, fading out: -> (alpha patch grown by the returned margin on each side, margin)."""
    m = int(math.ceil(reach)) + 2
    big = cv2.copyMakeBorder(cov, m, m, m, m, cv2.BORDER_CONSTANT, value=0)
    r = max(int(round(reach)), 1)
    band = cv2.dilate(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    band = cv2.GaussianBlur(band, (0, 0), max(reach / 2, 0.5))
    return np.maximum(big, strength * band), m


def _paint(out, kinds, x0, y0, cov, kind, rng, halo):
    """Blend one defect into `out` (float HxWxC) toward a near-white or near-black tone, with a
    strength that varies smoothly across the defect, and its halo; record its kind."""
    if halo is not None:
        cov, m = _with_halo(cov, rng.uniform(*halo), rng.uniform(0.3, 0.6))
        x0, y0 = x0 - m, y0 - m
    h, w, c = out.shape
    ph, pw = cov.shape
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + pw, w), min(y0 + ph, h)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    cov = cov[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
    bright = rng.random() < {SCRATCH: 0.6, DUST: 0.5, FOLD: 0.85}[kind]
    if bright:
        tone = rng.uniform(215, 255) + rng.uniform(-8, 8, c)
    else:
        tone = rng.uniform(5, 60) + rng.uniform(-6, 6, c)
    lo = {SCRATCH: rng.uniform(0.35, 0.8), DUST: rng.uniform(0.5, 0.9), FOLD: rng.uniform(0.3, 0.7)}[kind]
    hi = min(lo + rng.uniform(0.1, 0.4), 1.0)
    cells = 9 if kind == FOLD else 3                       # a fold's strength varies along it
    grid = rng.uniform(lo, hi, (cells, cells)).astype(np.float32)
    strength = cv2.resize(grid, (ax1 - ax0, ay1 - ay0), interpolation=cv2.INTER_LINEAR)
    alpha = (cov * strength)[..., None]
    region = out[ay0:ay1, ax0:ax1]
    blended = region + alpha * (tone.astype(np.float32) - region)
    # Damage only brightens (bright kind) or only darkens (dark kind).
    (np.maximum if bright else np.minimum)(region, blended, out=region)
    kinds[ay0:ay1, ax0:ax1][cov > 0.05] = kind


# -- photos with line structure -------------------------------------------------------------------

def line_structure(image: np.ndarray) -> float:
    """Straight-line structure of a photo: the total length of the straight segments of at least
    MIN_LINE_LENGTH px that OpenCV's line segment detector finds with the photo's long side at
    LINE_SIDE px, in px per 100 x 100 px of photo. Planks, fences, window frames, columns, shelves
    and text score high (200-770 on the corpus' held-out photos), grass and animals low."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    f = LINE_SIDE / max(grey.shape)
    grey = cv2.resize(grey, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    lines = cv2.createLineSegmentDetector().detect(grey)[0]
    if lines is None:
        return 0.0
    seg = lines.reshape(-1, 4)
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    return float(length[length >= MIN_LINE_LENGTH].sum() / (grey.size / 1e4))


def load_photos(folder: str | Path, side: int = EVAL_SIDE) -> list[tuple[str, np.ndarray]]:
    """(name, RGB) of the *.jpg and *.png in `folder`, the long side brought down to `side`."""
    folder = Path(folder)
    photos = []
    for path in sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png")):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        f = side / max(bgr.shape[:2])
        if f < 1:
            bgr = cv2.resize(bgr, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        photos.append((path.stem, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    return photos


def select_photos(photos, min_lines: float = MIN_LINES) -> list[tuple[str, np.ndarray, float]]:
    """(name, RGB, line structure) of the photos with at least `min_lines`, most first."""
    scored = [(name, img, line_structure(img)) for name, img in photos]
    return sorted([p for p in scored if p[2] >= min_lines], key=lambda p: -p[2])


# -- measuring ------------------------------------------------------------------------------------

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


def squared_error(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> tuple[float, int]:
    """(sum of squared differences, number of values) over the pixels `where` (all when None)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    if where is not None:
        d = d[np.asarray(where) != 0]
    return float((d * d).sum()), int(d.size)


def psnr(sse: float, n: int) -> float:
    """PSNR in dB of 8-bit values from a sum of squared errors over n values."""
    if n == 0:
        return float("nan")
    mse = sse / n
    return float("inf") if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def evaluate(folder: str | Path, sensitivities=(0.25, 0.5, 0.75), seeds=range(100, 103),
             engines=None, min_lines: float = MIN_LINES, n_scratches: int = 6, n_dust: int = 30,
             n_folds: int = 1, halo: tuple[float, float] | None = HALO,
             out: Callable[[str], None] = print) -> dict:
    """Print and return, per sensitivity, the finder's pixel precision / recall / F1 and the PSNR
    of the restored photos against the clean ones, per fill engine, over the photos of `folder`
    with line structure >= `min_lines` x `seeds`. A last row fills the true damage (the best any
    finder could do with that engine)."""
    from ..engine import CLASSICAL, create_engine

    photos = load_photos(folder)
    if not photos:
        raise InpaintError(f"No photos (*.jpg, *.png) in {folder}.")
    chosen = select_photos(photos, min_lines)
    if not chosen:
        raise InpaintError(f"None of the {len(photos)} photos in {folder} has line structure "
                           f">= {min_lines:g} (the most: {max(line_structure(i) for _, i in photos):.0f}).")
    seeds = list(seeds)
    if not seeds:
        raise InpaintError("Give at least one seed.")
    engines = list(engines) if engines else [small_hole_engine(CLASSICAL)]
    fillers = {e: create_engine(e) for e in engines}
    out(f"{len(chosen)} of {len(photos)} photos in {folder} have line structure >= {min_lines:g} "
        f"(px of straight segments >= {MIN_LINE_LENGTH} px per 100x100 px, long side {LINE_SIDE}):")
    for name, img, score in chosen:
        out(f"  {score:6.0f}  {name}  ({img.shape[1]}x{img.shape[0]})")
    cases = [(name, *synthesize_defects(img, seed, n_scratches, n_dust, n_folds, halo=halo, return_kinds=True))
             for name, img, _ in chosen for seed in seeds]
    out(f"Synthetic damage per photo: {n_scratches} scratches, {n_dust} dust specks, {n_folds} fold "
        f"line{'s' * (n_folds != 1)}" + (f", halos reaching {halo[0]:g}-{halo[1]:g} px" if halo else ", no halos")
        + f"; seeds {seeds[0]}-{seeds[-1]}; long side <= {EVAL_SIDE} px.")
    out(f"Precision: proposed pixels within {TOLERANCE} px of damage; recall: damaged pixels within "
        f"{TOLERANCE} px of a proposed one (pooled). PSNR (dB): restored vs clean photo, mean over "
        "photos; 'dmg' pooled over the damaged pixels only.")
    clean = {name: img for name, img, _ in chosen}
    sse0 = [squared_error(clean[n], d) for n, d, _, _ in cases]
    sse0_dmg = np.sum([squared_error(clean[n], d, t) for n, d, t, _ in cases], axis=0)
    out(f"Damaged photos before restoring: PSNR {np.mean([psnr(*s) for s in sse0]):.2f}, "
        f"dmg {psnr(*sse0_dmg):.2f}.")
    head = (f"{'sensitivity':>11} {'precision':>9} {'recall':>6} {'F1':>5} "
            + " ".join(f"{'R ' + KIND_NAMES[k]:>7}" for k in KIND_NAMES) + f" {'area %':>6}"
            + "".join(f" {('PSNR ' + e)[:14]:>14} {'dmg':>5}" for e in engines) + f" {'s/photo':>7}")
    out(head)
    results = {}
    for s in list(sensitivities) + ["truth"]:
        total, by_kind = np.zeros(4), {k: np.zeros(4) for k in KIND_NAMES}
        area, scores = 0.0, {e: ([], np.zeros(2)) for e in engines}
        t0 = time.perf_counter()
        for name, damaged, truth, kinds in cases:
            mask = truth if s == "truth" else find_defects(damaged, s)
            total += match_counts(mask, truth)
            for k in by_kind:
                by_kind[k] += match_counts(mask, kinds == k)
            area += np.count_nonzero(mask) / mask.size
            for e, engine in fillers.items():
                restored = engine.inpaint(damaged, mask).image if mask.any() else damaged
                whole, dmg = scores[e]
                whole.append(psnr(*squared_error(clean[name], restored)))
                dmg += squared_error(clean[name], restored, truth)
        secs = (time.perf_counter() - t0) / len(cases)
        p, r = _ratios(total)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        kind_recall = {KIND_NAMES[k]: _ratios(c)[1] for k, c in by_kind.items()}
        row = {"precision": p, "recall": r, "f1": f1, "area": area / len(cases),
               **{f"recall_{k}": v for k, v in kind_recall.items()},
               **{f"psnr_{e}": float(np.mean(w)) for e, (w, _) in scores.items()},
               **{f"psnr_dmg_{e}": psnr(*d) for e, (_, d) in scores.items()}}
        label = f"{s:>11.2f}" if s != "truth" else f"{'true damage':>11}"
        out(f"{label} {p:>9.3f} {r:>6.3f} {f1:>5.3f} "
            + " ".join(f"{v:>7.3f}" for v in kind_recall.values()) + f" {100 * row['area']:>6.2f}"
            + "".join(f" {row['psnr_' + e]:>14.2f} {row['psnr_dmg_' + e]:>5.1f}" for e in engines)
            + f" {secs:>7.2f}")
        results[s] = row
    return results


def _ratios(c) -> tuple[float, float]:
    return (c[0] / c[1] if c[1] else 1.0), (c[2] / c[3] if c[3] else 1.0)


def register(subparsers) -> None:
    """`python -m inpaint_studio restore-eval --photos DIR`."""
    ap = subparsers.add_parser(
        "restore-eval", help="the scratch finder and the restore on synthetic damage: precision, recall, PSNR",
        description="Draw synthetic scratches, dust and fold lines (with halos) over the photos of --photos "
                    "that have straight-line structure, and print how much of it the scratch finder "
                    "proposes and how close the restored photos come to the clean ones, per sensitivity.")
    ap.add_argument("--photos", type=Path, required=True, help="folder of photos (*.jpg, *.png)")
    ap.add_argument("--sensitivity", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    ap.add_argument("--seeds", type=int, default=3, help="synthetic damage patterns per photo")
    ap.add_argument("--first-seed", type=int, default=100,
                    help="first seed (seeds from 100 were never used while tuning)")
    ap.add_argument("--engine", nargs="+", default=None,
                    help="fill engines to compare (default: the one `restore` uses without a model)")
    ap.add_argument("--min-lines", type=float, default=MIN_LINES,
                    help="keep photos with at least this much straight-line structure "
                         "(px of segments per 100x100 px; 0 keeps every photo)")
    ap.add_argument("--no-halo", action="store_true", help="draw the damage without halos")
    ap.set_defaults(func=_run)


def _run(args) -> int:
    try:
        evaluate(args.photos, args.sensitivity, range(args.first_seed, args.first_seed + args.seeds),
                 engines=args.engine, min_lines=args.min_lines, halo=None if args.no_halo else HALO)
    except InpaintError as exc:   # no photos, no seeds: bad input
        raise ValueError(str(exc)) from None
    return 0
