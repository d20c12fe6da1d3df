"""Attention view: where did each hole pixel's content come from?

View > "Show Attention Sources" (off by default). While it is on, inpainting asks the engine for
the attention's flow (InpaintOptions.return_flow: PEN-Net's finest ATN level, DeepFill's contextual
attention; when it is off the engine is not asked and pays nothing). After a model's fill, an overlay colour-codes the offset of every filled pixel
to its source (flow_colors.py: hue = direction, saturation = distance), and hovering a filled
pixel outlines its main source patch on the canvas, with a line from the pixel to it.
The overlay belongs to that result: it goes when the result layer is removed (undo) or another
document is opened, and comes back when the toggle is turned on again.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QLineF, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QPen
from PySide6.QtWidgets import QGraphicsItemGroup, QGraphicsLineItem, QGraphicsPixmapItem, QGraphicsRectItem

from ..editor.canvas import Z_OVERLAYS
from .flow_colors import flow_to_rgba, source_box
from ..document.layers import bounding_rect
from ..ui.qimage import to_pixmap
from ..ui.theme import icon

MAP_KEY, PATCH_KEY = "attention-map", "attention-source"
MAP_OPACITY = 0.85


def _pen(color: QColor, width: float) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)  # the same thickness at any zoom
    return pen


class AttentionView(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.flow: np.ndarray | None = None     # of the shown result
        self.patch: np.ndarray | None = None
        self.layer_uid: int | None = None
        self._doc = None
        self.action = QAction(icon("mdi6.arrow-decision-outline"), "Show &Attention Sources", window)
        self.action.setCheckable(True)
        self.action.setChecked(False)
        self.action.setToolTip("After a model's fill, colour each filled pixel by where it was copied "
                               "from (hue: direction, saturation: distance); hover to see the source patch")
        self.action.toggled.connect(self.set_enabled)
        window.actions["attention_view"] = self.action
        window.addAction(self.action)
        window.add_menu_action("view", self.action, 10)
        window.inpainting.add_option_provider(lambda _document: {"return_flow": self.enabled})
        window.result_added.connect(self._result_added)
        window.document_changed.connect(self._document_changed)
        window.canvas.cursor_moved.connect(self._hover)
        self._document_changed(window.document)

    @property
    def enabled(self) -> bool:
        return self.action.isChecked()

    # -- engine side ----------------------------------------------------------------------------
    def _result_added(self, uid: int) -> None:
        last = self.window.inpainting.last_result
        result = last[0] if last else None
        flow = getattr(result, "flow", None)
        if flow is None or not np.isfinite(flow[..., 0]).any():
            self.clear()
            if self.enabled:
                self.window.statusBar().showMessage(
                    "No attention sources for this fill: only the models (PEN-Net, DeepFill v1) copy from known patches.", 6000)
            return
        self.flow, self.patch, self.layer_uid = flow, getattr(result, "flow_patch", None), uid
        if self.enabled:
            self.show_map()

    # -- overlays -------------------------------------------------------------------------------
    def set_enabled(self, on: bool) -> None:
        if not on:
            self._remove_items()
        elif self.flow is not None:
            self.show_map()
        elif self.window.document is not None:
            self.window.statusBar().showMessage("Attention sources show after the next fill with a model.", 6000)

    def show_map(self) -> None:
        """Put the colour-coded flow of the current result on the canvas."""
        valid = np.isfinite(self.flow[..., 0])
        x, y, w, h = bounding_rect(valid)
        rgba = flow_to_rgba(self.flow[y:y + h, x:x + w])
        item = QGraphicsPixmapItem(to_pixmap(rgba[..., :3], rgba[..., 3]))
        item.setOffset(x, y)
        item.setOpacity(MAP_OPACITY)
        item.setAcceptedMouseButtons(Qt.NoButton)
        self.window.canvas.add_overlay(MAP_KEY, item)

    def map_item(self):
        return self.window.canvas.overlays.get(MAP_KEY)

    def source_item(self):
        return self.window.canvas.overlays.get(PATCH_KEY)

    def _hover(self, x: int, y: int) -> None:
        if not self.enabled or self.flow is None or self.map_item() is None:
            return
        box = source_box(self.flow, self.patch, x, y)
        if box is None:
            self.window.canvas.remove_overlay(PATCH_KEY)
            return
        left, top, side = box
        group = QGraphicsItemGroup()
        group.setAcceptedMouseButtons(Qt.NoButton)
        centre = QPointF(left + side / 2, top + side / 2)
        line = QGraphicsLineItem(QLineF(QPointF(x + 0.5, y + 0.5), centre))
        line.setPen(_pen(QColor(255, 255, 255, 200), 1.0))
        group.addToGroup(line)
        for color, width in ((QColor(0, 0, 0, 200), 3.0), (QColor(255, 255, 255, 255), 1.5)):
            rect = QGraphicsRectItem(QRectF(left, top, side, side))
            rect.setPen(_pen(color, width))
            group.addToGroup(rect)
        self.window.canvas.add_overlay(PATCH_KEY, group, Z_OVERLAYS + 1)
        dx, dy = self.flow[y, x]
        self.window.statusBar().showMessage(
            f"Copied from around ({centre.x():.0f}, {centre.y():.0f}): {math.hypot(dx, dy):.0f} px away "
            f"({side:.0f} px source patch)", 4000)

    def _remove_items(self) -> None:
        self.window.canvas.remove_overlay(MAP_KEY)
        self.window.canvas.remove_overlay(PATCH_KEY)

    def clear(self) -> None:
        """Forget the shown result."""
        self._remove_items()
        self.flow = self.patch = self.layer_uid = None

    # -- keeping up with the document -----------------------------------------------------------
    def _document_changed(self, doc) -> None:
        if self._doc is not None:
            try:
                self._doc.layers_changed.disconnect(self._layers_changed)
            except (RuntimeError, TypeError):
                pass  # the old document is already gone
        self._doc = doc
        self.clear()
        if doc is not None:
            doc.layers_changed.connect(self._layers_changed)

    def _layers_changed(self) -> None:
        doc = self.window.document
        if self.layer_uid is not None and (doc is None or all(l.uid != self.layer_uid for l in doc.layers)):
            self.clear()  # the result was undone or deleted


def install(window) -> AttentionView:
    return AttentionView(window)
