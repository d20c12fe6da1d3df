"""Mask tools and their registry.

A tool receives canvas mouse events in image coordinates and paints into a mask through an
`editor` (the main window), which provides: `document`, `canvas`, `brush_size`,
`brush_hardness`, `ensure_mask(key, name, color)` and `commit_mask_edit(edit, key, text)`.

Tools paint into the document's active mask unless they name their own (`mask_key`), which is
how a second mask (e.g. a "copy from here" source region) gets its tools: subclass a tool, set
`mask_key`, `mask_name`, `mask_color`, and `register_tool` it. The main window builds its tool
bar and shortcuts from TOOLS in registration order.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem

from ..document import mask_ops
from .undo import MaskEdit

TOOLS: dict[str, type["Tool"]] = {}


def register_tool(cls: type["Tool"]) -> type["Tool"]:
    TOOLS[cls.id] = cls
    return cls


def _pt(p: QPointF) -> tuple[float, float]:
    return p.x(), p.y()


class Tool:
    id = ""
    label = ""
    icon = ""
    shortcut = ""
    tip = ""
    uses_brush = False
    cursor = Qt.CrossCursor
    mask_key: str | None = None       # None: the document's active mask
    mask_name = ""
    mask_color = (255, 64, 96)
    rank = 100                        # a tool added later (add_tool): its place after the built-in ones
    gestures: tuple[tuple[str, str], ...] = ()   # (what, mouse or keys) for the shortcut sheet (F1)

    def __init__(self, editor):
        self.editor = editor

    @property
    def busy(self) -> bool:
        """True while the tool holds an unfinished mask edit (a brush stroke in progress)."""
        return False

    def target_key(self) -> str:
        if self.mask_key is None:
            return self.editor.document.active_mask_key
        self.editor.ensure_mask(self.mask_key, self.mask_name or self.mask_key, self.mask_color)
        return self.mask_key

    def press(self, pos: QPointF, button, modifiers) -> None: ...
    def move(self, pos: QPointF, buttons, modifiers) -> None: ...
    def release(self, pos: QPointF, button, modifiers) -> None: ...
    def double_click(self, pos: QPointF, button, modifiers) -> None:
        """The second press of a double click; by default an ordinary press."""
        self.press(pos, button, modifiers)

    def key(self, key) -> bool:
        """A key pressed on the canvas; True when the tool used it."""
        return False

    def deactivate(self) -> None:
        """The user picked another tool (or the document closes): finish or drop what's pending."""


class BrushTool(Tool):
    id, label, icon, shortcut = "brush", "Brush", "mdi6.brush", "B"
    tip = "Paint the area to fill. Right button erases, Shift+click draws a straight line."
    uses_brush = True
    gestures = (("Erase with the brush", "right button"), ("Straight line from the last stroke", "Shift+click"))
    erase = False

    def __init__(self, editor):
        super().__init__(editor)
        self._edit: MaskEdit | None = None
        self._key = ""
        self._erasing = False
        self._pos: QPointF | None = None
        self._last_end: QPointF | None = None

    @property
    def busy(self) -> bool:
        return self._edit is not None

    def press(self, pos, button, modifiers):
        if button not in (Qt.LeftButton, Qt.RightButton) or self._edit is not None:
            return
        self._key = self.target_key()
        self._edit = MaskEdit(self.editor.document.mask(self._key).data)
        self._erasing = self.erase or button == Qt.RightButton
        start = self._last_end if (modifiers & Qt.ShiftModifier and self._last_end is not None) else pos
        self._segment(start, pos)

    def move(self, pos, buttons, modifiers):
        if self._edit is not None and self._pos is not None:
            self._segment(self._pos, pos)

    def release(self, pos, button, modifiers):
        if self._edit is not None:
            if self._pos is not None and pos != self._pos:
                self._segment(self._pos, pos)
            self._finish()

    def deactivate(self):
        if self._edit is not None:
            self._finish()

    def _segment(self, a: QPointF, b: QPointF) -> None:
        doc = self.editor.document
        mask = doc.mask(self._key).data
        size = self.editor.brush_size
        self._edit.touch(mask_ops.segment_rect(_pt(a), _pt(b), size, doc.width, doc.height))
        rect = mask_ops.stroke_segment(mask, _pt(a), _pt(b), size, self.editor.brush_hardness, self._erasing)
        if rect is not None:
            doc.notify_mask(self._key, rect)
        self._pos = b

    def _finish(self) -> None:
        edit, self._edit = self._edit, None
        self._last_end, self._pos = self._pos, None
        self.editor.commit_mask_edit(edit, self._key, "Erase" if self._erasing else "Brush stroke")


