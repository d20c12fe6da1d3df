"""Scratch and dust finder for old photos: proposes a mask of thin bright or dark defects.

No Qt, no torch: classical filtering on the luminance, in three steps.

1. Line contrast. For 12 orientations and half-widths of 2, 3, 4 and 6 px, a pixel's contrast is
   how much brighter (darker) it is than *both* sides, sampled across the line. It is penalised
   when the sides further out are darker still (a wide band, not a thin line) and divided by a
   local unit: a fixed floor, plus the local texture level (median line response over ~45 px),
   plus the clutter beside the line (gradient 2-4 px beyond each side). So texture, object edges
   and lines running beside edges score low; a thin line across smooth or mildly textured
   ground scores high. The result is z, "contrast in local units".
2. Scratches. z is averaged along each orientation over 32 px (line evidence). Pixels with both
   line evidence and contrast are grouped; a group is kept when it is long, nearly straight and
   has a high mean z. Picture structure is ranked low: a group with lines of its orientation
   beside it on both sides, 4-40 px away (planks, fences, blinds, window bars, text), or with
   unlike sides (4 px across, smoothed, 2.5 units apart, or beyond the border) along more than
   30 % of its length (an outline, a frame) needs a mean z up to 4x / 7x higher. Kept groups then
   grow along their own direction (up to 31 px ahead, 4 rounds) into weaker pixels of the same
   orientation, which bridges gaps and the parts where a scratch crosses busy image content.
3. Dust. Contrast against the brightest (darkest) pixel of a ring around the pixel (radius 3
   and 5 px) instead of two sides, in units that grow with the strongest gradient on a wider
   ring; small compact groups with a strong enough peak are dust.

4. Halos. A defect found grows into the pixels within 2 px of it that stand out the same way
   (top-hat or black-hat with a 13 px disc, 1.25 local units): the soft rim a speck or a scratch
   leaves on a scan, which a fill must not copy back in.

The union is dilated by one pixel so the proposal covers the defect's soft edge.

Sensitivity. `sensitivity` s in [0, 1] sets every acceptance threshold through one factor
F(s) = 1.6 ** (1 - 2 s) (F = 1.6 at s = 0, 1 at s = 0.5, 0.625 at s = 1), see `thresholds`:
scratch mean z = 1.5 F, minimum scratch length = 30 F px, growth z = 0.6 F, dust peak
z = 1.3 F. F is geometric, so equal slider steps change the thresholds by equal ratios. The
grouping itself does not depend on s, so a higher sensitivity never removes a pixel that a lower
one proposed (the mask grows monotonically with s).

Large images. The analysis runs on a working copy whose long side is at most `max_side`
(default 2048 px). When the photo is larger, the bright analysis sees a max-pooled copy and the
dark one a min-pooled copy, so one-pixel defects keep their full contrast; the proposal is then
mapped back and refined at full resolution with a small top-hat / black-hat.

A slider. `DefectAnalysis(image)` does the sensitivity-independent work once; its `mask(s)`
then costs little (re-thresholding, growth, refinement) and equals `find_defects(image, s)`.

Its precision and recall on synthetic damage over real photos, and the PSNR of the photos it
restores: restore_eval.py (`python -m inpaint_studio restore-eval --photos DIR`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from ..engine.base import CancelFn, InpaintError, ProgressFn, check_cancel, report

KINDS = ("scratches", "dust")
WORK_SIDE = 2048          # default long side of the working copy
MIN_SIDE = 16             # smaller images hold no line to find

# Line contrast (working pixels, grey levels)
N_ANGLES = 12
HALF_WIDTHS = (2, 3, 4, 6)   # side samples at +-d across the line: lines up to ~2d - 1 px wide
WIDE_STEP = 2             # "further out" samples at d + 2 ...
WIDE_PENALTY = 3.0        # ... and the penalty when those are beyond the near sides
CLUTTER_STEPS = (2, 4)    # gradient sampled at d + 2 and d + 4 on both sides
FLOOR = 8.0               # contrast unit = FLOOR + K_TEXTURE * texture + K_CLUTTER * clutter
K_TEXTURE = 0.75
K_CLUTTER = 1.5
Z_CAP = 2.0               # z is capped before averaging along a line
EVIDENCE_STEPS = 5        # line evidence averages 2 ** 5 = 32 px

# Scratch grouping (independent of sensitivity)
SEED_EVIDENCE = 0.4
SEED_Z = 0.8
GROW_EVIDENCE = 0.2
GROW_STEPS = 5            # growth corridor: 2 ** 5 - 1 = 31 px ahead of and behind a scratch
GROW_ROUNDS = 4
MAX_BEND = 0.12           # spread across / length along a scratch group (straight-ish)
PARALLEL_GAP = 4          # a parallel line beside a group: at least this far across it ...
PARALLEL_REACH = 40       # ... and at most this far, on both sides (regular structure)
PARALLEL_PENALTY = 3.0    # contrast needed: x (1 + PARALLEL_PENALTY x share with parallels)
SIDE_STEP = 4             # a line's sides, px across it ...
SIDES_Z = 2.5             # ... differ when this many local units apart (an outline, not a scratch)
SIDES_FREE = 0.3          # a group with unlike sides along more than this share of it ...
SIDES_PENALTY = 6.0       # ... needs x (1 + SIDES_PENALTY x the excess, scaled to 0..1) contrast

# Dust grouping
DUST_RADII = (3, 5)       # ring radii: specks up to ~9 px across
DUST_CLUTTER_GAP = 3      # clutter ring = speck ring + 3 px
DUST_K_CLUTTER = 1.1
DUST_SEED_Z = 1.0
DUST_MAX_AREA = 80
DUST_MAX_EXTENT = 12

# Acceptance at sensitivity 0.5; `thresholds` scales them by F(s)
SCRATCH_Z = 1.5           # mean z of a scratch group
MIN_LENGTH = 30.0         # scratch length, working px
GROW_Z = 0.6              # z of pixels a scratch may grow into
DUST_Z = 1.3              # peak z of a dust speck

# Halos: a found defect grows into the pixels around it that stand out the same way
HALO_SE = 6               # radius of the disc the halo's background is measured with, working px
HALO_Z = 1.25             # a halo pixel stands out by this many local units
HALO_REACH = 2            # and lies within this many working px of the defect

# Full-resolution refinement of large images
REFINE_FRACTION = 0.5     # keep full-res pixels with at least this many contrast units
REFINE_TILE = 128         # working px per refinement tile


@dataclass(frozen=True)
class Thresholds:
    scratch_z: float      # minimum mean z of a scratch group
    min_length: float     # minimum scratch length, working px
    max_bend: float       # maximum spread across / length along a group
    grow_z: float         # minimum z of pixels a scratch may grow into
    dust_z: float         # minimum peak z of a dust speck


def thresholds(sensitivity: float) -> Thresholds:
    """The acceptance thresholds for `sensitivity` in [0, 1] (see the module docstring)."""
    s = min(max(float(sensitivity), 0.0), 1.0)
    f = 1.6 ** (1.0 - 2.0 * s)
    return Thresholds(scratch_z=SCRATCH_Z * f, min_length=MIN_LENGTH * f, max_bend=MAX_BEND,
                      grow_z=GROW_Z * f, dust_z=DUST_Z * f)


def explain(sensitivity: float, shape: tuple[int, ...] | None = None) -> str:
    """What a sensitivity means, in words (the panel shows it under its slider). `shape`: the
    photo's, so that lengths are in its pixels."""
    th = thresholds(sensitivity)
    factor = max(max(shape[:2]) / WORK_SIDE, 1.0) if shape is not None else 1.0
    return (f"Finds scratches with at least {th.scratch_z:.1f}x the contrast of the texture around "
            f"them and {th.min_length * factor:.0f} px or longer, and specks with {th.dust_z:.1f}x. "
            f"Lines beside parallel lines (planks, fences, text) or along an outline need up to "
            f"{1 + max(PARALLEL_PENALTY, SIDES_PENALTY):.0f}x more. Higher finds fainter and shorter "
            "defects, and more false ones on busy detail; lower only the obvious ones.")


