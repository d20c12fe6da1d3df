"""The clone stamp (S): copy one part of the photo over another, as in GIMP and Photoshop.

Alt+click (or Ctrl+click, GIMP's way) sets the source; painting then copies what is visible at
the same offset from the brush, with the brush size and hardness (at 100 % hardness the copied
pixels are the source's exactly). Aligned (Tools > "Aligned Clone Source", on by default): the
offset set by the first stroke after Alt+click is kept for every later stroke, so strokes
continue one copy; not aligned: every stroke starts copying from the source point again. A
marker (a circle with a cross) shows where it copies from. Strokes go into the retouching layer
(retouch.py), one undo step each; within a stroke the source is read as it was when the stroke
began, so overlapping source and target never copy the stroke onto itself.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QPainter
from PySide6.QtWidgets import QGraphicsItem

from ..document import mask_ops
from ..document.layers import flatten_region
from ..editor.canvas import BrushOutline
from ..editor.mask_tools import Tool
from ..ui.qimage import to_qimage
from .retouch import RetouchEdit, paint_over

MARKER_KEY = "clone-source"
PREVIEW_KEY = "clone-stroke"
ALIGNED_SETTING = "tools/clone_aligned"


class SourceMarker(BrushOutline):
    """Where the clone stamp copies from: a circle of the brush diameter with a cross, drawn in
    lines 1 screen pixel wide at any zoom."""

    MIN_RADIUS = 2.0
    PAD = 4
    COLOURS = ((QColor(0, 0, 0, 160), 3), (QColor(120, 230, 255, 240), 1))

    def __init__(self):
        super().__init__()
        self.setZValue(0)      # among the overlays, not at the cursor's height

    def draw_extra(self, painter, r: float) -> None:
        painter.drawLine(QPointF(-r - 3, 0), QPointF(r + 3, 0))
        painter.drawLine(QPointF(0, -r - 3), QPointF(0, r + 3))


class StrokePreview(QGraphicsItem):
    """The stroke being painted, over the canvas, until it is committed: draws the working
    copy of the retouching layer inside the stroke's box."""

    def __init__(self, rgb: np.ndarray, alpha: np.ndarray, opacity: float):
        super().__init__()
        self.rgb, self.alpha = rgb, alpha
        self.box = QRectF()
        self.setOpacity(opacity)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)

    def grow(self, rect: tuple[int, int, int, int]) -> None:
        new = self.box.united(QRectF(*rect)) if not self.box.isEmpty() else QRectF(*rect)
        if new != self.box:
            self.prepareGeometryChange()
            self.box = new
        self.update(QRectF(*rect))

    def boundingRect(self) -> QRectF:
        return self.box

    def paint(self, painter, option, widget=None):
        part = option.exposedRect.toAlignedRect().intersected(self.box.toAlignedRect())
        if part.isEmpty():
            return
        x, y, w, h = part.x(), part.y(), part.width(), part.height()
        painter.setRenderHint(QPainter.SmoothPixmapTransform, painter.worldTransform().m11() < 2.0)
        painter.drawImage(QRectF(x, y, w, h), to_qimage(self.rgb[y:y + h, x:x + w], self.alpha[y:y + h, x:x + w]))


