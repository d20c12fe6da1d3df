"""Where to run the model: hole regions, their context crops and the model-space geometry.

A `Crop` is one piece of work: a box of the image (with context around the hole), the hole
pixels it owns (each hole pixel belongs to exactly one crop), the scale into model space and the
reflection padding that makes both sides multiples of 64. Crops of equal model size are batched.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MULTIPLE = 64      # the generator's sides must be multiples of this
MODEL_MIN = 256    # a crop is grown to at least this (where the image allows) ...
MODEL_MAX = 512    # ... and scaled down when its long side is larger
MIN_MARGIN = 32    # context around a hole, at least
MERGE_GAP = 32     # holes closer than this are one region


@dataclass
class Crop:
    box: tuple[int, int, int, int]   # x0, y0, x1, y1 in the image
    owned: np.ndarray                # bool (y1-y0, x1-x0): hole pixels this crop pastes back
    scale: float                     # model pixels per image pixel (<= 1)
    size: tuple[int, int]            # (h, w) of the scaled box, before padding
    pad: tuple[int, int, int, int]   # top, bottom, left, right reflection padding

    @property
    def model_size(self) -> tuple[int, int]:
        t, b, l, r = self.pad
        return self.size[0] + t + b, self.size[1] + l + r

    @property
    def box_size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box
        return y1 - y0, x1 - x0


# -- planning -------------------------------------------------------------------------------------
def hole_groups(hole: np.ndarray, gap: int = MERGE_GAP) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Connected hole components, those closer than `gap` px joined: (labels int32 HxW with 0 =
    not a hole and k = group k, hole bounding boxes (x0, y0, x1, y1) of groups 1..n)."""
    hole_u8 = np.asarray(hole, dtype=np.uint8)
    n, parts, stats, _ = cv2.connectedComponentsWithStats(hole_u8, connectivity=8, ltype=cv2.CV_32S)
    if gap > 1 and n > 2:
        k = gap // 2 * 2 + 1
        joined = cv2.dilate(hole_u8, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        groups, labels = cv2.connectedComponents(joined, connectivity=8, ltype=cv2.CV_32S)
        labels[hole_u8 == 0] = 0
    else:
        groups, labels = n, parts
    # each component's group: the group label at one of its pixels
    flat = parts.ravel()
    where = np.flatnonzero(flat)
    comp, first = np.unique(flat[where], return_index=True)
    group_of = labels.ravel()[where[first]]
    boxes: dict[int, list[int]] = {}
    for c, g in zip(comp, group_of):
        x, y, w, h = (int(v) for v in stats[c, :4])
        b = boxes.get(int(g))
        boxes[int(g)] = [x, y, x + w, y + h] if b is None else \
            [min(b[0], x), min(b[1], y), max(b[2], x + w), max(b[3], y + h)]
    # renumber the groups 1..n in order of appearance
    order = sorted(boxes)
    remap = np.zeros(groups, np.int32)
    remap[order] = np.arange(1, len(order) + 1, dtype=np.int32)
    return remap[labels], [tuple(boxes[g]) for g in order]


def context_box(hole_box, shape, feather: int = 0, extra_box=None, min_side: int = MODEL_MIN):
    """Hole box + context margin, grown to `min_side` where the image allows, inside the image."""
    h, w = shape[:2]
    x0, y0, x1, y1 = hole_box
    margin = max(MIN_MARGIN, feather + 8, round(0.5 * math.sqrt((x1 - x0) * (y1 - y0))))
    x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    if extra_box is not None:
        x0, y0 = min(x0, extra_box[0]), min(y0, extra_box[1])
        x1, y1 = max(x1, extra_box[2]), max(y1, extra_box[3])
    x0, x1 = _grow(x0, x1, min_side, w)
    y0, y1 = _grow(y0, y1, min_side, h)
    return x0, y0, x1, y1


def _grow(a: int, b: int, side: int, limit: int) -> tuple[int, int]:
    """Widen [a, b) to `side` around its centre, then shift/clip it into [0, limit)."""
    if b - a < side:
        extra = side - (b - a)
        a, b = a - extra // 2, b + extra - extra // 2
    if a < 0:
        a, b = 0, b - a
    if b > limit:
        a, b = a - (b - limit), limit
    return max(a, 0), min(b, limit)


def plan_crops(hole: np.ndarray, feather: int = 0, source: np.ndarray | None = None,
               max_side: int = MODEL_MAX) -> list[Crop]:
    """The `crop` strategy: one crop per hole region, nearby regions merged while their common
    crop still fits `max_side` at full resolution. With a source region, every crop also covers
    the source (attention can only copy from what the model sees)."""
    hole = np.asarray(hole, dtype=bool)
    labels, boxes = hole_groups(hole)
    extra = None
    if source is not None:
        usable = np.asarray(source, dtype=bool) & ~hole
        if usable.any():
            ys, xs = np.flatnonzero(usable.any(1)), np.flatnonzero(usable.any(0))
            extra = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)
    groups = [[i + 1] for i in range(len(boxes))]
    ctx = [context_box(b, hole.shape, feather, extra) for b in boxes]
    merged = True
    while merged and len(groups) > 1:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if not _intersects(ctx[i], ctx[j]):
                    continue
                union = _union(boxes[i], boxes[j])
                cand = context_box(union, hole.shape, feather, extra)
                if max(cand[2] - cand[0], cand[3] - cand[1]) <= max_side:
                    boxes[i], ctx[i], groups[i] = union, cand, groups[i] + groups[j]
                    del boxes[j], ctx[j], groups[j]
                    merged = True
                    break
            if merged:
                break
    crops = []
    for members, hole_box, box in zip(groups, boxes, ctx):
        if max(box[2] - box[0], box[3] - box[1]) > max_side:
            tiles = _tiles(hole, labels, members, hole_box, feather, extra, max_side)
            if tiles:
                crops += tiles
                continue
        x0, y0, x1, y1 = box
        owned = np.isin(labels[y0:y1, x0:x1], members)
        crops.append(make_crop(box, owned, max_side=max_side))
    return crops


