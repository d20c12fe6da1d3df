"""Mask painting and mask operations on uint8 HxW arrays (255 = selected), in place where they
paint. Every painting function returns the rectangle it may have changed, (x, y, w, h) or None,
and touches only that rectangle, so cost follows the brush, not the image."""
from __future__ import annotations

import cv2
import numpy as np

from .layers import bounding_rect

Rect = tuple[int, int, int, int]


def clip_rect(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> Rect | None:
    """Integer rectangle covering [x0, x1) x [y0, y1), clipped to the image."""
    ix0, iy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    ix1, iy1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    return ix0, iy0, ix1 - ix0, iy1 - iy0


def segment_rect(p0, p1, size: float, width: int, height: int) -> Rect | None:
    r = size / 2.0 + 1.0
    return clip_rect(min(p0[0], p1[0]) - r, min(p0[1], p1[1]) - r,
                     max(p0[0], p1[0]) + r, max(p0[1], p1[1]) + r, width, height)


def stroke_segment(mask: np.ndarray, p0, p1, size: float, hardness: float = 1.0,
                   erase: bool = False) -> Rect | None:
    """Paint a round brush of diameter `size` from p0 to p1 (image pixel coordinates, pixel
    centres at .5). Hardness 1 is a crisp disc; lower values fade the outer part of the radius."""
    rect = segment_rect(p0, p1, size, mask.shape[1], mask.shape[0])
    if rect is None:
        return None
    x, y, w, h = rect
    px = np.arange(x, x + w, dtype=np.float32) + 0.5
    py = np.arange(y, y + h, dtype=np.float32)[:, None] + 0.5
    (ax, ay), (bx, by) = p0, p1
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 > 1e-9:  # distance to the segment: project, clamp, measure
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
        dist = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
    else:
        dist = np.hypot(px - ax, py - ay)
    radius = max(size / 2.0, 0.5)
    hardness = float(np.clip(hardness, 0.0, 1.0))
    if hardness >= 0.999:
        value = np.where(dist <= radius, 255, 0).astype(np.uint8)
    else:
        inner = radius * hardness
        fall = np.clip((radius - dist) / max(radius - inner, 1e-3), 0.0, 1.0)
        value = (fall * fall * (3.0 - 2.0 * fall) * 255.0 + 0.5).astype(np.uint8)  # smoothstep
    roi = mask[y:y + h, x:x + w]
    if erase:
        np.minimum(roi, 255 - value, out=roi)
    else:
        np.maximum(roi, value, out=roi)
    return rect


def fill_rect(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float, value: int = 255) -> Rect | None:
    """Fill the pixels whose centres lie inside the rectangle spanned by two corners."""
    left, right = sorted((x0, x1))
    top, bottom = sorted((y0, y1))
    rect = clip_rect(np.floor(left + 0.5), np.floor(top + 0.5), np.floor(right + 0.5),
                     np.floor(bottom + 0.5), mask.shape[1], mask.shape[0])
    if rect is None:
        return None
    x, y, w, h = rect
    mask[y:y + h, x:x + w] = value
    return rect


def fill_polygon(mask: np.ndarray, points, value: int = 255) -> Rect | None:
    """Fill a closed polygon given in image coordinates (sub-pixel precise)."""
    if len(points) < 3:
        return None
    pts = np.asarray(points, np.float64)
    rect = clip_rect(pts[:, 0].min() - 1, pts[:, 1].min() - 1, pts[:, 0].max() + 1,
                     pts[:, 1].max() + 1, mask.shape[1], mask.shape[0])
    if rect is None:
        return None
    x, y, w, h = rect
    shift = 4  # 1/16 px precision; pixel centres are at .5
    fixed = np.round((pts - [x + 0.5, y + 0.5]) * (1 << shift)).astype(np.int32)
    roi = np.ascontiguousarray(mask[y:y + h, x:x + w])
    cv2.fillPoly(roi, [fixed], int(value), lineType=cv2.LINE_8, shift=shift)
    mask[y:y + h, x:x + w] = roi
    return rect


def invert(mask: np.ndarray) -> Rect:
    np.subtract(255, mask, out=mask)
    return 0, 0, mask.shape[1], mask.shape[0]


def clear(mask: np.ndarray) -> Rect | None:
    rect = bounding_rect(mask)
    if rect is not None:
        x, y, w, h = rect
        mask[y:y + h, x:x + w] = 0
    return rect


def grow(mask: np.ndarray, pixels: int) -> Rect | None:
    """Grow (pixels > 0) or shrink (pixels < 0) the selected area by a Euclidean distance."""
    rect = bounding_rect(mask)
    if rect is None or pixels == 0:
        return None
    n = abs(int(pixels))
    x, y, w, h = rect
    pad = n + 2 if pixels > 0 else 1
    roi_rect = clip_rect(x - pad, y - pad, x + w + pad, y + h + pad, mask.shape[1], mask.shape[0])
    rx, ry, rw, rh = roi_rect
    roi = mask[ry:ry + rh, rx:rx + rw]
    selected = (roi > 0).astype(np.uint8)
    if pixels > 0:
        # distance from each unselected pixel to the nearest selected one
        dist = cv2.distanceTransform(1 - selected, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        roi[dist <= n] = 255
    else:
        # distance from each selected pixel to the nearest unselected one; a hole touching the
        # image edge continues past it, so shrinking keeps it at the edge
        padded = cv2.copyMakeBorder(selected, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
        dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
        roi[dist <= n] = 0
    return roi_rect
