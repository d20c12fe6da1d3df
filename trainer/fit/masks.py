"""Seeded hole masks for training, validation, evaluation and benchmarks.

A mask is numpy uint8 HxW with 255 = hole, 0 = keep (the engine's convention). Kinds:
  square  the paper's random blocks: one axis-aligned square, side 1/8 to 1/2 of the short side
  free    free-form brush strokes: a few random thick polylines with round joints
  blob    object-like blobs: smooth random star-shaped polygons, stretched and rotated
  mixed   one of the above (strokes most often), sometimes two together: hand-painted masks
  center  the paper's test mask: a centred square of half the side (not random)
The same seed gives the same masks on every machine (numpy's PCG64 generator).
"""
from __future__ import annotations

import math
import zlib

import cv2
import numpy as np
import torch

from inpaint_studio.contracts.training import EVAL_MASK_KINDS

_MIXED = (("square", 0.25), ("free", 0.45), ("blob", 0.30))
_MAX_COVER = 0.7  # a mask never hides more than this share of the image


class MaskGenerator:
    """`MaskGenerator("mixed", seed=1)(256)` -> a 256x256 uint8 mask. Pass `rng` to share a
    numpy Generator (the data pipeline makes one per sample)."""

    def __init__(self, kind: str = "mixed", seed=None, rng: np.random.Generator | None = None,
                 stroke_width: tuple[float, float] = (0.03, 0.10)):
        if kind not in EVAL_MASK_KINDS:
            raise ValueError(f"mask kind must be one of {EVAL_MASK_KINDS}, not {kind!r}")
        self.kind = kind
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.stroke_width = stroke_width  # free-form strokes: width as a share of the short side

    def __call__(self, height: int, width: int | None = None) -> np.ndarray:
        width = height if width is None else width
        for _ in range(20):  # redraw the rare mask that is empty or hides nearly everything
            mask = getattr(self, self.kind)(height, width)
            cover = np.count_nonzero(mask) / mask.size
            if 0 < cover <= _MAX_COVER:
                return mask
        return self.center(height, width)

    # -- kinds ----------------------------------------------------------------------------------
    def center(self, h: int, w: int) -> np.ndarray:
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2] = 255
        return mask

    def square(self, h: int, w: int) -> np.ndarray:
        short = min(h, w)
        side = int(self.rng.integers(max(1, short // 8), short // 2 + 1))
        y = int(self.rng.integers(0, h - side + 1))
        x = int(self.rng.integers(0, w - side + 1))
        mask = np.zeros((h, w), np.uint8)
        mask[y:y + side, x:x + side] = 255
        return mask

    def free(self, h: int, w: int) -> np.ndarray:
        rng, short = self.rng, min(h, w)
        mask = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 5))):
            width = max(3, int(rng.uniform(*self.stroke_width) * short))
            point = np.array([rng.uniform(0, w), rng.uniform(0, h)])
            angle = rng.uniform(0, 2 * math.pi)
            for _ in range(int(rng.integers(3, 10))):
                angle += rng.uniform(-0.6, 0.6) * math.pi  # a hand wanders, rarely turns back
                length = rng.uniform(0.05, 0.25) * short
                end = np.clip(point + length * np.array([math.cos(angle), math.sin(angle)]), 0, [w - 1, h - 1])
                a, b = tuple(int(v) for v in point), tuple(int(v) for v in end)
                cv2.line(mask, a, b, 255, width, lineType=cv2.LINE_8)
                cv2.circle(mask, b, width // 2, 255, -1)
                point = end
        return mask

    def blob(self, h: int, w: int) -> np.ndarray:
        rng, short = self.rng, min(h, w)
        mask = np.zeros((h, w), np.uint8)
        theta = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        for _ in range(int(rng.integers(1, 3))):
            radius = rng.uniform(0.08, 0.28) * short
            wobble = sum(rng.uniform(0, 0.22) * np.sin(k * theta + rng.uniform(0, 2 * math.pi)) for k in (2, 3, 5))
            r = radius * (1 + wobble)
            stretch, turn = rng.uniform(0.6, 1.5), rng.uniform(0, math.pi)
            x, y = r * np.cos(theta) * stretch, r * np.sin(theta) / stretch
            xs = x * math.cos(turn) - y * math.sin(turn) + rng.uniform(0.15, 0.85) * w
            ys = x * math.sin(turn) + y * math.cos(turn) + rng.uniform(0.15, 0.85) * h
            cv2.fillPoly(mask, [np.stack([xs, ys], 1).round().astype(np.int32)], 255)
        return mask

    def mixed(self, h: int, w: int) -> np.ndarray:
        kinds, probs = zip(*_MIXED)
        mask = getattr(self, str(self.rng.choice(kinds, p=probs)))(h, w)
        if self.rng.random() < 0.15:
            mask = np.maximum(mask, getattr(self, str(self.rng.choice(kinds, p=probs)))(h, w))
        return mask


def fixed_masks(kind: str, count: int, height: int, width: int | None = None, seed: int = 0) -> list[np.ndarray]:
    """`count` reproducible masks: validation, evaluation and benchmarks use these."""
    generator = MaskGenerator(kind, seed=seed)
    return [generator(height, width) for _ in range(count)]


def named_masks(kind: str, names: list[str], height: int, width: int | None = None, seed: int = 0) -> list[np.ndarray]:
    """One reproducible mask per image name, drawn from (seed, the name) alone: an image gets
    the same mask in a run over any subset of its folder (evaluation's per-image figures)."""
    return [MaskGenerator(kind, seed=[seed, zlib.crc32(name.encode())])(height, width) for name in names]


def to_tensor(mask: np.ndarray) -> torch.Tensor:
    """uint8/bool HxW (nonzero = hole) -> float (1,H,W) with 1 = hole."""
    return torch.from_numpy((np.asarray(mask) > 0).astype(np.float32))[None]