def _tiles(hole, labels, members, hole_box, feather, extra, max_side) -> list[Crop] | None:
    """A region too large for one full-resolution crop, cut into tiles of `max_side // 2` px of
    hole box, each with its own context: long thin holes (scratches, wires) stay sharp. None when
    some tile would see more hole than context; the region is then scaled down as a whole."""
    step = max_side // 2
    x0, y0, x1, y1 = hole_box
    out = []
    for ty in range(y0, y1, step):
        for tx in range(x0, x1, step):
            sub = np.isin(labels[ty:min(ty + step, y1), tx:min(tx + step, x1)], members)
            if not sub.any():
                continue
            rows, cols = np.flatnonzero(sub.any(1)), np.flatnonzero(sub.any(0))
            r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
            box = context_box((tx + c0, ty + r0, tx + c1, ty + r1), hole.shape, feather, extra)
            bx0, by0, bx1, by1 = box
            if hole[by0:by1, bx0:bx1].mean() > 0.5:
                return None
            owned = np.zeros((by1 - by0, bx1 - bx0), bool)
            owned[ty + r0 - by0:ty + r1 - by0, tx + c0 - bx0:tx + c1 - bx0] = sub[r0:r1, c0:c1]
            out.append(make_crop(box, owned, max_side=max_side))
    return out


def whole_image_crop(hole: np.ndarray, long_side: int | None = None) -> Crop:
    """The `resize` (long_side = the limit) and `original` (long_side None) strategies."""
    h, w = hole.shape
    return make_crop((0, 0, w, h), np.asarray(hole, dtype=bool), max_side=long_side)


