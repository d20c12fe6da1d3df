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


# The correction is smooth, so over a window longer than this it is computed on a grid of
# blocks (f x f pixels, f the smallest integer that brings the window under it) and added back
# strip by strip: memory stays near one float copy of a strip, whatever the photo's size.
ADAPT_MAX_SIDE = 2048
_STRIP_ROWS = 256


def adapt_colours(filled: np.ndarray, original: np.ndarray, known: np.ndarray,
                  in_place: bool = False) -> np.ndarray:
    """Shift a model's output so that its colours meet the photo around the hole.

    A network redraws the whole crop, and where its reconstruction of the known pixels is off by
    a tint or a brightness step, the hole shows a visible edge once it is pasted. The residual
    original - filled on `known` pixels is spread into the rest by push-pull interpolation (a
    pyramid of weighted averages, filled coarse to fine), so each hole pixel moves by a smooth
    blend of the residuals nearest to it; detail drawn by the model is kept. Only a window around
    the hole, as wide again as the hole on each side (64 px at least), takes part, so a small hole
    in a large photo costs little. float32 HxWx3 out; unchanged when nothing is known.
    `in_place`: a float32 `filled` is corrected in place (no copy of a large fill).
    """
    if in_place and isinstance(filled, np.ndarray) and filled.dtype == np.float32:
        out = filled
    else:
        out = np.array(filled, dtype=np.float32)
    known = np.asarray(known, dtype=bool)
    rows_known, cols_known = known.all(axis=1), known.all(axis=0)
    if rows_known.all() or not known.any():
        return out
    rows, cols = np.flatnonzero(~rows_known), np.flatnonzero(~cols_known)
    margin = max(64, int(rows[-1] - rows[0]), int(cols[-1] - cols[0]))
    window = (slice(max(0, rows[0] - margin), rows[-1] + 1 + margin),
              slice(max(0, cols[0] - margin), cols[-1] + 1 + margin))
    fill, orig, seen = out[window], np.asarray(original)[window], known[window]
    factor = -(-max(seen.shape) // ADAPT_MAX_SIDE)
    if factor == 1:
        weight = seen.astype(np.float32)
        fill += _push_pull((orig.astype(np.float32) - fill) * weight[..., None], weight)
    else:
        _adapt_on_blocks(fill, orig, seen, factor)
    return out


def _push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Spread `values` (already multiplied by `weight`) from where weight > 0 over the whole
    array: a pyramid of weighted averages, filled coarse to fine."""
    pyramid = [(values, weight)]
    while min(pyramid[-1][1].shape) > 2:
        values, weight = pyramid[-1]
        pyramid.append((cv2.pyrDown(values), cv2.pyrDown(weight)))
    values, weight = pyramid[-1]
    mean = (pyramid[0][0].sum(axis=(0, 1)) / pyramid[0][1].sum()).astype(np.float32)
    estimate = np.where(weight[..., None] > 1e-6, values / np.maximum(weight, 1e-6)[..., None], mean)
    for values, weight in reversed(pyramid[:-1]):
        own = values / np.maximum(weight, 1e-6)[..., None]
        coarse = cv2.resize(estimate, (weight.shape[1], weight.shape[0]), interpolation=cv2.INTER_LINEAR)
        trust = np.clip(4.0 * weight, 0.0, 1.0)[..., None]  # a quarter known counts as fully known
        estimate = trust * own + (1.0 - trust) * coarse
    return estimate


def _adapt_on_blocks(fill: np.ndarray, orig: np.ndarray, seen: np.ndarray, factor: int) -> None:
    """adapt_colours on factor x factor blocks: block means of the residual and of `seen` in,
    the spread correction bilinearly upsampled and added to `fill` (in place), strip by strip."""
    h, w = seen.shape
    hb, wb = -(-h // factor), -(-w // factor)
    values = np.zeros((hb, wb, 3), np.float32)
    weight = np.zeros((hb, wb), np.float32)
    step = factor * max(1, _STRIP_ROWS // factor)     # whole blocks in each strip
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        k = seen[r0:r1].astype(np.float32)
        residual = (orig[r0:r1].astype(np.float32) - fill[r0:r1]) * k[..., None]
        b0, b1 = r0 // factor, -(-r1 // factor)
        values[b0:b1] = _block_mean(residual, factor)
        weight[b0:b1] = _block_mean(k, factor)
    estimate = _push_pull(values, weight)             # block means of residual * known: premultiplied
    # bilinear weights from pixel centres to block centres, clamped at the edges
    x = (np.arange(w, dtype=np.float32) + 0.5) / factor - 0.5
    x0 = np.clip(np.floor(x).astype(np.int64), 0, wb - 1)
    x1, wx = np.minimum(x0 + 1, wb - 1), np.clip(x - x0, 0.0, 1.0).astype(np.float32)[None, :, None]
    for r0 in range(0, h, _STRIP_ROWS):
        y = (np.arange(r0, min(h, r0 + _STRIP_ROWS), dtype=np.float32) + 0.5) / factor - 0.5
        y0 = np.clip(np.floor(y).astype(np.int64), 0, hb - 1)
        y1, wy = np.minimum(y0 + 1, hb - 1), np.clip(y - y0, 0.0, 1.0).astype(np.float32)[:, None, None]
        across = estimate[y0] * (1.0 - wy) + estimate[y1] * wy             # strip x wb x 3
        left, right = across[:, x0], across[:, x1]                         # strip x w x 3 each
        left *= 1.0 - wx
        right *= wx
        left += right
        fill[r0:r0 + len(y)] += left


def _block_mean(arr: np.ndarray, factor: int) -> np.ndarray:
    """Means over factor x factor blocks (the last ones padded with zeros)."""
    h, w = arr.shape[:2]
    ph, pw = -h % factor, -w % factor
    if ph or pw:
        arr = np.pad(arr, ((0, ph), (0, pw)) + ((0, 0),) * (arr.ndim - 2))
    hb, wb = arr.shape[0] // factor, arr.shape[1] // factor
    return arr.reshape(hb, factor, wb, factor, *arr.shape[2:]).mean(axis=(1, 3), dtype=np.float32)


def paste(original: np.ndarray, filled: np.ndarray, hole: np.ndarray, feather: int = 0) -> np.ndarray:
    """Whole-image form of paste_region: a new image, `original` outside hole and band."""
    result = original.copy()
    hole = np.asarray(hole, dtype=bool)
    h, w = hole.shape
    paste_region(result, filled, (0, 0, w, h), hole, hole, feather)
    return result
