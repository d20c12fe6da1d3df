"""Scratch and dust finder for old photos (no Qt, no torch).

draft
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .base import check_cancel, report

KINDS = ("scratches", "dust")


@dataclass(frozen=True)
class Params:
    k_low: float
    a_low: float
    k_high: float
    a_high: float
    k_dust: float
    a_dust: float
    min_length: float
    max_width: float
    max_dust_area: int
    radius: int = 4


def _lerp_geo(a, b, s):
    return a * (b / a) ** s


def params_for(sensitivity: float) -> Params:
    s = min(max(float(sensitivity), 0.0), 1.0)
    return Params(
        k_low=_lerp_geo(4.0, 1.5, s), a_low=_lerp_geo(14.0, 5.0, s),
        k_high=_lerp_geo(8.0, 3.0, s), a_high=_lerp_geo(30.0, 10.0, s),
        k_dust=_lerp_geo(8.0, 3.0, s), a_dust=_lerp_geo(35.0, 12.0, s),
        min_length=_lerp_geo(30.0, 10.0, s), max_width=_lerp_geo(3.0, 5.0, s),
        max_dust_area=80)


def _local_scale(resp: np.ndarray, block: int = 4, window: int = 11) -> np.ndarray:
    h, w = resp.shape
    sh, sw = max(h // block, 1), max(w // block, 1)
    small = cv2.resize(resp, (sw, sh), interpolation=cv2.INTER_AREA)
    k = min(window, (min(sh, sw) // 2) * 2 + 1)
    if k >= 3:
        small = cv2.medianBlur(small, k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def _classify(resp, low, high, dust_t, p, kinds):
    cand = (resp > low).astype(np.uint8)
    n, labels = cv2.connectedComponents(cand, connectivity=8)
    if n <= 1:
        return np.zeros(resp.shape, bool)
    ys, xs = np.nonzero(cand)
    lab = labels[ys, xs]
    r = resp[ys, xs].astype(np.float32)
    area = np.bincount(lab, minlength=n).astype(np.float64)
    strong = np.bincount(lab, r > high[ys, xs], minlength=n)
    dstrong = np.bincount(lab, r > dust_t[ys, xs], minlength=n)
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
        keep |= (length >= p.min_length) & (width <= p.max_width) & (strong > 0)
    if "dust" in kinds:
        keep |= (area <= p.max_dust_area) & (dstrong > 0) & (length <= 12)
    keep[0] = False
    return keep[labels]


def find_defects(image, sensitivity=0.5, kinds=KINDS, max_side=None, progress=None, cancel=None):
    image = np.asarray(image)
    if image.ndim == 3:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    else:
        grey = image
    p = params_for(sensitivity)
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * p.radius + 1,) * 2)
    rb = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, se)
    rd = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, se)
    scale = _local_scale(np.maximum(rb, rd))
    low = p.a_low + p.k_low * scale
    high = p.a_high + p.k_high * scale
    dust_t = p.a_dust + p.k_dust * scale
    mask = _classify(rb, low, high, dust_t, p, kinds) | _classify(rd, low, high, dust_t, p, kinds)
    mask = cv2.dilate(mask.astype(np.uint8) * 255, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    return mask