def make_crop(box, owned: np.ndarray, max_side: int | None = MODEL_MAX) -> Crop:
    x0, y0, x1, y1 = box
    bh, bw = y1 - y0, x1 - x0
    long = max(bh, bw)
    scale = 1.0 if max_side is None or long <= max_side else max_side / long
    sh, sw = max(1, round(bh * scale)), max(1, round(bw * scale))
    mh, mw = _round_up(sh), _round_up(sw)
    pad = ((mh - sh) // 2, mh - sh - (mh - sh) // 2, (mw - sw) // 2, mw - sw - (mw - sw) // 2)
    return Crop(tuple(int(v) for v in box), owned, scale, (sh, sw), pad)


def _round_up(n: int) -> int:
    return max(MULTIPLE, -(-n // MULTIPLE) * MULTIPLE)


def _intersects(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a, b):
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def batches(crops: list[Crop], max_pixels: int, max_items: int = 16) -> list[list[int]]:
    """Indices of `crops` grouped by model size, each batch at most `max_pixels` model pixels
    (always at least one crop) and `max_items` crops."""
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, crop in enumerate(crops):
        by_size.setdefault(crop.model_size, []).append(i)
    out = []
    for (mh, mw), idx in by_size.items():
        per = max(1, min(max_items, max_pixels // (mh * mw)))
        out += [idx[s:s + per] for s in range(0, len(idx), per)]
    return out


# -- moving pixels in and out of model space ------------------------------------------------------
def cut(crop: Crop, image: np.ndarray, hole: np.ndarray, source: np.ndarray | None = None):
    """-> (image float32 mh x mw x 3 in 0..255, hole float32 mh x mw {0,1}, source or None).
    The hole is scaled conservatively (a model pixel touching the hole is a hole), so nothing of
    what is under the hole leaks into the model."""
    x0, y0, x1, y1 = crop.box
    sh, sw = crop.size
    img = image[y0:y1, x0:x1].astype(np.float32)
    msk = hole[y0:y1, x0:x1].astype(np.float32)
    src = None if source is None else source[y0:y1, x0:x1].astype(np.float32)
    if crop.scale != 1.0:
        img = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
        msk = (cv2.resize(msk, (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.float32)
        if src is not None:  # only model pixels that are mostly source
            src = (cv2.resize(src, (sw, sh), interpolation=cv2.INTER_AREA) >= 0.5).astype(np.float32)
    t, b, l, r = crop.pad
    if t or b or l or r:
        img = np.pad(img, ((t, b), (l, r), (0, 0)), mode="reflect" if min(sh, sw) > 1 else "edge")
        msk = np.pad(msk, ((t, b), (l, r)), mode="reflect" if min(sh, sw) > 1 else "edge")
        if src is not None:
            src = np.pad(src, ((t, b), (l, r)), mode="reflect" if min(sh, sw) > 1 else "edge")
    return img, msk, src


def uncut(crop: Crop, output: np.ndarray) -> np.ndarray:
    """Model output (mh x mw x 3, 0..255) -> box-sized float32 (padding removed, scaled back)."""
    t, _, l, _ = crop.pad
    sh, sw = crop.size
    out = output[t:t + sh, l:l + sw].astype(np.float32)
    bh, bw = crop.box_size
    if (sh, sw) != (bh, bw):
        out = cv2.resize(out, (bw, bh), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 255.0, out=out)  # in place: the box may be a whole large photo


def flow_to_box(crop: Crop, grid: np.ndarray, cell: int = 4) -> np.ndarray:
    """Flow indices on the model's 1/`cell` grid (gh x gw, flat index of the source cell, -1 =
    none) -> box-sized float32 (h, w, 2): (dx, dy) from each pixel to its source in image pixels,
    NaN where there is none."""
    gh, gw = grid.shape
    t, _, l, _ = crop.pad
    bh, bw = crop.box_size
    cy = np.clip(((np.arange(bh) + 0.5) * crop.scale + t) // cell, 0, gh - 1).astype(np.int64)
    cx = np.clip(((np.arange(bw) + 0.5) * crop.scale + l) // cell, 0, gw - 1).astype(np.int64)
    idx = grid[cy[:, None], cx[None, :]]
    sy, sx = np.divmod(np.maximum(idx, 0), gw)
    flow = np.empty((bh, bw, 2), np.float32)
    flow[..., 0] = (sx - cx[None, :]) * (cell / crop.scale)
    flow[..., 1] = (sy - cy[:, None]) * (cell / crop.scale)
    flow[idx < 0] = np.nan
    return flow
