"""Synthetic old-photo damage for testing and benchmarking the scratch and dust finder.

`synthesize_defects` draws scratches (thin anti-aliased bright or dark curves, sometimes broken,
with intensity varying along their length) and dust (small irregular bright or dark blobs) over a
real photo and returns the damaged photo plus the truth mask. No Qt, no torch.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

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
