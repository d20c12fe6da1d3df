"""Classical inpainting, no model needed: OpenCV's Telea (fast marching) and Navier-Stokes, and
PatchMatch (Barnes et al. 2009, from the PyPatchMatch package, when it is installed), which copies
texture from around the hole. The fallback when no PEN-Net model is installed. Run per hole
region, at native resolution."""
from __future__ import annotations

import importlib.util
import threading
import time

import cv2
import numpy as np

from .base import Engine, InpaintOptions, InpaintResult, check_cancel, report
from .blend import paste_region
from .regions import hole_groups

NOTE_NO_SOURCE = "The source region is used only by PEN-Net models; it was ignored."


class ClassicalEngine(Engine):
    """Fills each group of nearby holes in a box around it; subclasses say how (`fill`) and how
    much context the box takes (`margin`)."""
    id = label = ""

    def margin(self, width: int, height: int) -> int:
        raise NotImplementedError

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def inpaint(self, image, mask, options: InpaintOptions | None = None, progress=None, cancel=None) -> InpaintResult:
        start = time.perf_counter()
        image, hole, options, source = self.prepare(image, mask, options)
        if not hole.any():
            return self.nothing_to_fill(image)
        report(progress, 0.0, "Preparing")
        labels, boxes = hole_groups(hole)
        result = image.copy()
        blended = np.zeros(hole.shape, bool) if options.feather else None
        regions = []
        for k, hole_box in enumerate(boxes, start=1):
            check_cancel(cancel)
            regions.append(self.fill_group(image, hole, labels, k, hole_box, result, options.feather, blended))
            report(progress, k / len(boxes), f"Filled {k} of {len(boxes)} regions")
        check_cancel(cancel)
        seconds = time.perf_counter() - start
        report(progress, 1.0, "Done")
        return InpaintResult(
            image=result,
            changed=not np.array_equal(result, image),
            message=f"Filled {len(boxes)} region{'s' * (len(boxes) != 1)} with {self.label} in {seconds:.1f} s.",
            regions=regions,
            device="cpu",
            seconds=seconds,
            notes=[NOTE_NO_SOURCE] if source is not None else [],
            flow=None,
        )


    def fill_group(self, image, hole, labels, k, hole_box, result, feather: int = 0, blended=None):
        """Fill hole group `k` of `labels` (from regions.hole_groups) in a box around `hole_box`,
        reading `image` with every hole pixel unknown, and paste it into `result`; -> the box."""
        h, w = hole.shape
        x0, y0, x1, y1 = hole_box
        margin = self.margin(x1 - x0, y1 - y0) + feather
        box = (max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin))
        bx0, by0, bx1, by1 = box
        holes_in_box = hole[by0:by1, bx0:bx1]
        filled = self.fill(image[by0:by1, bx0:bx1], holes_in_box)
        owned = labels[by0:by1, bx0:bx1] == k
        paste_region(result, filled, box, owned, holes_in_box, feather, blended)
        return box


class OpenCVEngine(ClassicalEngine):
    def __init__(self, engine_id: str, label: str, flag: int, radius: int = 5):
        self.id = engine_id
        self.label = label
        self.flag = flag
        self.radius = radius

    def margin(self, width: int, height: int) -> int:
        return 2 * self.radius + 2  # what the fast marching reads beside the hole

    def fill(self, image, hole):
        return cv2.inpaint(image, hole.astype(np.uint8), self.radius, self.flag)


class TeleaEngine(OpenCVEngine):
    def __init__(self, radius: int = 5):
        super().__init__("telea", "OpenCV Telea (fast, no model)", cv2.INPAINT_TELEA, radius)


class NavierStokesEngine(OpenCVEngine):
    def __init__(self, radius: int = 5):
        super().__init__("ns", "OpenCV Navier-Stokes (no model)", cv2.INPAINT_NS, radius)


def patchmatch_available() -> bool:
    return importlib.util.find_spec("patchmatch") is not None


class PatchMatchEngine(ClassicalEngine):
    """Copies patches from the surroundings (PyPatchMatch); seeded, so a fill can be repeated."""
    id = "patchmatch"
    label = "PatchMatch (texture from around the hole, no model)"
    _lock = threading.Lock()  # the library's random seed is process-wide

    def __init__(self, patch_size: int = 3, seed: int = 0):
        self.patch_size, self.seed = patch_size, seed

    def margin(self, width: int, height: int) -> int:
        return max(48, width, height)  # source patches come from this box only

    def fill(self, image, hole):
        import patchmatch

        with self._lock:
            patchmatch.set_random_seed(self.seed)
            return patchmatch.inpaint(np.ascontiguousarray(image), np.ascontiguousarray(hole),
                                      patch_size=self.patch_size)