class EraserTool(BrushTool):
    id, label, icon, shortcut = "eraser", "Eraser", "mdi6.eraser", "E"
    tip = "Erase from the mask."
    erase = True


def _preview_pen(width: float = 1.5) -> QPen:
    pen = QPen(QColor(255, 255, 255, 230), width, Qt.DashLine)
    pen.setCosmetic(True)
    return pen


class RectTool(Tool):
    id, label, icon, shortcut = "rect", "Rectangle", "mdi6.rectangle-outline", "R"
    tip = "Drag a rectangle to add it to the mask; right button or Alt removes."
    gestures = (("Remove a rectangle or lasso shape", "right button or Alt+drag"),)

    def __init__(self, editor):
        super().__init__(editor)
        self._start: QPointF | None = None
        self._remove = False
        self._item: QGraphicsRectItem | None = None

    def press(self, pos, button, modifiers):
        if button not in (Qt.LeftButton, Qt.RightButton) or self._start is not None:
            return
        self._start = pos
        self._remove = button == Qt.RightButton or bool(modifiers & Qt.AltModifier)
        self._item = QGraphicsRectItem(QRectF(pos, pos))
        self._item.setPen(_preview_pen())
        r, g, b = self.editor.document.mask(self.target_key()).color
        self._item.setBrush(QBrush(QColor(r, g, b, 0 if self._remove else 70)))
        self._item.setZValue(60)
        self.editor.canvas.scene().addItem(self._item)

    def move(self, pos, buttons, modifiers):
        if self._item is not None:
            self._item.setRect(QRectF(self._start, pos).normalized())

    def release(self, pos, button, modifiers):
        if self._start is None:
            return
        start, self._start = self._start, None
        self._drop_preview()
        key = self.target_key()
        mask = self.editor.document.mask(key).data
        edit = MaskEdit(mask)
        edit.touch(mask_ops.clip_rect(
            min(start.x(), pos.x()) - 1, min(start.y(), pos.y()) - 1,
            max(start.x(), pos.x()) + 1, max(start.y(), pos.y()) + 1, mask.shape[1], mask.shape[0]))
        rect = mask_ops.fill_rect(mask, start.x(), start.y(), pos.x(), pos.y(), 0 if self._remove else 255)
        if rect is not None:
            self.editor.document.notify_mask(key, rect)
        self.editor.commit_mask_edit(edit, key, "Remove rectangle" if self._remove else "Rectangle")

    def key(self, key):
        if key == Qt.Key_Escape and self._start is not None:
            self.deactivate()
            return True
        return False

    def deactivate(self):
        self._start = None
        self._drop_preview()

    def _drop_preview(self):
        if self._item is not None and self._item.scene() is not None:
            self._item.scene().removeItem(self._item)
        self._item = None


