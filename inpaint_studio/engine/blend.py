"""Pasting results back: only hole pixels change, plus an optional feather band; and colour
adaptation, which makes a fill meet its surroundings before it is pasted.

Feather band of N px: a pixel outside the hole at distance d (Euclidean, 1 for a direct
neighbour) with d <= N takes w * result + (1 - w) * input with w = 1 - d / (N + 1); every other
pixel outside the hole keeps the input, bit for bit.
"""
from __future__ import annotations

import cv2
import numpy as np


def to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def band_weights(hole: np.ndarray, feather: int) -> np.ndarray:
    """float32 HxW: 1 inside the hole, 1 - d / (feather + 1) in the band, 0 elsewhere."""
    hole = np.asarray(hole, dtype=bool)
    weights = hole.astype(np.float32)
    if feather <= 0 or not hole.any():
        return weights
    dist = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    band = (~hole) & (dist <= feather)
    weights[band] = 1.0 - dist[band] / (feather + 1.0)
    return weights


def paste_region(result: np.ndarray, filled: np.ndarray, box: tuple[int, int, int, int],
                 owned: np.ndarray, holes_in_box: np.ndarray, feather: int = 0,
                 blended: np.ndarray | None = None) -> None:
    """Write one region's result into `result` (uint8 HxWx3, changed in place).

    filled: the engine's output for `box` (HxWx3, float or uint8, box-sized); owned: bool, the
    hole pixels this region fills; holes_in_box: bool, every hole pixel inside the box (band
    pixels never land on a hole); blended: bool HxW over the whole image, band pixels already
    blended by an earlier region (updated), so that each is blended once.
    """
    x0, y0, x1, y1 = box
    view = result[y0:y1, x0:x1]
    view[owned] = to_uint8(filled[owned])
    if feather <= 0:
        return
    weights = band_weights(owned, feather)
    band = (weights > 0) & ~holes_in_box
    if blended is not None:
        done = blended[y0:y1, x0:x1]
        band &= ~done
        done |= band
    w = weights[band][:, None]
    view[band] = to_uint8(w * filled[band].astype(np.float32) + (1.0 - w) * view[band].astype(np.float32))


def adapt_colours(filled: np.ndarray, original: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Shift a model's output so that its colours meet the photo around the hole.

    A network redraws the whole crop, and where its reconstruction of the known pixels is off by
    a tint or a brightness step, the hole shows a visible edge once it is pasted. The residual
    original - filled on `known` pixels is spread into the rest by push-pull interpolation (a
    pyramid of weighted averages, filled coarse to fine), so each hole pixel moves by a smooth
    blend of the residuals nearest to it; detail drawn by the model is kept. Only a window around
    the hole, as wide again as the hole on each side (64 px at least), takes part, so a small hole
    in a large photo costs little. float32 HxWx3 out; unchanged when nothing is known.
    """
    filled = np.array(filled, dtype=np.float32)
    known = np.asarray(known, dtype=bool)
    if not known.any() or known.all():
        return filled
    ys, xs = np.nonzero(~known)
    margin = max(64, int(ys.max() - ys.min()), int(xs.max() - xs.min()))
    window = (slice(max(0, ys.min() - margin), ys.max() + 1 + margin),
              slice(max(0, xs.min() - margin), xs.max() + 1 + margin))
    filled[window] += _spread_residual(filled[window], np.asarray(original)[window], known[window])
    return filled


def _spread_residual(filled: np.ndarray, original: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Push-pull interpolation of original - filled from the known pixels over the whole window."""
    weight = known.astype(np.float32)
    values = (original.astype(np.float32) - filled) * weight[..., None]
    pyramid = [(values, weight)]
    while min(pyramid[-1][1].shape) > 2:
        values, weight = pyramid[-1]
        pyramid.append((cv2.pyrDown(values), cv2.pyrDown(weight)))
    values, weight = pyramid[-1]
    mean = pyramid[0][0].sum(axis=(0, 1)) / pyramid[0][1].sum()
    estimate = np.where(weight[..., None] > 1e-6, values / np.maximum(weight, 1e-6)[..., None], mean)
    for values, weight in reversed(pyramid[:-1]):
        own = values / np.maximum(weight, 1e-6)[..., None]
        coarse = cv2.resize(estimate, (weight.shape[1], weight.shape[0]), interpolation=cv2.INTER_LINEAR)
        trust = np.clip(4.0 * weight, 0.0, 1.0)[..., None]  # a quarter known counts as fully known
        estimate = trust * own + (1.0 - trust) * coarse
    return estimate


def paste(original: np.ndarray, filled: np.ndarray, hole: np.ndarray, feather: int = 0) -> np.ndarray:
    """Whole-image form of paste_region: a new image, `original` outside hole and band."""
    result = original.copy()
    hole = np.asarray(hole, dtype=bool)
    h, w = hole.shape
    paste_region(result, filled, (0, 0, w, h), hole, hole, feather)
    return result
