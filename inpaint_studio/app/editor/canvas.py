"""The canvas: a QGraphicsView over a scene whose units are image pixels.

Scene items, bottom to top: the image layer, a clip group holding the layers above it (the
"after" side of the before/after compare), one overlay per mask, extra overlays registered by
features (add_overlay), the compare divider and the brush outline. Painting a mask only
invalidates the changed rectangle; overlays share memory with the mask arrays.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QCursor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView

from ..ui import theme
from .document import Document
from ..document.layers import IMAGE, Layer, MaskLayer
from ..ui.qimage import mask_qimage, to_pixmap, to_qimage

MIN_ZOOM, MAX_ZOOM = 0.01, 32.0
Z_IMAGE, Z_LAYERS, Z_MASKS, Z_OVERLAYS, Z_DIVIDER, Z_CURSOR = 0, 1, 10, 20, 50, 100


_CHECKER: list[QPixmap] = []


def _checker() -> QPixmap:
    if not _CHECKER:
        tile = QPixmap(16, 16)
        tile.fill(QColor("#3a3d42"))
        p = QPainter(tile)
        p.fillRect(0, 0, 8, 8, QColor("#2b2e33"))
        p.fillRect(8, 8, 8, 8, QColor("#2b2e33"))
        p.end()
        _CHECKER.append(tile)
    return _CHECKER[0]


def _smooth(painter: QPainter) -> bool:
    """Smooth sampling when zoomed out; crisp pixels from 200 % up."""
    return painter.worldTransform().m11() < 2.0


class RasterItem(QGraphicsItem):
    """Draws only the exposed part of a QPixmap/QImage (no full-image work per repaint)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        self._size = QRectF()

    def boundingRect(self) -> QRectF:
        return self._size

    def _draw(self, painter, option, source) -> None:
        exposed = option.exposedRect.toAlignedRect().adjusted(-2, -2, 2, 2)
        rect = exposed.intersected(self._size.toAlignedRect())
        if rect.isEmpty():
            return
        painter.setRenderHint(QPainter.SmoothPixmapTransform, _smooth(painter))
        if isinstance(source, QPixmap):
            painter.drawPixmap(rect, source, rect)
        else:
            painter.drawImage(rect, source, rect)


class LayerItem(RasterItem):
    def __init__(self, layer: Layer, parent=None):
        super().__init__(parent)
        self.layer = layer
        if layer.alpha is not None and not layer.alpha.any():   # e.g. a new retouching layer
            self.pixmap = QPixmap(layer.width, layer.height)
            self.pixmap.fill(Qt.transparent)
        else:
            self.pixmap = to_pixmap(layer.rgb, layer.alpha)
        self._size = QRectF(0, 0, layer.width, layer.height)
        self.setPos(layer.x, layer.y)
        self.sync_props()

    def set_pixels(self, layer: Layer, rect: QRect) -> None:
        """The same layer with new pixels inside `rect` (image px): repaint that part only."""
        self.layer = layer
        part = rect.translated(-layer.x, -layer.y).intersected(QRect(0, 0, layer.width, layer.height))
        if part.isEmpty():
            return
        x, y, w, h = part.x(), part.y(), part.width(), part.height()
        alpha = None if layer.alpha is None else layer.alpha[y:y + h, x:x + w]
        painter = QPainter(self.pixmap)
        painter.setCompositionMode(QPainter.CompositionMode_Source)
        painter.drawImage(x, y, to_qimage(layer.rgb[y:y + h, x:x + w], alpha))
        painter.end()
        self.update(QRectF(part))

    def sync_props(self) -> None:
        self.setVisible(self.layer.visible)
        self.setOpacity(self.layer.opacity)

    def paint(self, painter, option, widget=None):
        self._draw(painter, option, self.pixmap)


class MaskItem(RasterItem):
    """A mask as a translucent colour overlay; the QImage shares the mask's memory."""

    def __init__(self, mask: MaskLayer, parent=None):
        super().__init__(parent)
        self.mask = mask
        self._size = QRectF(0, 0, mask.data.shape[1], mask.data.shape[0])
        self.refresh_look()

    def refresh_look(self) -> None:
        self.image = mask_qimage(self.mask.data, self.mask.color, self.mask.opacity)
        self.setVisible(self.mask.visible)
        self.update()

    def paint(self, painter, option, widget=None):
        self._draw(painter, option, self.image)