class LassoTool(Tool):
    id, label, icon, shortcut = "lasso", "Lasso / polygon", "mdi6.lasso", "L"
    tip = ("Drag to draw a free shape, or click corner points and double-click (or Enter) to "
           "close a polygon. Right button or Alt removes; Esc cancels; Backspace drops a point.")
    CLOSE_DISTANCE = 8  # screen pixels to the first point that close a polygon
    gestures = (("Remove a rectangle or lasso shape", "right button or Alt+drag"),
                ("Close a polygon", "double-click or Enter"), ("Drop the polygon's last point", "Backspace"),
                ("Drop the shape being drawn", "Esc"))

    def __init__(self, editor):
        super().__init__(editor)
        self._points: list[QPointF] = []
        self._dragging = False
        self._polygon = False
        self._remove = False
        self._hover: QPointF | None = None
        self._item: QGraphicsPathItem | None = None

    def press(self, pos, button, modifiers):
        if button not in (Qt.LeftButton, Qt.RightButton):
            return
        if self._polygon:
            if len(self._points) >= 3 and self._screen_distance(pos, self._points[0]) <= self.CLOSE_DISTANCE:
                self._close()
            else:
                self._points.append(pos)
                self._redraw()
            return
        self._points = [pos]
        self._dragging = True
        self._remove = button == Qt.RightButton or bool(modifiers & Qt.AltModifier)
        self._item = QGraphicsPathItem()
        self._item.setPen(_preview_pen())
        self._item.setZValue(60)
        self.editor.canvas.scene().addItem(self._item)

    def move(self, pos, buttons, modifiers):
        if self._dragging:
            if self._screen_distance(pos, self._points[-1]) >= 2:
                self._points.append(pos)
                self._redraw()
        elif self._polygon:
            self._hover = pos
            self._redraw()

    def release(self, pos, button, modifiers):
        if not self._dragging:
            return
        self._dragging = False
        if len(self._points) < 3 or self._path_length() < 4 / max(self.editor.canvas.zoom, 1e-6):
            self._polygon = True        # a click: collect polygon corners
            self._points = self._points[:1]
            self._redraw()
        else:
            self._close()

    def double_click(self, pos, button, modifiers):
        if self._polygon and len(self._points) >= 3:
            self._close()

    def key(self, key):
        if not self._points:
            return False
        if key in (Qt.Key_Return, Qt.Key_Enter) and len(self._points) >= 3:
            self._close()
        elif key == Qt.Key_Escape:
            self.deactivate()
        elif key == Qt.Key_Backspace and self._polygon:
            self._points.pop()
            if not self._points:
                self.deactivate()
            else:
                self._redraw()
        else:
            return False
        return True

    def deactivate(self):
        self._points, self._dragging, self._polygon, self._hover = [], False, False, None
        if self._item is not None and self._item.scene() is not None:
            self._item.scene().removeItem(self._item)
        self._item = None

    def _close(self) -> None:
        points = [_pt(p) for p in self._points]
        remove = self._remove
        self.deactivate()
        key = self.target_key()
        mask = self.editor.document.mask(key).data
        edit = MaskEdit(mask)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        edit.touch(mask_ops.clip_rect(min(xs) - 2, min(ys) - 2, max(xs) + 2, max(ys) + 2,
                                      mask.shape[1], mask.shape[0]))
        rect = mask_ops.fill_polygon(mask, points, 0 if remove else 255)
        if rect is not None:
            self.editor.document.notify_mask(key, rect)
        self.editor.commit_mask_edit(edit, key, "Remove lasso" if remove else "Lasso")

    def _redraw(self) -> None:
        if self._item is None:
            return
        path = QPainterPath(self._points[0])
        for p in self._points[1:]:
            path.lineTo(p)
        if self._polygon and self._hover is not None:
            path.lineTo(self._hover)
        self._item.setPath(path)

    def _screen_distance(self, a: QPointF, b: QPointF) -> float:
        return math.hypot(a.x() - b.x(), a.y() - b.y()) * self.editor.canvas.zoom

    def _path_length(self) -> float:
        return sum(math.hypot(b.x() - a.x(), b.y() - a.y()) for a, b in zip(self._points, self._points[1:]))


for _tool in (BrushTool, EraserTool, RectTool, LassoTool):
    register_tool(_tool)