class CloneStampTool(Tool):
    id, label, icon, shortcut = "clone", "Clone stamp", "mdi6.stamper", "S"
    tip = ("Alt+click (or Ctrl+click) where to copy from, then paint: the brush copies from there "
           "with its size and hardness. One undo step per stroke.")
    uses_brush = True
    rank = 21
    gestures = (("Clone stamp: set the source", "Alt+click or Ctrl+click"),)

    def __init__(self, editor):
        super().__init__(editor)
        self.source: QPointF | None = None        # set by Alt+click
        self.offset: QPointF | None = None        # source - target of the current copy
        self.aligned = bool(_setting(editor, True))
        self._source_doc = None
        self._edit: RetouchEdit | None = None
        self._layers = None                       # the layers as the stroke began (immutable)
        self._weights: np.ndarray | None = None   # the stroke's brush coverage so far, 0..255
        self._pos: QPointF | None = None
        self._preview: StrokePreview | None = None
        self.marker = SourceMarker()

    @property
    def busy(self) -> bool:
        return self._edit is not None

    def set_aligned(self, on: bool) -> None:
        self.aligned = bool(on)
        self.offset = None
        self.editor.settings.qsettings.setValue(ALIGNED_SETTING, self.aligned)
        self._show_marker()

    # -- events ---------------------------------------------------------------------------------
    def press(self, pos, button, modifiers):
        doc = self.editor.document
        if button != Qt.LeftButton or doc is None or self._edit is not None:
            return
        if modifiers & (Qt.AltModifier | Qt.ControlModifier):
            self.source, self.offset, self._source_doc = QPointF(pos), None, doc
            self._show_marker()
            self.editor.statusBar().showMessage("Clone source set: paint to copy from there.", 4000)
            return
        if self.source is None or self._source_doc is not doc:
            self.editor.statusBar().showMessage("Alt+click where to copy from first.", 4000)
            return
        if self.offset is None or not self.aligned:
            self.offset = self.source - pos
        self._edit = RetouchEdit(doc)
        self._layers = list(doc.layers)
        self._weights = np.zeros((doc.height, doc.width), np.uint8)
        self._preview = StrokePreview(self._edit.rgb, self._edit.alpha, self._edit.layer.opacity)
        self.editor.canvas.add_overlay(PREVIEW_KEY, self._preview, z=5)
        self._pos = pos
        self._segment(pos, pos)

    def move(self, pos, buttons, modifiers):
        if self._edit is not None:
            self._segment(self._pos, pos)
        self._show_marker(pos)

    def release(self, pos, button, modifiers):
        if self._edit is None or button != Qt.LeftButton:
            return
        if pos != self._pos:
            self._segment(self._pos, pos)
        self._finish()

    def deactivate(self):
        if self._edit is not None:
            self._finish()
        self.editor.canvas.remove_overlay(MARKER_KEY)

    # -- painting -------------------------------------------------------------------------------
    def _segment(self, a: QPointF, b: QPointF) -> None:
        doc = self.editor.document
        size, hardness = self.editor.brush_size, self.editor.brush_hardness
        self._pos = b
        rect = mask_ops.stroke_segment(self._weights, (a.x(), a.y()), (b.x(), b.y()), size, hardness)
        if rect is None:
            return
        x, y, w, h = rect
        dx, dy = round(self.offset.x()), round(self.offset.y())
        # The source box, clipped to the photo; target pixels whose source is outside stay.
        sx0, sy0 = max(x + dx, 0), max(y + dy, 0)
        sx1, sy1 = min(x + w + dx, doc.width), min(y + h + dy, doc.height)
        if sx1 <= sx0 or sy1 <= sy0:
            return
        tx, ty, tw, th = sx0 - dx, sy0 - dy, sx1 - sx0, sy1 - sy0
        source = flatten_region(self._layers, (sx0, sy0, tw, th))
        part = (slice(ty, ty + th), slice(tx, tx + tw))
        self._edit.touch((tx, ty, tw, th))
        # Each segment repaints from the layer as it was before the stroke, with the stroke's
        # coverage so far: overlapping dabs of one stroke never build up past the brush.
        before = self._edit.layer
        rgb, alpha = before.rgb[part].copy(), before.alpha[part].copy()
        paint_over(rgb, alpha, source, self._weights[part].astype(np.float32) / 255.0)
        self._edit.rgb[part], self._edit.alpha[part] = rgb, alpha
        self._preview.grow((tx, ty, tw, th))

    def _finish(self) -> None:
        edit, self._edit = self._edit, None
        self._weights = self._layers = None
        self.editor.canvas.remove_overlay(PREVIEW_KEY)
        self._preview = None
        if self.aligned:
            self._show_marker(self._pos)
        self._pos = None
        edit.commit("Clone stamp")

    def _show_marker(self, cursor: QPointF | None = None) -> None:
        """The marker at the point copied from: under the brush while painting, the source
        point otherwise (with an aligned offset: where the next stroke would copy from)."""
        canvas = self.editor.canvas
        if self.source is None or self._source_doc is not self.editor.document:
            canvas.remove_overlay(MARKER_KEY)
            return
        if self.offset is not None and cursor is not None and (self.aligned or self._edit is not None):
            at = cursor + self.offset
        else:
            at = self.source
        self.marker.set_diameter(self.editor.brush_size)
        self.marker.setPos(at)
        if canvas.overlays.get(MARKER_KEY) is not self.marker:
            canvas.add_overlay(MARKER_KEY, self.marker)


def _setting(window, default: bool) -> bool:
    value = window.settings.qsettings.value(ALIGNED_SETTING, default)
    return value.lower() in ("1", "true", "yes") if isinstance(value, str) else bool(value)


def install(window) -> CloneStampTool:
    tool = window.add_tool(CloneStampTool)
    action = QAction("Aligned Clone Source", window)
    action.setCheckable(True)
    action.setChecked(tool.aligned)
    action.setToolTip("Clone stamp: keep the offset between strokes (off: every stroke copies from the source point)")
    action.toggled.connect(tool.set_aligned)
    window.actions["clone_aligned"] = action
    window.add_menu_action("tools", action, CloneStampTool.rank + 0.5)   # right after the tool
    return tool
