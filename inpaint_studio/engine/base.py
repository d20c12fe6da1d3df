"""The interface every inpainting engine implements, and the checks they share.

Image: numpy uint8 HxWx3 RGB. Mask: numpy HxW, nonzero = hole. Outside the hole (and the
optional feather band) the result is the input, bit for bit. No Qt here.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, message)
CancelFn = Callable[[], bool]               # True = stop as soon as possible

STRATEGIES = ("crop", "resize", "original")
EMPTY_MASK_MESSAGE = "Nothing to fill: the mask is empty."
FULL_MASK_MESSAGE = ("The mask covers the whole image, so nothing is left to fill it from. "
                     "Leave part of the image unmasked.")


class InpaintError(Exception):
    """A problem the user can act on; the message is shown as is."""


class Cancelled(InpaintError):
    """The request was cancelled by the caller."""

    def __init__(self, message: str = "Cancelled."):
        super().__init__(message)


@dataclass
class InpaintOptions:
    strategy: str = "crop"            # "crop" | "resize" | "original"
    feather: int = 0                  # px outside the hole blended smoothly into the result
    colour_adaptation: bool = True    # PEN-Net: shift the fill's colours to meet the surroundings
    resize_limit: int = 1024          # long side for the "resize" strategy
    source: np.ndarray | None = None  # HxW, nonzero = attention may copy only from here (PEN-Net)
    return_flow: bool = False         # PEN-Net: return where each hole pixel was copied from


@dataclass
class InpaintResult:
    image: np.ndarray                 # uint8 HxWx3
    changed: bool
    message: str
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)  # (x0, y0, x1, y1)
    device: str = "cpu"
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    flow: np.ndarray | None = None    # HxWx2 float32 (dx, dy) source - target, NaN outside the hole
    flow_patch: np.ndarray | None = None  # HxW float32: side in image px of the source patch, NaN outside
    fills: list = field(default_factory=list)  # Auto: one engine.auto.RegionFill per region (what filled it)


class Engine(ABC):
    id: str = ""
    label: str = ""

    @abstractmethod
    def inpaint(self, image: np.ndarray, mask: np.ndarray, options: InpaintOptions | None = None,
                progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> InpaintResult:
        """Fill the hole of `image` given by `mask`. Raises InpaintError (Cancelled on cancel)."""

    # -- shared helpers ---------------------------------------------------------------------------
    def prepare(self, image, mask, options: InpaintOptions | None):
        """Validate a request: -> (image, hole bool HxW, options, source bool HxW or None).
        The caller returns `self.nothing_to_fill(image)` when the hole is empty."""
        image = check_image(image)
        hole = check_mask(mask, image.shape)
        options = check_options(options, image.shape)
        source = None
        if options.source is not None:
            source = np.asarray(options.source) != 0
            if hole.any() and not (source & ~hole).any():
                raise InpaintError("The source region has no pixels outside the hole to copy from.")
        if hole.all():
            raise InpaintError(FULL_MASK_MESSAGE)
        return image, hole, options, source

    def nothing_to_fill(self, image: np.ndarray, device: str = "cpu") -> InpaintResult:
        return InpaintResult(image=image.copy(), changed=False, message=EMPTY_MASK_MESSAGE, device=device)


def check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InpaintError(f"The image must be a numpy array, not {type(image).__name__}.")
    if image.ndim != 3 or image.shape[2] != 3:
        extra = " (keep alpha apart and pass RGB)" if image.ndim == 3 and image.shape[2] == 4 else ""
        raise InpaintError(f"The image must be HxWx3 RGB, got shape {image.shape}{extra}.")
    if image.dtype != np.uint8:
        raise InpaintError(f"The image must be 8-bit (uint8), got {image.dtype}.")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InpaintError(f"The image is empty ({image.shape[1]}x{image.shape[0]}).")
    return image


def check_mask(mask, image_shape) -> np.ndarray:
    """-> bool HxW hole (nonzero = hole)."""
    if not isinstance(mask, np.ndarray):
        raise InpaintError(f"The mask must be a numpy array, not {type(mask).__name__}.")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    h, w = image_shape[:2]
    if mask.ndim != 2:
        raise InpaintError(f"The mask must be HxW (one channel), got shape {mask.shape}.")
    if mask.shape != (h, w):
        raise InpaintError(f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is {w}x{h}.")
    if mask.dtype.kind not in "biuf":
        raise InpaintError(f"The mask must hold numbers or booleans, got {mask.dtype}.")
    return mask != 0


def check_options(options: InpaintOptions | None, image_shape) -> InpaintOptions:
    options = replace(options) if options is not None else InpaintOptions()
    if options.strategy not in STRATEGIES:
        raise InpaintError(f"Unknown strategy '{options.strategy}': use one of {', '.join(STRATEGIES)}.")
    if int(options.feather) != options.feather or options.feather < 0:
        raise InpaintError(f"The feather width must be a whole number of pixels >= 0, not {options.feather}.")
    options.feather = int(options.feather)
    if options.resize_limit < 64:
        raise InpaintError(f"The resize limit must be at least 64 px, not {options.resize_limit}.")
    if options.source is not None:
        source = np.asarray(options.source)
        if source.ndim != 2 or source.shape != tuple(image_shape[:2]):
            h, w = image_shape[:2]
            got = f"{source.shape[1]}x{source.shape[0]}" if source.ndim == 2 else f"shape {source.shape}"
            raise InpaintError(f"The source region is {got} but the image is {w}x{h}.")
    return options


def report(progress: ProgressFn | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def check_cancel(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled()
