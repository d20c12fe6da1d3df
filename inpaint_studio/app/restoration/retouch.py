"""Where the hand-restoration tools (spot healing brush, clone stamp) put their pixels, and their
undo steps.

They paint into a "Retouching" layer on top of the stack and sample every visible layer, like
Photoshop's restoration workflow (a new empty layer, "Sample All Layers"): the photo stays as it
was, the retouching can be hidden to compare, faded, deleted or merged down, and it is never
hidden under an inpainting result (those are layers above the photo). The top layer is used when
it is a full-size paint layer; otherwise the first edit adds a new one on top, in the same undo
step. Each edit is one undo step that keeps only the changed tiles (editor/undo.py's Patch);
layer arrays are never changed in place: an edit makes new ones (see document/layers.py).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QUndoCommand

from ..document.layers import PAINT, Layer, flatten_region
from ..editor.undo import AddLayerCommand, MaskEdit, Patch

RETOUCH_NAME = "Retouching"


def retouch_layer(doc) -> Layer | None:
    """The layer retouching goes into: the top layer when it is a visible full-size paint layer."""
    top = doc.layers[-1]
    if (top.kind == PAINT and top.visible and top.rect == (0, 0, doc.width, doc.height)
            and top.alpha is not None):
        return top
    return None


def visible_region(doc, rect: tuple[int, int, int, int], layers: list[Layer] | None = None) -> np.ndarray:
    """RGB of what is visible inside rect (x, y, w, h): every visible layer, or those of `layers`
    (a snapshot of doc.layers: their arrays are never changed in place)."""
    return flatten_region(doc.layers if layers is None else layers, rect)


class LayerPixelsCommand(QUndoCommand):
    """New pixels in one layer (already shown when pushed): the changed tiles of its RGB and
    alpha, before and after. Undo and redo make new arrays."""

    def __init__(self, doc, uid: int, rgb: Patch, alpha: Patch, text: str, parent=None):
        super().__init__(text, parent)
        self.doc, self.uid, self.rgb, self.alpha = doc, uid, rgb, alpha
        self._first = True

    def redo(self):
        if self._first:
            self._first = False
            return
        self._apply("after")

    def undo(self):
        self._apply("before")

    def _apply(self, state: str) -> None:
        layer = self.doc.layer(self.uid)
        rgb, alpha = layer.rgb.copy(), layer.alpha.copy()
        self.rgb.apply(rgb, state)
        self.alpha.apply(alpha, state)
        self.doc.set_layer_pixels(layer.with_pixels(rgb, alpha), _union(self.rgb, self.alpha))


def _union(*patches: Patch) -> tuple[int, int, int, int]:
    rects = [p.rect for p in patches if p]
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    x1, y1 = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
    return x0, y0, x1 - x0, y1 - y0


class RetouchEdit:
    """One edit of the retouching layer. `rgb` and `alpha` are private working copies of the
    layer's arrays (a new, empty full-size layer when there is none yet); call `touch(rect)`
    before writing into a rectangle, then `commit(text)`: the document takes the new arrays and
    one undo step is pushed (with the new layer, when one was added). `cancel()` drops it."""

    def __init__(self, doc):
        self.doc = doc
        layer = retouch_layer(doc)
        self.new_layer = layer is None
        if layer is None:         # zeros cost nothing until written (the pages are mapped lazily)
            shape = (doc.height, doc.width)
            layer = Layer(name=RETOUCH_NAME, rgb=np.zeros(shape + (3,), np.uint8),
                          alpha=np.zeros(shape, np.uint8), kind=PAINT)
            self.rgb, self.alpha = np.zeros(shape + (3,), np.uint8), np.zeros(shape, np.uint8)
        else:
            self.rgb, self.alpha = layer.rgb.copy(), layer.alpha.copy()
        self.layer = layer
        self._rgb_edit, self._alpha_edit = MaskEdit(self.rgb), MaskEdit(self.alpha)

    def touch(self, rect: tuple[int, int, int, int] | None) -> None:
        self._rgb_edit.touch(rect)
        self._alpha_edit.touch(rect)

    def commit(self, text: str) -> bool:
        """Show the new pixels and push one undo step; False when nothing changed."""
        rgb, alpha = self._rgb_edit.finish(), self._alpha_edit.finish()
        if not rgb and not alpha:
            return False
        doc, stack = self.doc, self.doc.undo_stack
        rect = _union(rgb, alpha)
        stack.beginMacro(text)
        if self.new_layer:        # an empty layer first (cheap to show), then the pixels
            stack.push(AddLayerCommand(doc, self.layer, text="Add retouching layer"))
        doc.set_layer_pixels(self.layer.with_pixels(self.rgb, self.alpha), rect)
        stack.push(LayerPixelsCommand(doc, self.layer.uid, rgb, alpha, text))
        stack.endMacro()
        return True


def paint_over(rgb: np.ndarray, alpha: np.ndarray, src: np.ndarray, weight: np.ndarray) -> None:
    """Paint `src` (uint8 hxwx3) with opacity `weight` (float32 hxw, 0..1) over the layer pixels
    `rgb`, `alpha` (views of the same hxw part, changed in place): the "over" operator, so that
    what shows through the layer becomes (1 - weight) x what showed before + weight x src.
    At weight 1 the pixel is src exactly."""
    on = weight > 0
    w = weight[on]
    a = alpha[on].astype(np.float32) / 255.0
    out_a = w + a * (1.0 - w)
    colour = (src[on].astype(np.float32) * w[:, None]
              + rgb[on].astype(np.float32) * (a * (1.0 - w))[:, None]) / out_a[:, None]
    full = w >= 1.0
    colour[full] = src[on][full]
    rgb[on] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    alpha[on] = np.clip(out_a * 255.0 + 0.5, 0, 255).astype(np.uint8)