def find_defects(image: np.ndarray, sensitivity: float = 0.5, kinds: Iterable[str] = KINDS,
                 max_side: int | None = None, progress: ProgressFn | None = None,
                 cancel: CancelFn | None = None) -> np.ndarray:
    """Propose a mask of scratches and dust in an old photo.

    image: uint8 HxWx3 RGB (HxW grey and HxWx4 with alpha are accepted too).
    sensitivity: 0 = only obvious defects ... 1 = everything suspicious.
    kinds: any of "scratches", "dust".
    max_side: long side of the working copy (default 2048); smaller is faster and coarser.
    progress(fraction, message) is called along the way; cancel() returning True (or raising
    Cancelled) stops with Cancelled.
    Returns uint8 HxW, 255 = proposed defect.
    """
    _check_sensitivity(sensitivity)

    def part(lo: float, hi: float) -> ProgressFn:
        return lambda f, m: report(progress, lo + (hi - lo) * f, m)

    analysis = DefectAnalysis(image, kinds, max_side, part(0.0, 0.85), cancel)
    return analysis.mask(sensitivity, part(0.85, 1.0), cancel)


class DefectAnalysis:
    """The part of `find_defects` that does not depend on the sensitivity (the slow part: line
    and dust contrast, grouping). Keep one per image and call `mask(s)` as the slider moves:
    each call only re-thresholds, grows and (for large images) refines, and returns exactly
    what `find_defects(image, s, ...)` would."""

    def __init__(self, image: np.ndarray, kinds: Iterable[str] = KINDS, max_side: int | None = None,
                 progress: ProgressFn | None = None, cancel: CancelFn | None = None):
        self.grey = _luminance(image)
        self.kinds = _check_kinds(kinds)
        side = WORK_SIDE if max_side is None else int(max_side)
        if side < 64:
            raise InpaintError(f"The working size must be at least 64 px, not {max_side}.")
        tick = _ticker(progress, cancel)
        tick(0.0, "Preparing")
        h, w = self.grey.shape
        self.factor = max(h, w) / side
        size = (max(round(w / self.factor), 1), max(round(h / self.factor), 1)) if self.factor > 1 else (w, h)
        self.scratch_groups: dict[int, tuple] = {}
        self.dust_groups: dict[int, tuple] = {}
        self.units: dict[int, np.ndarray] = {}
        self.halo: dict[int, np.ndarray] = {}     # per polarity: pixels a defect's halo may take
        self.empty = min(size) < MIN_SIDE or not self.kinds
        if self.empty:
            tick(1.0, "Done")
            return
        if self.factor <= 1:
            passes = [((1, -1), self.grey)]
        else:
            # Bright defects are looked for in a max-pooled copy, dark ones in a min-pooled copy.
            k = np.ones((math.ceil(self.factor),) * 2, np.uint8)
            passes = [((1,), cv2.resize(cv2.dilate(self.grey, k), size, interpolation=cv2.INTER_AREA)),
                      ((-1,), cv2.resize(cv2.erode(self.grey, k), size, interpolation=cv2.INTER_AREA))]
        self.work_shape = size[::-1]
        counts: dict[int, np.ndarray] = {}
        for n, (pols, work) in enumerate(passes):
            def stage(a: float, message: str, n=n) -> None:
                tick(0.02 + 0.96 * (n + a) / len(passes), message)

            g = work.astype(np.float32)
            unit = FLOOR + K_TEXTURE * _texture_level(work)
            gm = _gradient(g)
            for p in pols:
                self.units[p] = unit
                self.halo[p] = _halo_pixels(work, unit, p)
            if "scratches" in self.kinds:
                maps = _line_maps(g, unit, gm, pols, lambda a: stage(0.85 * a, "Looking for scratches"), counts)
                stage(0.85, "Grouping scratches")
                for p in pols:
                    self.scratch_groups[p] = _scratch_groups(*maps[p], g, unit)
            if "dust" in self.kinds:
                stage(0.92, "Looking for dust")
                for p in pols:
                    self.dust_groups[p] = _dust_groups(g, unit, gm, p)
        tick(1.0, "Analysed")

    def mask(self, sensitivity: float = 0.5, progress: ProgressFn | None = None,
             cancel: CancelFn | None = None) -> np.ndarray:
        """The proposal at `sensitivity` (uint8 HxW, 255 = defect)."""
        _check_sensitivity(sensitivity)
        tick = _ticker(progress, cancel)
        tick(0.0, "Choosing defects")
        if self.empty:
            tick(1.0, "Done")
            return np.zeros(self.grey.shape, np.uint8)
        th = thresholds(sensitivity)
        found = {p: np.zeros(self.work_shape, bool) for p in (1, -1)}
        for p, groups in self.scratch_groups.items():
            found[p] |= _accept_scratches(groups, th)
        for p, groups in self.dust_groups.items():
            found[p] |= _accept_dust(groups, th)
        for p in found:
            if p in self.halo and found[p].any():
                found[p] = _grow_halo(found[p], self.halo[p])
        tick(0.5, "Refining at full size" if self.factor > 1 else "Finishing")
        if self.factor > 1:
            mask = _refine(self.grey, found, self.units, self.factor)
        else:
            mask = found[1] | found[-1]
        out = cv2.dilate(mask.astype(np.uint8) * 255, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
        tick(1.0, "Done")
        return out


def _ticker(progress: ProgressFn | None, cancel: CancelFn | None):
    def tick(fraction: float, message: str) -> None:
        check_cancel(cancel)
        report(progress, fraction, message)
    return tick


def _check_sensitivity(sensitivity) -> None:
    try:
        ok = math.isfinite(float(sensitivity))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InpaintError(f"The sensitivity must be a number from 0 to 1, not {sensitivity!r}.")


# -- input ----------------------------------------------------------------------------------------

def _luminance(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InpaintError(f"The image must be a numpy array, not {type(image).__name__}.")
    if image.dtype != np.uint8:
        raise InpaintError(f"The image must be 8-bit (uint8), got {image.dtype}.")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if image.shape[0] == 0 or image.shape[1] == 0:
            return np.zeros(image.shape[:2], np.uint8)
        return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    raise InpaintError(f"The image must be HxWx3 RGB or HxW grey, got shape {image.shape}.")


def _check_kinds(kinds) -> tuple[str, ...]:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise InpaintError(f"Unknown defect kind {unknown[0]!r}: use {', '.join(KINDS)}.")
    return kinds


# -- shared maps ----------------------------------------------------------------------------------

def _texture_level(grey: np.ndarray) -> np.ndarray:
    """Local texture level (float32 HxW): the median, over ~45 px, of the strongest two-sided
    line response at half-width 3 in 8 directions. Robust to the defects themselves."""
    h, w = grey.shape
    side = cv2.blur(grey, (3, 3))
    m = 4
    pad = cv2.copyMakeBorder(side, m, m, m, m, cv2.BORDER_REPLICATE)
    resp = np.zeros_like(grey)
    for ox, oy in ((3, 0), (3, 1), (2, 2), (1, 3), (0, 3), (-1, 3), (-2, 2), (-3, 1)):
        b1 = pad[m + oy:m + oy + h, m + ox:m + ox + w]
        b2 = pad[m - oy:m - oy + h, m - ox:m - ox + w]
        cv2.max(resp, cv2.subtract(grey, cv2.max(b1, b2)), dst=resp)
        cv2.max(resp, cv2.subtract(cv2.min(b1, b2), grey), dst=resp)
    sh, sw = max(h // 4, 1), max(w // 4, 1)
    small = cv2.resize(resp, (sw, sh), interpolation=cv2.INTER_AREA)
    k = min(11, (min(sh, sw) // 2) * 2 + 1)
    if k >= 3:
        small = cv2.medianBlur(small, k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def _gradient(g: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the lightly smoothed image, in grey levels per pixel."""
    sm = cv2.GaussianBlur(g, (3, 3), 0.8)
    gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3, scale=0.25)
    gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3, scale=0.25)
    return cv2.magnitude(gx, gy)


class _Shifter:
    """Views of an image shifted by whole pixels; outside the image reads `fill`."""

    def __init__(self, a: np.ndarray, margin: int, fill: float):
        self.h, self.w = a.shape
        self.m = margin
        self.p = cv2.copyMakeBorder(a, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=fill)

    def __call__(self, dx: int, dy: int) -> np.ndarray:
        m = self.m
        return self.p[m + dy:m + dy + self.h, m + dx:m + dx + self.w]


def _direction(i: int) -> tuple[float, float]:
    t = math.pi * i / N_ANGLES
    return math.cos(t), math.sin(t)


def _line_maps(g, unit, gm, pols, tick, counts: dict):
    """-> {pol: (evidence, z at the best orientation, best orientation index, max z)}.
    `counts` caches, per orientation, how many line samples fall inside the image."""
    h, w = g.shape
    sm = cv2.GaussianBlur(g, (3, 3), 0.8)
    reach = max(HALF_WIDTHS) + max(WIDE_STEP, max(CLUTTER_STEPS)) + 1
    # Samples outside the image never win a max (-inf) or a min (+inf): a line along the border
    # is judged against its one inner side.
    hi_s, lo_s = _Shifter(sm, reach, -np.inf), _Shifter(sm, reach, np.inf)
    gm_s = _Shifter(gm, reach, -np.inf)
    out = {p: (np.zeros((h, w), np.float32), np.zeros((h, w), np.float32), np.zeros((h, w), np.uint8),
               np.zeros((h, w), np.float32)) for p in pols}
    ones = np.ones((h, w), np.float32)
    k = max(HALF_WIDTHS) + WIDE_STEP + 1
    corners = [(ys, xs) for ys in (slice(0, k), slice(-k, None)) for xs in (slice(0, k), slice(-k, None))]
    for i in range(N_ANGLES):
        tick(i / N_ANGLES)
        cx, cy = _direction(i)
        z = _line_contrast(g, unit, -cy, cx, pols, hi_s, lo_s, gm_s)   # normal to the line
        if i not in counts:
            counts[i] = _line_sum(ones, i)
        count = counts[i]
        index = np.full((h, w), i, np.uint8)
        for p in pols:
            zp = z[p]
            cv2.patchNaNs(zp, 0)
            for ys, xs in corners:                          # pixels with no side at all
                zp[ys, xs] = np.clip(np.nan_to_num(zp[ys, xs], posinf=0.0, neginf=0.0), 0, None)
            ev = cv2.divide(_line_sum(cv2.min(cv2.max(zp, 0.0), Z_CAP), i), count)
            e_best, z_best, a_best, z_max = out[p]
            better = cv2.compare(ev, e_best, cv2.CMP_GT)
            cv2.copyTo(ev, better, dst=e_best)
            cv2.copyTo(zp, better, dst=z_best)
            cv2.copyTo(index, better, dst=a_best)
            cv2.max(z_max, zp, dst=z_max)
    return out


def _line_contrast(g, unit, nx, ny, pols, hi_s, lo_s, gm_s):
    """-> {pol: z} for lines across the normal (nx, ny), best over the half-widths."""
    z = {p: None for p in pols}
    for d in HALF_WIDTHS:
        off = lambda r: (round(nx * r), round(ny * r))  # noqa: E731
        (ax, ay), (bx, by) = off(d), off(d + WIDE_STEP)
        clutter = None
        for k in CLUTTER_STEPS:
            ox, oy = off(d + k)
            c = cv2.max(gm_s(ox, oy), gm_s(-ox, -oy))
            clutter = c if clutter is None else cv2.max(clutter, c, dst=clutter)
        den = cv2.scaleAdd(clutter, K_CLUTTER, unit)
        for p in pols:
            if p > 0:
                near = cv2.max(hi_s(ax, ay), hi_s(-ax, -ay))
                far = cv2.max(hi_s(bx, by), hi_s(-bx, -by))
                c, pen = cv2.subtract(g, near), cv2.subtract(near, far)
            else:
                near = cv2.min(lo_s(ax, ay), lo_s(-ax, -ay))
                far = cv2.min(lo_s(bx, by), lo_s(-bx, -by))
                c, pen = cv2.subtract(near, g), cv2.subtract(far, near)
            c = cv2.divide(cv2.scaleAdd(cv2.max(pen, 0.0), -WIDE_PENALTY, c), den)
            z[p] = c if z[p] is None else cv2.max(z[p], c, dst=z[p])
    return z


def _line_sum(a: np.ndarray, i: int) -> np.ndarray:
    """Sum of `a` over a 2 ** EVIDENCE_STEPS px segment centred on each pixel along orientation
    i (samples outside the image count as 0), by repeated doubling."""
    cx, cy = _direction(i)
    acc = a
    for k in range(EVIDENCE_STEPS):
        s = 2 ** k
        nxt = acc.copy()
        _add_shifted(nxt, acc, round(cx * s), round(cy * s))
        acc = nxt
    n = 2 ** EVIDENCE_STEPS - 1
    return _shifted(acc, -round(cx * n / 2), -round(cy * n / 2))     # centre the segment


def _add_shifted(dst: np.ndarray, src: np.ndarray, dx: int, dy: int) -> None:
    """dst[y, x] += src[y + dy, x + dx] where that exists."""
    h, w = src.shape
    if abs(dx) >= w or abs(dy) >= h:
        return
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    dst[yd, xd] += src[ys, xs]


def _shifted(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out[y, x] = a[y + dy, x + dx], zero outside."""
    h, w = a.shape
    out = np.zeros_like(a)
    if abs(dx) >= w or abs(dy) >= h:
        return out                                  # shifted wholly outside: nothing lands
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[yd, xd] = a[ys, xs]
    return out


# -- scratches ------------------------------------------------------------------------------------

def _scratch_groups(evidence, z_best, angle, z_max, g, unit):
    """Seeds (line evidence and contrast) grouped into 8-connected groups, with each group's
    mean z, length, spread, parallel share and one-sided share; plus what acceptance and growth
    need later."""
    seed = ((evidence >= SEED_EVIDENCE) & (z_best >= SEED_Z)).astype(np.uint8)
    n, labels = cv2.connectedComponents(seed, connectivity=8)
    ys, xs = np.nonzero(seed)
    lab = labels[ys, xs]
    area = np.maximum(np.bincount(lab, minlength=n), 1).astype(np.float64)
    mean_z = np.bincount(lab, np.minimum(z_best[ys, xs], 5.0), n) / area
    length, spread = _extent(xs, ys, lab, n, area)
    parallel = np.bincount(lab, _parallel(seed, angle)[ys, xs], n) / area
    one_sided = np.bincount(lab, _one_sided(g, unit, angle)[ys, xs], n) / area
    candidates = (evidence >= GROW_EVIDENCE) & (z_max > 0)
    grow_z = np.where(candidates, z_max, 0).astype(np.float32)   # 0 = never a growth target
    return labels, mean_z, length, spread, parallel, one_sided, angle, grow_z


def _parallel(seed: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """float32 HxW: 1 where a line pixel is a rung of a regular structure (planks, fences,
    blinds, window bars, lines of text): another line of its orientation (+-15 degrees) lies
    beside it PARALLEL_GAP to PARALLEL_REACH px away across it on both sides, or, at the edge of
    the structure, on one side and another one beyond that. A scratch crosses such structure or
    lies alone."""
    out = np.zeros(seed.shape, np.float32)
    span = PARALLEL_REACH - PARALLEL_GAP
    for i in range(N_ANGLES):
        own = seed & (angle == i).view(np.uint8)
        if not own.any():
            continue
        lines = seed & _near_angle(angle, i).view(np.uint8)
        nx, ny = _direction((i + N_ANGLES // 2) % N_ANGLES)          # across the line
        near, far = [], []
        for sign in (1, -1):
            reach = _line_reach(lines, nx * sign, ny * sign, span)
            for out_list, start in ((near, PARALLEL_GAP), (far, PARALLEL_REACH)):
                out_list.append(_shifted(reach, round(start * nx * sign), round(start * ny * sign)))
        rung = cv2.bitwise_or(cv2.bitwise_and(near[0], near[1]),
                              cv2.bitwise_or(cv2.bitwise_and(near[0], far[0]), cv2.bitwise_and(near[1], far[1])))
        out[own > 0] = rung[own > 0]
    return out


def _one_sided(g: np.ndarray, unit: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """float32 HxW: 1 where the photo on the two sides of a line pixel (SIDE_STEP px across it,
    smoothed) differs by SIDES_Z local units or more, or where one side is outside the photo.
    A line between two different regions (an outline, the rim of an object) or along the border
    (a frame) is part of the picture; a scratch lies over one region, or crosses regions, so
    most of its length has alike sides."""
    sm = cv2.GaussianBlur(g, (5, 5), 1.2)
    h, w = g.shape
    out = np.zeros(g.shape, np.float32)
    for i in range(N_ANGLES):
        sel = angle == i
        if not sel.any():
            continue
        nx, ny = _direction((i + N_ANGLES // 2) % N_ANGLES)
        ox, oy = round(nx * SIDE_STEP), round(ny * SIDE_STEP)
        differ = cv2.absdiff(_shifted(sm, ox, oy), _shifted(sm, -ox, -oy)) >= SIDES_Z * unit
        ax, ay = abs(ox), abs(oy)     # a side beyond the border: nothing to compare with
        if ax:
            differ[:, :ax] = True
            differ[:, w - ax:] = True
        if ay:
            differ[:ay] = True
            differ[h - ay:] = True
        out[sel & differ] = 1.0
    return out


def _line_reach(a: np.ndarray, dx: float, dy: float, length: int) -> np.ndarray:
    """uint8: 1 where `a` has a 1 within `length` px ahead in direction (dx, dy), by doubling."""
    acc = a.copy()
    step = 1
    while step <= length // 2 + 1:
        cv2.max(acc, _shifted(acc, round(dx * step), round(dy * step)), dst=acc)
        step *= 2
    return acc


def _accept_scratches(groups, th: Thresholds) -> np.ndarray:
    labels, mean_z, length, spread, parallel, one_sided, angle, grow_z = groups
    # Picture structure is ranked low: a group with parallel lines beside it (regular structure)
    # or with unlike sides along most of it (an outline, a frame) needs up to 1 + PENALTY times
    # a lone scratch's contrast. A scratch crossing busy content has unlike sides here and there.
    outline = np.clip((one_sided - SIDES_FREE) / (1.0 - SIDES_FREE), 0.0, 1.0)
    needed = th.scratch_z * (1.0 + PARALLEL_PENALTY * parallel) * (1.0 + SIDES_PENALTY * outline)
    keep = (mean_z >= needed) & (length >= th.min_length) & (spread <= th.max_bend * length)
    keep[0] = False
    if not keep.any():
        return np.zeros(labels.shape, bool)
    return _grow(keep[labels], angle, grow_z >= th.grow_z)


def _extent(xs, ys, lab, n, area):
    """Per group: length along and spread across its principal axis (px, uniform-bar model)."""
    fx, fy = xs.astype(np.float64), ys.astype(np.float64)
    mx, my = np.bincount(lab, fx, n) / area, np.bincount(lab, fy, n) / area
    cxx = np.bincount(lab, fx * fx, n) / area - mx * mx + 1 / 12
    cyy = np.bincount(lab, fy * fy, n) / area - my * my + 1 / 12
    cxy = np.bincount(lab, fx * fy, n) / area - mx * my
    half, det = (cxx + cyy) / 2, cxx * cyy - cxy * cxy
    root = np.sqrt(np.maximum(half * half - det, 0))
    return np.sqrt(12 * (half + root)), np.sqrt(12 * np.maximum(half - root, 0))


def _grow(found: np.ndarray, angle: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Let each scratch grow into candidate pixels that lie ahead of it or behind it (within
    31 px along its orientation, 1 px across) and share its orientation (+-15 degrees)."""
    found = found.astype(np.uint8)
    cand = cand.astype(np.uint8)
    targets: dict[int, np.ndarray] = {}
    square = np.ones((3, 3), np.uint8)
    for _ in range(GROW_ROUNDS):
        grown = found.copy()
        for i in range(N_ANGLES):
            sel = cv2.bitwise_and(found, (angle == i).view(np.uint8))
            if not sel.any():
                continue
            if i not in targets:
                targets[i] = cv2.bitwise_and(cand, _near_angle(angle, i).view(np.uint8))
            corridor = cv2.dilate(_line_dilate(sel, i, GROW_STEPS), square)
            cv2.bitwise_or(grown, cv2.bitwise_and(corridor, targets[i]), dst=grown)
        n, labels = cv2.connectedComponents(grown, connectivity=8)
        linked = np.zeros(n, np.uint8)
        linked[np.unique(labels[found > 0])] = 1
        linked[0] = 0
        new = linked[labels]
        if np.array_equal(new, found):
            break
        found = new
    return found > 0


def _near_angle(angle: np.ndarray, i: int) -> np.ndarray:
    """Orientation index within one step (15 degrees) of i."""
    return (angle == i) | (angle == (i + 1) % N_ANGLES) | (angle == (i - 1) % N_ANGLES)


def _line_dilate(a: np.ndarray, i: int, steps: int) -> np.ndarray:
    """Max of uint8 `a` over +-(2 ** steps - 1) px along orientation i, by doubling."""
    cx, cy = _direction(i)
    h, w = a.shape
    m = 2 ** steps
    for k in range(steps):
        s = 2 ** k
        dx, dy = round(cx * s), round(cy * s)
        p = cv2.copyMakeBorder(a, m, m, m, m, cv2.BORDER_CONSTANT, value=0)
        ahead, behind = p[m + dy:m + dy + h, m + dx:m + dx + w], p[m - dy:m - dy + h, m - dx:m - dx + w]
        a = cv2.max(cv2.max(a, ahead), behind)
    return a


# -- dust -----------------------------------------------------------------------------------------

def _ring(radius: float, width: float) -> np.ndarray:
    n = int(math.ceil(radius + width / 2))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1]
    d = np.hypot(xx, yy)
    return ((d >= radius - width / 2) & (d < radius + width / 2)).astype(np.uint8)


def _dust_groups(g, unit, gm, pol):
    """Dust seeds grouped, with each group's peak z and whether it is small and compact."""
    sm = cv2.GaussianBlur(g, (3, 3), 0.8)
    z = None
    for r in DUST_RADII:
        # Contrast against the brightest (darkest) pixel of a ring around the speck, in units
        # that grow with the strongest gradient on a wider ring: isolated specks only.
        ring = _ring(r, 1.0)
        around = cv2.dilate(sm, ring) if pol > 0 else cv2.erode(sm, ring)
        c = g - around if pol > 0 else around - g
        c /= unit + DUST_K_CLUTTER * cv2.dilate(gm, _ring(r + DUST_CLUTTER_GAP, 2.0))
        z = c if z is None else np.maximum(z, c, out=z)
    seed = (z >= DUST_SEED_Z).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(seed, connectivity=8)
    ys, xs = np.nonzero(seed)
    peak = np.zeros(n, np.float32)
    np.maximum.at(peak, labels[ys, xs], z[ys, xs])
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    small = (stats[:, cv2.CC_STAT_AREA] <= DUST_MAX_AREA) & (extent <= DUST_MAX_EXTENT)
    small[0] = False
    return labels, peak, small


def _accept_dust(groups, th: Thresholds) -> np.ndarray:
    labels, peak, small = groups
    return (small & (peak >= th.dust_z))[labels]


# -- halos ----------------------------------------------------------------------------------------

def _halo_pixels(work: np.ndarray, unit: np.ndarray, pol: int) -> np.ndarray:
    """bool HxW: pixels lighter (pol 1) or darker (-1) than their surroundings by HALO_Z local
    units: a top-hat (black-hat) with a disc wider than any line found, so a defect's soft rim
    stands out of the photo around it as much as its core does."""
    op = cv2.MORPH_TOPHAT if pol > 0 else cv2.MORPH_BLACKHAT
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HALO_SE + 1,) * 2)
    return cv2.morphologyEx(work, op, se).astype(np.float32) >= HALO_Z * unit


def _grow_halo(found: np.ndarray, halo: np.ndarray) -> np.ndarray:
    """`found` plus the halo pixels within HALO_REACH px of it that connect to it. The more is
    found, the more grows (a higher sensitivity still never loses a pixel)."""
    band = cv2.dilate(found.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HALO_REACH + 1,) * 2)) > 0
    n, labels = cv2.connectedComponents((found | (band & halo)).astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[found])] = True
    keep[0] = False
    return keep[labels]


# -- large images ---------------------------------------------------------------------------------

def _refine(grey: np.ndarray, found: dict, units: dict, factor: float) -> np.ndarray:
    """Map working-size proposals back to full size and keep, near them, the full-resolution
    pixels that stand out from their surroundings (top-hat / black-hat). Tile by tile, only
    where something was proposed."""
    h, w = grey.shape
    wh, ww = found[1].shape
    r = math.ceil(factor)
    near_k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
    hat_k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * r + 3,) * 2)
    pad = 4 * r + 3                                        # full-res context around a tile
    mask = np.zeros((h, w), bool)
    for p, op in ((1, cv2.MORPH_TOPHAT), (-1, cv2.MORPH_BLACKHAT)):
        work = found[p].astype(np.uint8)
        for ty in range(0, wh, REFINE_TILE):
            for tx in range(0, ww, REFINE_TILE):
                if not work[ty:ty + REFINE_TILE, tx:tx + REFINE_TILE].any():
                    continue
                # The tile's full-res box, that box plus context, and the working crop covering it.
                x0, x1 = round(tx * w / ww), min(round((tx + REFINE_TILE) * w / ww), w)
                y0, y1 = round(ty * h / wh), min(round((ty + REFINE_TILE) * h / wh), h)
                bx0, by0, bx1, by1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
                wx0, wy0 = int(bx0 * ww / w), int(by0 * wh / h)
                wx1, wy1 = min(math.ceil(bx1 * ww / w), ww), min(math.ceil(by1 * wh / h), wh)
                # Nearest-neighbour upsampling of the working crop, aligned to the full-res box.
                xs = np.clip(((np.arange(bx0, bx1) + 0.5) * ww / w).astype(int), wx0, wx1 - 1) - wx0
                ys = np.clip(((np.arange(by0, by1) + 0.5) * wh / h).astype(int), wy0, wy1 - 1) - wy0
                near = cv2.dilate(work[wy0:wy1, wx0:wx1][np.ix_(ys, xs)], near_k)
                hat = cv2.morphologyEx(grey[by0:by1, bx0:bx1], op, hat_k)
                unit = units[p][wy0:wy1, wx0:wx1][np.ix_(ys, xs)]
                keep = (near > 0) & (hat >= REFINE_FRACTION * unit)
                ix, iy = x0 - bx0, y0 - by0
                mask[y0:y1, x0:x1] |= keep[iy:iy + y1 - y0, ix:ix + x1 - x0]
    return mask
