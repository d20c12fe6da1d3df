"""One-shot restore: find the scratches and dust of an old photo (scratch_finder) and fill them
at once, and the choice of engine for such small, thin holes. No Qt.

What `python -m inpaint_studio restore` runs, and what `restore-eval` measures.

The engine. `small_hole_engine(ids)` picks, among the engine ids a caller offers (the editor's
engine list, the command line's installed engines), the one for small holes: Auto when it is
there (it chooses an engine per hole region by a measured rule), else the classical engine that
restored specks and scratches best in `restore-eval` / `spot-heal-bench` (SMALL_HOLE_CLASSICAL,
best first; see the README for the figures).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from ..engine.base import CancelFn, Engine, InpaintOptions, ProgressFn, report
from .scratch_finder import KINDS, find_defects

AUTO = "auto"                                   # the Auto engine's id, when it is installed
# Classical engines for small holes, best first: filling the true damage of restore-eval, Telea
# 30.84 dB, Navier-Stokes 30.76, PatchMatch 30.59; healing specks (spot-heal-bench), Telea and
# Navier-Stokes within 0.05 dB, PatchMatch 0.1-0.2 dB behind and 50x slower.
SMALL_HOLE_CLASSICAL = ("telea", "ns", "patchmatch")


def small_hole_choices(engines: Iterable[tuple[str, str, str]]) -> list[str]:
    """The ids of engine menu entries (id, label, kind) that small holes may use: Auto only with a
    model (kind "auto"); without one, SMALL_HOLE_CLASSICAL's order was measured on small holes."""
    return [engine_id for engine_id, _label, kind in engines if engine_id != AUTO or kind == AUTO]


def small_hole_engine(available: Iterable[str]) -> str:
    """The engine id for small holes among `available`: Auto, else the best classical one."""
    ids = list(available)
    for engine_id in (AUTO,) + SMALL_HOLE_CLASSICAL:
        if engine_id in ids:
            return engine_id
    if not ids:
        raise ValueError("no inpainting engine is available")
    return ids[0]


@dataclass
class Restored:
    image: np.ndarray        # uint8 HxWx3: the photo with its defects filled
    mask: np.ndarray         # uint8 HxW: what was filled (255)
    defects: int             # separate defects (8-connected parts of the mask)
    area: float              # share of the image that was filled, 0..1

    def summary(self) -> str:
        if not self.defects:
            return "no defects found"
        return (f"{self.defects} defect{'s' * (self.defects != 1)} filled, "
                f"{100 * self.area:.2f} % of the image")


def count_defects(mask: np.ndarray) -> int:
    """Separate defects in a mask: its 8-connected parts."""
    n, _ = cv2.connectedComponents((np.asarray(mask) > 0).astype(np.uint8), connectivity=8)
    return n - 1


def restore_image(image: np.ndarray, engine: Engine, sensitivity: float = 0.5,
                  kinds: Iterable[str] = KINDS, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None) -> Restored:
    """Find the defects of `image` (uint8 HxWx3 RGB) at `sensitivity` and fill them with
    `engine`. Only the found pixels change."""
    def part(lo: float, hi: float) -> ProgressFn:
        return lambda f, m: report(progress, lo + (hi - lo) * f, m)

    mask = find_defects(image, sensitivity, kinds, progress=part(0.0, 0.6), cancel=cancel)
    defects = count_defects(mask)
    if defects:
        result = engine.inpaint(image, mask, InpaintOptions(), progress=part(0.6, 1.0), cancel=cancel)
        filled = result.image
    else:
        filled = image.copy()
    report(progress, 1.0, "Done")
    return Restored(filled, mask, defects, float(np.count_nonzero(mask)) / max(mask.size, 1))
