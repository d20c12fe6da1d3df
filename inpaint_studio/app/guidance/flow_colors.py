"""Colour coding of an attention flow for display (numpy; no Qt, no model math).

A flow is HxWx2 float32 (dx, dy): from each hole pixel to where its content was copied from, in
image pixels, NaN where there is none (the engine's InpaintResult.flow). As in the flow images of
the contextual attention paper (the Middlebury colour wheel): the hue gives the direction, the
saturation the distance (white = copied from right here, full colour = from the farthest
source); the alpha is 0 where there is no flow.
"""
from __future__ import annotations

import cv2
import numpy as np


def flow_to_rgba(flow: np.ndarray, max_distance: float | None = None, alpha: int = 255) -> np.ndarray:
    """HxWx2 flow -> HxWx4 uint8. Hue: the direction's angle in image axes (0 deg = to the right,
    90 = down); saturation: distance / max_distance (default: the largest distance), clipped."""
    dx, dy = flow[..., 0], flow[..., 1]
    valid = np.isfinite(dx) & np.isfinite(dy)
    dx, dy = np.where(valid, dx, 0.0), np.where(valid, dy, 0.0)
    distance = np.hypot(dx, dy)
    if max_distance is None:
        max_distance = float(distance.max()) if valid.any() else 0.0
    hsv = np.empty(flow.shape[:2] + (3,), np.float32)
    hsv[..., 0] = np.degrees(np.arctan2(dy, dx)) % 360.0
    hsv[..., 1] = np.clip(distance / max_distance, 0.0, 1.0) if max_distance > 0 else 0.0
    hsv[..., 2] = 1.0
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    out = np.zeros(flow.shape[:2] + (4,), np.uint8)
    out[..., :3] = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.where(valid, alpha, 0).astype(np.uint8)
    return out


def colour_wheel(size: int = 64) -> np.ndarray:
    """A size x size RGBA legend: the colour of every offset within the circle (centre = zero)."""
    r = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    flow = np.stack([xx - r, yy - r], -1)
    flow[np.hypot(flow[..., 0], flow[..., 1]) > r] = np.nan
    return flow_to_rgba(flow, max_distance=r)


def source_box(flow: np.ndarray, patch: np.ndarray | None, x: int, y: int) -> tuple[float, float, float] | None:
    """Where hole pixel (x, y) copied from: (left, top, side) of its source patch in image pixels,
    centred on the pixel's counterpart (x + 0.5 + dx, y + 0.5 + dy), or None outside the flow.
    `patch` is the per-pixel patch side (InpaintResult.flow_patch); 8 px when not given."""
    h, w = flow.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        return None
    dx, dy = flow[y, x]
    if not (np.isfinite(dx) and np.isfinite(dy)):
        return None
    side = float(patch[y, x]) if patch is not None and np.isfinite(patch[y, x]) else 8.0
    cx, cy = x + 0.5 + float(dx), y + 0.5 + float(dy)
    return cx - side / 2, cy - side / 2, side
