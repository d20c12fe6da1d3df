"""Layer data (no Qt): the image layer, result layers and mask layers, and their compositing.

Conventions: RGB uint8 HxWx3, alpha uint8 HxW (None = opaque). A layer sits at (x, y) in image
coordinates and may be smaller than the image (result layers keep only their bounding box).
Layer pixel arrays are treated as immutable: an edit makes new arrays (so autosave and undo can
hold references). Mask arrays are image-sized and painted in place.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

_uids = itertools.count(1)

IMAGE = "image"      # the photo; always the bottom layer, full size
RESULT = "result"    # one per inpainting run
PAINT = "paint"      # any other raster layer (e.g. read from someone else's .ora)

HOLE = "hole"        # key of the mask the engine fills


def new_uid() -> int:
    return next(_uids)


@dataclass(eq=False)
class Layer:
    name: str
    rgb: np.ndarray
    alpha: np.ndarray | None = None
    x: int = 0
    y: int = 0
    visible: bool = True
    opacity: float = 1.0
    kind: str = RESULT
    uid: int = field(default_factory=new_uid)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height

    def with_pixels(self, rgb, alpha, x=None, y=None) -> "Layer":
        """Same layer (uid, name, flags), new pixels."""
        return replace(self, rgb=rgb, alpha=alpha, x=self.x if x is None else x,
                       y=self.y if y is None else y)


@dataclass(eq=False)
class MaskLayer:
    """An image-sized mask shown as a coloured overlay; 255 = selected (a hole for HOLE)."""
    key: str
    name: str
    data: np.ndarray
    color: tuple[int, int, int] = (255, 64, 96)
    opacity: float = 0.55
    visible: bool = True


# -- compositing ------------------------------------------------------------------------------
_FULL = 255 * 255


def _weights(layer: Layer, rows: slice, cols: slice) -> np.ndarray | None:
    """Per-pixel weight in 0..65025 (alpha * opacity) of the layer's part [rows, cols], or None
    when fully opaque. Only that part is converted: a large, mostly transparent layer costs
    what its overlap costs."""
    op = int(round(max(0.0, min(1.0, layer.opacity)) * 255))
    if layer.alpha is None and op == 255:
        return None
    if layer.alpha is None:
        return np.full(layer.rgb[rows, cols].shape[:2], 255 * op, np.uint32)
    return layer.alpha[rows, cols].astype(np.uint32) * op


def _overlap(layer: Layer, width: int, height: int):
    """Slices (canvas, layer) of the part of `layer` inside a width x height canvas, or None."""
    x0, y0 = max(layer.x, 0), max(layer.y, 0)
    x1, y1 = min(layer.x + layer.width, width), min(layer.y + layer.height, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return ((slice(y0, y1), slice(x0, x1)),
            (slice(y0 - layer.y, y1 - layer.y), slice(x0 - layer.x, x1 - layer.x)))


def composite_onto(base: np.ndarray, layer: Layer) -> None:
    """Blend `layer` over the writable RGB array `base` in place. Exact where the layer's weight
    is 0 (base kept) or full (layer copied)."""
    hit = _overlap(layer, base.shape[1], base.shape[0])
    if hit is None:
        return
    (cy, cx), (ly, lx) = hit
    src = layer.rgb[ly, lx]
    w = _weights(layer, ly, lx)
    if w is None:
        base[cy, cx] = src
        return
    w = w[..., None]
    dst = base[cy, cx].astype(np.uint32)
    base[cy, cx] = ((dst * (_FULL - w) + src.astype(np.uint32) * w + _FULL // 2) // _FULL).astype(np.uint8)


def flatten(layers: list[Layer], width: int, height: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Visible layers (bottom first) -> (RGB, alpha). The alpha is the image layer's, untouched."""
    out = np.zeros((height, width, 3), np.uint8)
    alpha = None
    for layer in layers:
        if layer.kind == IMAGE:
            alpha = layer.alpha
        if layer.visible:
            composite_onto(out, layer)
    return out, alpha


def flatten_region(layers: list[Layer], rect: tuple[int, int, int, int]) -> np.ndarray:
    """RGB of the visible layers (bottom first) inside rect (x, y, w, h): the part of `flatten`
    there, at the cost of the part."""
    x, y, w, h = rect
    out = np.zeros((h, w, 3), np.uint8)
    for layer in layers:
        if layer.visible:
            composite_onto(out, replace(layer, x=layer.x - x, y=layer.y - y))
    return out


