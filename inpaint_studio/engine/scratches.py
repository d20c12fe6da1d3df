"""Scratch and dust finder for old photos (no Qt, no torch). draft"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ("scratches", "dust")
ZS = 32.0  # fixed-point scale of normalised contrast maps (uint8)


@dataclass(frozen=True)
class Params:
    k: float
    a: float
    line_high: float
    dust_high: float
    min_length: float
    max_width: float = 4.0
    max_dust_area: int = 80
    line_len: int = 21


def _geo(a, b, s):
    return a * (b / a) ** s


def params_for(sensitivity: float) -> Params:
    s = min(max(float(sensitivity), 0.0), 1.0)
    return Params(k=_geo(4.0, 1.5, s), a=_geo(14.0, 5.0, s), line_high=_geo(2.0, 1.0, s),
                  dust_high=_geo(3.0, 1.2, s), min_length=_geo(30.0, 12.0, s))


def _local_scale(resp, block=4, window=11):
    h, w = resp.shape
    sh, sw = max(h // block, 1), max(w // block, 1)
    small = cv2.resize(resp, (sw, sh), interpolation=cv2.INTER_AREA)
    k = min(window, (min(sh, sw) // 2) * 2 + 1)
    if k >= 3:
        small = cv2.medianBlur(small, k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


OFFSETS = [(1, 0), (2, 1), (1, 1), (1, 2), (0, 1), (-1, 2), (-1, 1), (-2, 1)]


def _two_sided(grey, dists):
    h, w = grey.shape
    side = cv2.blur(grey, (3, 3))
    rb = np.zeros_like(grey)
    rd = np.zeros_like(grey)
    m = max(dists) * 2 + 1
    pad = cv2.copyMakeBorder(side, m, m, m, m, cv2.BORDER_REFLECT)
    for d in dists:
        for ox, oy in OFFSETS:
            n = math.hypot(ox, oy)
            dx, dy = round(ox * d / n), round(oy * d / n)
            b1 = pad[m + dy:m + dy + h, m + dx:m + dx + w]
            b2 = pad[m - dy:m - dy + h, m - dx:m - dx + w]
            cv2.max(rb, cv2.subtract(grey, cv2.max(b1, b2)), dst=rb)
            cv2.max(rd, cv2.subtract(cv2.min(b1, b2), grey), dst=rd)
    return rb, rd


def _line_kernels(length, n_angles=12):
    ks = []
    c = length // 2
    for i in range(n_angles):
        t = math.pi * i / n_angles
        k = np.zeros((length, length), np.uint8)
        dx, dy = c * math.cos(t), c * math.sin(t)
        cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1, 1)
        ks.append(k)
    return ks


def _linear(z, length):
    zd = cv2.dilate(z, np.ones((3, 3), np.uint8))
    out = np.zeros_like(z)
    for k in _line_kernels(length):
        cv2.max(out, cv2.morphologyEx(zd, cv2.MORPH_OPEN, k), dst=out)
    return cv2.min(out, zd)


def _classify(z, lin, p, kinds):
    cand = (z > ZS).astype(np.uint8)
    n, labels = cv2.connectedComponents(cand, connectivity=8)
    if n <= 1:
        return np.zeros(z.shape, bool)
    ys, xs = np.nonzero(cand)
    lab = labels[ys, xs]
    area = np.bincount(lab, minlength=n).astype(np.float64)
    linear = np.bincount(lab, lin[ys, xs] >= p.line_high * ZS, minlength=n)
    strong = np.bincount(lab, z[ys, xs] >= p.dust_high * ZS, minlength=n)
    fx, fy = xs.astype(np.float64), ys.astype(np.float64)
    sx, sy = np.bincount(lab, fx, n), np.bincount(lab, fy, n)
    sxx, syy, sxy = np.bincount(lab, fx * fx, n), np.bincount(lab, fy * fy, n), np.bincount(lab, fx * fy, n)
    a = np.maximum(area, 1)
    mx, my = sx / a, sy / a
    cxx, cyy, cxy = sxx / a - mx * mx + 1 / 12, syy / a - my * my + 1 / 12, sxy / a - mx * my
    tr, det = cxx + cyy, cxx * cyy - cxy * cxy
    l1 = tr / 2 + np.sqrt(np.maximum(tr * tr / 4 - det, 0))
    length = np.sqrt(12 * l1)
    width = area / np.maximum(length, 1)
    keep = np.zeros(n, bool)
    if "scratches" in kinds:
        keep |= (length >= p.min_length) & (width <= p.max_width) & (linear >= p.line_len // 2)
    if "dust" in kinds:
        keep |= (area <= p.max_dust_area) & (strong > 0) & (length <= 12)
    keep[0] = False
    return keep[labels]


def find_defects(image, sensitivity=0.5, kinds=KINDS, max_side=None, progress=None, cancel=None):
    image = np.asarray(image)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    p = params_for(sensitivity)
    rb, rd = _two_sided(grey, (2, 4))
    scale = _local_scale(np.maximum(rb, rd))
    t = p.a + p.k * scale
    mask = np.zeros(grey.shape, bool)
    for r in (rb, rd):
        z = np.clip(r * (ZS / t), 0, 255).astype(np.uint8)
        lin = _linear(z, p.line_len)
        mask |= _classify(z, lin, p, kinds)
    return cv2.dilate(mask.astype(np.uint8) * 255, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