class BrushOutline(QGraphicsItem):
    """Circle of the brush diameter at the cursor; 1 px lines at any zoom (a dark halo under a
    light line, so it shows on any photo). Subclasses change the look through the class fields."""

    MIN_RADIUS = 0.5
    PAD = 2                     # beyond the radius: the halo (and what draw_extra adds)
    COLOURS = ((QColor(0, 0, 0, 150), 3), (QColor(255, 255, 255, 230), 1))

    def __init__(self):
        super().__init__()
        self.radius = 10.0
        self.setZValue(Z_CURSOR)
        self.setAcceptedMouseButtons(Qt.NoButton)

    def set_diameter(self, size: float) -> None:
        self.prepareGeometryChange()
        self.radius = max(size / 2.0, self.MIN_RADIUS)

    def boundingRect(self) -> QRectF:
        r = self.radius + self.PAD
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter, option, widget=None):
        painter.setRenderHint(QPainter.Antialiasing, True)
        r = self.radius
        for colour, width in self.COLOURS:
            pen = QPen(colour, width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawEllipse(QPointF(0, 0), r, r)
            self.draw_extra(painter, r)

    def draw_extra(self, painter, r: float) -> None:
        """More lines in the current pen (none for the brush)."""


class CompareDivider(QGraphicsItem):
    def __init__(self, height: float):
        super().__init__()
        self.height = height
        self.setZValue(Z_DIVIDER)
        self.setAcceptedMouseButtons(Qt.NoButton)

    def boundingRect(self) -> QRectF:
        return QRectF(-1, 0, 2, self.height)

    def paint(self, painter, option, widget=None):
        pen = QPen(QColor(255, 255, 255, 220), 2)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLine(QPointF(0, 0), QPointF(0, self.height))


class CanvasView(QGraphicsView):
    """Signals: cursor_moved(x, y) in image pixels (-1, -1 outside), zoom_changed(factor),
    compare_hold(bool) while the compare key (backslash) is held."""

    cursor_moved = Signal(int, int)
    zoom_changed = Signal(float)
    compare_hold = Signal(bool)

    COMPARE_KEY = Qt.Key_Backslash
    # what the handlers below do, for the shortcut sheet (F1)
    GESTURES = (("Pan", "Space+drag or middle button"), ("Zoom", "mouse wheel"),
                ("Show the original while held", "\\"))

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.NoAnchor)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.DontAdjustForAntialiasing, True)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setAcceptDrops(False)  # the main window takes drops
        self.document: Document | None = None
        self.tool = None
        self.image_item: LayerItem | None = None
        self.layer_items: dict[int, LayerItem] = {}
        self.mask_items: dict[str, MaskItem] = {}
        self.overlays: dict[str, QGraphicsItem] = {}
        self.after_group: QGraphicsRectItem | None = None
        self.divider: CompareDivider | None = None
        self.compare_split: float | None = None
        self.showing_original = False
        self.brush = BrushOutline()
        self.brush.setVisible(False)
        self.scene().addItem(self.brush)
        self._space = False
        self._pan_from = None
        self._fit_mode = True

    # -- document -----------------------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        if self.document is not None:
            for signal, slot in self._connections():
                signal.disconnect(slot)
        scene = self.scene()
        for item in list(scene.items()):
            if item is not self.brush and item.parentItem() is None:
                scene.removeItem(item)
        self.layer_items.clear()
        self.mask_items.clear()
        self.overlays.clear()
        self.image_item = self.after_group = self.divider = None
        self.document = doc
        if doc is None:
            scene.setSceneRect(QRectF(0, 0, 1, 1))
            self.viewport().update()
            return
        scene.setSceneRect(QRectF(0, 0, doc.width, doc.height))
        self.after_group = QGraphicsRectItem(0, 0, doc.width, doc.height)
        self.after_group.setPen(Qt.NoPen)
        self.after_group.setFlag(QGraphicsItem.ItemClipsChildrenToShape, True)
        self.after_group.setFlag(QGraphicsItem.ItemHasNoContents, True)
        self.after_group.setZValue(Z_LAYERS)
        scene.addItem(self.after_group)
        self.divider = CompareDivider(doc.height)
        self.divider.setVisible(False)
        scene.addItem(self.divider)
        for signal, slot in self._connections():
            signal.connect(slot)
        self._sync_layers()
        self._sync_masks()
        self._apply_compare()
        self.fit()

    def _connections(self):
        doc = self.document
        return ((doc.layers_changed, self._sync_layers), (doc.layer_changed, self._layer_changed),
                (doc.layer_pixels_changed, self._layer_pixels_changed),
                (doc.mask_changed, self._mask_changed), (doc.masks_changed, self._sync_masks))

    def _sync_layers(self) -> None:
        doc, scene = self.document, self.scene()
        alive = {layer.uid for layer in doc.layers}
        for uid in [u for u in self.layer_items if u not in alive]:
            scene.removeItem(self.layer_items.pop(uid))
        for index, layer in enumerate(doc.layers):
            item = self.layer_items.get(layer.uid)
            if item is not None and item.layer is not layer:   # new pixels: new pixmap
                scene.removeItem(item)
                item = None
            if item is None:
                item = LayerItem(layer)
                if layer.kind == IMAGE:
                    item.setZValue(Z_IMAGE)
                    scene.addItem(item)
                else:
                    item.setParentItem(self.after_group)
                self.layer_items[layer.uid] = item
            if layer.kind == IMAGE:
                self.image_item = item
            else:
                item.setZValue(index)
            item.sync_props()

    def _layer_changed(self, uid: int) -> None:
        item = self.layer_items.get(uid)
        if item is not None:
            item.sync_props()

    def _layer_pixels_changed(self, uid: int, rect: QRect) -> None:
        item = self.layer_items.get(uid)
        if item is None:
            self._sync_layers()
        else:
            item.set_pixels(self.document.layer(uid), rect)

    def _sync_masks(self) -> None:
        for key, mask in self.document.masks.items():
            item = self.mask_items.get(key)
            if item is None or item.mask is not mask:
                if item is not None:
                    self.scene().removeItem(item)
                item = MaskItem(mask)
                item.setZValue(Z_MASKS + len(self.mask_items))
                self.scene().addItem(item)
                self.mask_items[key] = item
            item.refresh_look()

    def _mask_changed(self, key: str, rect: QRect) -> None:
        item = self.mask_items.get(key)
        if item is not None:
            item.update(QRectF(rect).adjusted(-1, -1, 1, 1))

    # -- overlays (for features such as an attention view) ------------------------------------
    def add_overlay(self, key: str, item: QGraphicsItem, z: float = Z_OVERLAYS) -> None:
        """Show `item` (scene units = image pixels) above the masks; replaces one with that key."""
        self.remove_overlay(key)
        item.setZValue(z)
        self.scene().addItem(item)
        self.overlays[key] = item

    def remove_overlay(self, key: str) -> None:
        item = self.overlays.pop(key, None)
        if item is not None and item.scene() is self.scene():
            self.scene().removeItem(item)

    # -- before / after -----------------------------------------------------------------------
    def set_compare_split(self, fraction: float | None) -> None:
        """None: normal view. 0..1: left of the split shows the original image, right the result."""
        self.compare_split = None if fraction is None else min(max(fraction, 0.0), 1.0)
        self._apply_compare()

    def set_showing_original(self, on: bool) -> None:
        self.showing_original = on
        self._apply_compare()

    def _apply_compare(self) -> None:
        if self.document is None:
            return
        w, h = self.document.width, self.document.height
        self.after_group.setVisible(not self.showing_original)
        if self.compare_split is None:
            self.after_group.setRect(0, 0, w, h)
            self.divider.setVisible(False)
        else:
            x = round(self.compare_split * w)
            self.after_group.setRect(x, 0, w - x, h)
            self.divider.setPos(x, 0)
            self.divider.setVisible(True)

    # -- zoom ---------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom to `factor`, keeping the scene point under `anchor` (viewport coords) in place."""
        factor = min(max(factor, MIN_ZOOM), MAX_ZOOM)
        anchor = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        scene_pt = self.mapToScene(anchor.toPoint())
        self.resetTransform()
        self.scale(factor, factor)
        now = self.mapFromScene(scene_pt)
        delta = now - anchor.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + delta.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + delta.y())
        self._fit_mode = False
        self.zoom_changed.emit(self.zoom)
        self._update_brush_outline()

    def zoom_by(self, steps: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.zoom * math.pow(1.25, steps), anchor)

    def fit(self) -> None:
        if self.document is None:
            return
        margin = 24
        vw, vh = max(self.viewport().width() - 2 * margin, 1), max(self.viewport().height() - 2 * margin, 1)
        factor = min(vw / self.document.width, vh / self.document.height)
        self.resetTransform()
        self.scale(factor, factor)
        self.centerOn(self.document.width / 2, self.document.height / 2)
        self._fit_mode = True
        self.zoom_changed.emit(self.zoom)
        self._update_brush_outline()

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def wheelEvent(self, event):
        if self.document is None:
            return
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(delta / 120.0, event.position())
        event.accept()

    # -- brush outline ------------------------------------------------------------------------
    def set_brush_size(self, size: float) -> None:
        self.brush.set_diameter(size)

    def _update_brush_outline(self, view_pos=None) -> None:
        show = bool(self.document is not None and self.tool is not None
                    and getattr(self.tool, "uses_brush", False) and not self._panning_ready())
        if show:
            pos = view_pos if view_pos is not None else self.viewport().mapFromGlobal(QCursor.pos())
            show = self.viewport().rect().contains(pos)
            if show:
                self.brush.setPos(self.mapToScene(pos))
        self.brush.setVisible(show)

    # -- mouse and keys -----------------------------------------------------------------------
    def _panning_ready(self) -> bool:
        return self._space or self._pan_from is not None

    def _scene_pos(self, event) -> QPointF:
        """Sub-pixel scene position (mapToScene would round to whole viewport pixels)."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.map(event.position())

    def mousePressEvent(self, event):
        if self.document is None:
            return
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton and self._space):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.ClosedHandCursor)
            self.brush.setVisible(False)
        elif self.tool is not None:
            self.tool.press(self._scene_pos(event), event.button(), event.modifiers())
        event.accept()

    def mouseMoveEvent(self, event):
        if self.document is None:
            return
        pos = event.position()
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            self._fit_mode = False
        else:
            scene_pos = self._scene_pos(event)
            if self.tool is not None:
                self.tool.move(scene_pos, event.buttons(), event.modifiers())
            inside = 0 <= scene_pos.x() < self.document.width and 0 <= scene_pos.y() < self.document.height
            if inside:
                self.cursor_moved.emit(int(scene_pos.x()), int(scene_pos.y()))
            else:
                self.cursor_moved.emit(-1, -1)
            self._update_brush_outline(pos.toPoint())
        event.accept()

    def mouseReleaseEvent(self, event):
        if self.document is None:
            return
        if self._pan_from is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan_from = None
            self._restore_cursor()
        elif self.tool is not None:
            self.tool.release(self._scene_pos(event), event.button(), event.modifiers())
        event.accept()

    def mouseDoubleClickEvent(self, event):
        if self.document is not None and self.tool is not None and self._pan_from is None:
            self.tool.double_click(self._scene_pos(event), event.button(), event.modifiers())
        event.accept()

    def leaveEvent(self, event):
        self.brush.setVisible(False)
        self.cursor_moved.emit(-1, -1)
        super().leaveEvent(event)

    def keyPressEvent(self, event):
        if event.key() == Qt.Key_Space:
            if not event.isAutoRepeat():
                self._space = True
                self.viewport().setCursor(Qt.OpenHandCursor)
                self.brush.setVisible(False)
            event.accept()
            return
        if event.key() == self.COMPARE_KEY:
            if not event.isAutoRepeat():
                self.set_showing_original(True)
                self.compare_hold.emit(True)
            event.accept()
            return
        if self.tool is not None and self.tool.key(event.key()):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.isAutoRepeat():
            event.accept()
            return
        if event.key() == Qt.Key_Space:
            self._space = False
            self._restore_cursor()
            self._update_brush_outline()
            event.accept()
            return
        if event.key() == self.COMPARE_KEY:
            self.set_showing_original(False)
            self.compare_hold.emit(False)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def set_tool(self, tool) -> None:
        if self.tool is not None:
            self.tool.deactivate()
        self.tool = tool
        self._restore_cursor()
        self._update_brush_outline()

    def _restore_cursor(self) -> None:
        cursor = getattr(self.tool, "cursor", Qt.CrossCursor) if self.tool else Qt.ArrowCursor
        self.viewport().setCursor(cursor)

    # -- background ---------------------------------------------------------------------------
    def drawBackground(self, painter, rect):
        painter.fillRect(rect, QColor(theme.CANVAS))
        if self.document is None:
            return
        image_rect = QRectF(0, 0, self.document.width, self.document.height)
        painter.save()
        painter.resetTransform()
        view_rect = self.mapFromScene(image_rect).boundingRect()
        for i in range(1, 7):                                # a soft shadow around the photo
            painter.fillRect(view_rect.adjusted(-i, -i + 2, i, i + 2), QColor(0, 0, 0, 14))
        if self.document.image_layer().alpha is not None:   # checkerboard under transparency
            painter.fillRect(view_rect, QBrush(_checker()))
        painter.restore()