def merge_down(upper: Layer, lower: Layer) -> Layer:
    """`upper` painted into `lower`; returns the new lower layer (same uid and name).
    The image layer keeps its size and alpha; other layers grow to hold both."""
    if lower.kind == IMAGE:
        rgb = lower.rgb.copy()
        composite_onto(rgb, upper)
        return lower.with_pixels(rgb, lower.alpha)
    x0, y0 = min(upper.x, lower.x), min(upper.y, lower.y)
    x1 = max(upper.x + upper.width, lower.x + lower.width)
    y1 = max(upper.y + upper.height, lower.y + lower.height)
    h, w = y1 - y0, x1 - x0
    # premultiplied "over" in float: exact enough for 8-bit and handles partial alphas
    acc = np.zeros((h, w, 3), np.float32)
    acc_a = np.zeros((h, w), np.float32)
    for layer, opacity in ((lower, lower.opacity), (upper, upper.opacity)):
        sy = slice(layer.y - y0, layer.y - y0 + layer.height)
        sx = slice(layer.x - x0, layer.x - x0 + layer.width)
        a = (np.ones(layer.rgb.shape[:2], np.float32) if layer.alpha is None
             else layer.alpha.astype(np.float32) / 255.0) * float(opacity)
        acc[sy, sx] = layer.rgb.astype(np.float32) * a[..., None] + acc[sy, sx] * (1.0 - a[..., None])
        acc_a[sy, sx] = a + acc_a[sy, sx] * (1.0 - a)
    safe = np.where(acc_a > 0, acc_a, 1.0)
    rgb = np.clip(acc / safe[..., None] + 0.5, 0, 255).astype(np.uint8)
    alpha = np.clip(acc_a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    merged = lower.with_pixels(rgb, alpha, x=x0, y=y0)
    merged.opacity = 1.0
    return merged


def result_layer(name: str, before: np.ndarray, after: np.ndarray, mask: np.ndarray,
                 margin: int = 0) -> Layer | None:
    """A result layer holding what the engine changed: alpha = the mask's value inside the hole
    (a soft brush edge blends), 255 where the engine changed pixels outside it (its feather band),
    0 elsewhere. Only the hole's bounding box grown by `margin` (the feather width) is examined,
    as the engine leaves everything else untouched. Cropped; None when nothing changed."""
    box = bounding_rect(mask)
    if box is None:
        return None
    h, w = mask.shape
    x, y, bw, bh = box
    x0, y0 = max(x - margin - 1, 0), max(y - margin - 1, 0)
    x1, y1 = min(x + bw + margin + 1, w), min(y + bh + margin + 1, h)
    region = (slice(y0, y1), slice(x0, x1))
    changed = np.any(before[region] != after[region], axis=2)
    hole = mask[region]
    alpha = np.where(hole > 0, hole, np.where(changed, 255, 0)).astype(np.uint8)
    inner = bounding_rect(alpha)
    if inner is None:
        return None
    ix, iy, iw, ih = inner
    return Layer(name=name, rgb=np.ascontiguousarray(after[region][iy:iy + ih, ix:ix + iw]),
                 alpha=np.ascontiguousarray(alpha[iy:iy + ih, ix:ix + iw]), x=x0 + ix, y=y0 + iy, kind=RESULT)


def bounding_rect(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the nonzero pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def thumbnail(rgb: np.ndarray, alpha: np.ndarray | None, size: int) -> np.ndarray:
    """Downscaled RGBA copy whose longer side is at most `size` (area averaging)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, size / max(h, w))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    # pre-shrink by striding (before stacking: a 24 MP layer costs its thumbnail, not a copy of
    # itself), then average
    step = max(1, int(1 / scale) // 2) if scale < 1.0 else 1
    small = rgb[::step, ::step]
    a = alpha[::step, ::step] if alpha is not None else np.full(small.shape[:2], 255, np.uint8)
    rgba = np.dstack([small, a])
    if scale < 1.0:
        rgba = cv2.resize(rgba, (tw, th), interpolation=cv2.INTER_AREA)
    return rgba
