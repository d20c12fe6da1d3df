"""Spot healing: from a dab of the brush over a speck or a short scratch to a hole that covers the
whole defect, and its fill. No Qt.

A dab only says roughly where the defect is. `defect_mask` finds the defect itself:

1. The background under the dab is guessed from the photo around it (OpenCV's Telea fill of the
   dab), and a pixel stands out when it differs from that guess by K_NOISE x the noise of the
   surroundings (a robust deviation from a 5x5 median, on a ring around the dab) and at least
   FLOOR grey levels, in some channel.
2. The defect is what stands out and is connected to the inner half of the dab (the dab is
   centred on it): the speck with its halo, not the clean photo the brush also covered.
3. A dab smaller than the defect (half of its rim or more is defect, all lighter or all darker
   than the background, as a speck is and texture is not) follows it out: the region looked at
   grows by `reach_for(size)` there and the background is guessed again (GROW_ROUNDS times).
4. A dab over nothing that stands out heals the dab's footprint, as a plain brush would.

How this compares with filling the footprint, per engine and brush size: `python -m
inpaint_studio spot-heal-bench` (measured on held-out photos; the README has the table).
`heal` fills the mask with an engine (the editor passes the one for small holes, see
restore.small_hole_engine) on a crop around the dab: only mask pixels change.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..engine.base import Engine, InpaintOptions

K_NOISE, FLOOR = 2.0, 8.0         # a defect pixel differs from the background guessed around it by
                                  # K_NOISE x the noise of the surroundings, and FLOOR grey levels
GROW_ROUNDS = 1                   # times the region looked at grows to follow a defect out of the dab ...
GROW_SHARE = 0.5                  # ... when at least this share of its rim is defect (a dab smaller than it)
ONE_KIND = 0.9                    # ... and this share of it is lighter (or darker) than its background
CONTEXT = 48                      # px of photo around the defect given to the engine, at least


def reach_for(brush_size: float) -> int:
    """How far beyond the dab (px) a defect is followed in one round: half the brush radius, at
    least 3 px (a speck's halo)."""
    return max(3, int(round(brush_size / 4)))


def crop_box(rect: tuple[int, int, int, int], brush_size: float, shape) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) of the photo a dab over rect (x, y, w, h) needs: room for the
    defect to grow and context for the fill."""
    x, y, w, h = rect
    margin = max(CONTEXT, (GROW_ROUNDS + 1) * reach_for(brush_size) + CONTEXT // 2, int(brush_size))
    return max(x - margin, 0), max(y - margin, 0), min(x + w + margin, shape[1]), min(y + h + margin, shape[0])


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def defect_mask(image: np.ndarray, footprint: np.ndarray, size: float | None = None) -> np.ndarray:
    """The hole that covers the defect under `footprint` (bool or uint8 HxW, nonzero = under the
    dab) in `image` (uint8 HxWx3 RGB, a crop around the dab with room to grow, see crop_box):
    bool HxW. `size`: the brush diameter (default: the footprint's width)."""
    dab = np.asarray(footprint) != 0
    if not dab.any():
        return dab.copy()
    dab8 = dab.astype(np.uint8)
    if size is None:
        ys, xs = np.nonzero(dab)
        size = min(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    reach = reach_for(size)
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    pixels = image.astype(np.float32)
    # Noise of the surroundings: robust deviation from a 5x5 median on a ring around the dab.
    ring = (cv2.dilate(dab8, _disk(reach + 4)) > 0) & ~(cv2.dilate(dab8, _disk(reach)) > 0)
    residual = np.abs(grey.astype(np.int16) - cv2.medianBlur(grey, 5).astype(np.int16))
    noise = 1.4826 * float(np.median(residual[ring])) if ring.any() else 0.0
    threshold = max(FLOOR, K_NOISE * noise)
    # The dab is centred on the defect: its inner half must hold part of it.
    inner = cv2.erode(dab8, _disk(max(1, int(size / 4)))) > 0
    inner = inner if inner.any() else dab
    region = cv2.dilate(dab8, _disk(1)) > 0
    found, lighter = _stands_out(image, pixels, region, threshold)
    found = _connected_to(found, found & inner)
    if not found.any():
        return region                         # nothing stands out: heal the dab itself
    for _ in range(GROW_ROUNDS):
        # A dab inside a larger defect: most of its rim is defect, all of one kind (a speck is
        # lighter or darker than what surrounds it, texture is both). Look further out there.
        rim = region & ~(cv2.erode(region.astype(np.uint8), _disk(1)) > 0)
        edge = found & rim
        one_kind = max(lighter[found].mean(), 1 - lighter[found].mean()) >= ONE_KIND
        if edge.sum() < GROW_SHARE * rim.sum() or not one_kind:
            break
        larger = region | (cv2.dilate(edge.astype(np.uint8), _disk(reach)) > 0)
        outside = _stands_out(image, pixels, larger, threshold)[0] & ~region
        grown = _connected_to(found | outside, found) | region   # the dab lies inside the defect
        region = larger
        if np.array_equal(grown, found):
            break
        found = grown
    return found


def _stands_out(image, pixels, region, threshold) -> tuple[np.ndarray, np.ndarray]:
    """(pixels of `region` that differ from the background guessed from around it, OpenCV's
    Telea fill of the region, by at least `threshold` in some channel; pixels lighter than it)."""
    background = cv2.inpaint(np.ascontiguousarray(image), region.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    diff = pixels - background
    return region & (np.abs(diff).max(axis=2) >= threshold), diff.sum(axis=2) > 0


def _connected_to(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 8-connected parts of `candidates` that hold a seed."""
    n, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[seeds])] = True
    keep[0] = False
    return keep[labels]


def heal(image: np.ndarray, footprint: np.ndarray, engine: Engine, brush_size: float,
         cancel=None) -> tuple[np.ndarray, np.ndarray]:
    """Heal the defect under `footprint` in `image` (a crop from crop_box): -> (the crop with the
    defect filled, the hole bool HxW). Only hole pixels change."""
    hole = defect_mask(image, footprint, brush_size)
    if not hole.any():
        return image.copy(), hole
    result = engine.inpaint(image, hole.astype(np.uint8) * 255, InpaintOptions(), cancel=cancel)
    return result.image, hole


def footprint_disk(shape, centre: tuple[float, float], size: float) -> np.ndarray:
    """bool HxW: a round dab of diameter `size` at centre (x, y) (pixel centres at .5)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return np.hypot(xx + 0.5 - centre[0], yy + 0.5 - centre[1]) <= max(size / 2, 0.5)


def equivalent_size(area: float) -> float:
    """Diameter of a disc of `area` px."""
    return 2 * math.sqrt(area / math.pi)
