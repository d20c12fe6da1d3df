"""The layers panel: masks on top, then the layers top first. Check box = visible, double-click
renames; the slider sets the selected layer's (or mask's) opacity."""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSlider,
                               QToolButton, QVBoxLayout, QWidget)

from .document import Document
from ..document.layers import IMAGE
from ..ui.qimage import thumbnail_pixmap
from ..ui.theme import icon

THUMB = 40
ROLE = Qt.UserRole


class LayersPanel(QWidget):
    visibility_toggled = Signal(int, bool)     # uid, visible
    renamed = Signal(int, str)
    opacity_changed = Signal(int, float)       # uid, 0..1 (while dragging too)
    delete_requested = Signal(int)
    merge_requested = Signal(int)
    mask_visibility_toggled = Signal(str, bool)
    mask_opacity_changed = Signal(str, float)
    mask_selected = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.document: Document | None = None
        self._thumbs: dict[int, tuple[int, QIcon]] = {}
        self._filling = False
        self._stale: set[int] = set()          # layers whose pixels changed: thumbnails to redo
        self._thumb_timer = QTimer(self)       # a stroke's dabs make one new thumbnail, not many
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.setInterval(300)
        self._thumb_timer.timeout.connect(self._refresh_thumbs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(6)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.ElideRight)
        self.list.setUniformItemSizes(True)
        self.list.setEditTriggers(QListWidget.DoubleClicked | QListWidget.EditKeyPressed)
        self.list.itemChanged.connect(self._item_changed)
        self.list.currentItemChanged.connect(lambda *_: self._selection_changed())
        layout.addWidget(self.list, 1)

        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.valueChanged.connect(self._opacity_moved)
        row.addWidget(self.opacity, 1)
        self.opacity_label = QLabel()
        self.opacity_label.setFixedWidth(44)
        row.addWidget(self.opacity_label)
        layout.addLayout(row)
        self.opacity.setEnabled(False)         # until a layer or mask is selected
        self._show_opacity(None)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.merge_button = self._button("mdi6.arrow-collapse-down", "Merge down into the layer below")
        self.merge_button.clicked.connect(lambda: self._emit_for_layer(self.merge_requested))
        self.delete_button = self._button("mdi6.delete-outline", "Delete layer")
        self.delete_button.clicked.connect(lambda: self._emit_for_layer(self.delete_requested))
        buttons.addWidget(self.merge_button)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)

    @staticmethod
    def _button(name: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setIcon(icon(name))
        button.setToolTip(tip)
        button.setIconSize(QSize(18, 18))
        return button

    # -- binding ------------------------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        if self.document is not None:
            self.document.layers_changed.disconnect(self.rebuild)
            self.document.layer_changed.disconnect(self._layer_changed)
            self.document.layer_pixels_changed.disconnect(self._pixels_changed)
            self.document.masks_changed.disconnect(self._masks_changed)
        self.document = doc
        self._thumbs.clear()
        self._stale.clear()
        if doc is not None:
            doc.layers_changed.connect(self.rebuild)
            doc.layer_changed.connect(self._layer_changed)
            doc.layer_pixels_changed.connect(self._pixels_changed)
            doc.masks_changed.connect(self._masks_changed)
        self.rebuild()

    def selected(self) -> tuple[str, object] | None:
        item = self.list.currentItem()
        return item.data(ROLE) if item is not None else None

    def select_layer(self, uid: int) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ROLE) == ("layer", uid):
                self.list.setCurrentRow(row)

    def rebuild(self) -> None:
        keep = self.selected()
        self._filling = True
        self.list.clear()
        doc = self.document
        if doc is not None:
            for key, mask in doc.masks.items():
                item = QListWidgetItem(icon("mdi6.selection-ellipse", "#%02x%02x%02x" % mask.color), mask.name)
                item.setData(ROLE, ("mask", key))
                item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Checked if mask.visible else Qt.Unchecked)
                item.setToolTip("Mask: what gets filled. Paint it with the brush, rectangle or lasso.")
                self.list.addItem(item)
            for layer in reversed(doc.layers):
                item = QListWidgetItem(self._thumb(layer), layer.name)
                item.setToolTip(f"{layer.name}: {layer.width} × {layer.height} px at ({layer.x}, {layer.y}). "
                                f"Double-click to rename.")
                item.setData(ROLE, ("layer", layer.uid))
                flags = Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsUserCheckable | Qt.ItemIsEditable
                item.setFlags(flags)
                item.setCheckState(Qt.Checked if layer.visible else Qt.Unchecked)
                self.list.addItem(item)
        self._filling = False
        rows = [self.list.item(r).data(ROLE) for r in range(self.list.count())]
        if keep in rows:
            self.list.setCurrentRow(rows.index(keep))
        elif doc is not None and len(doc.layers) > 1:
            self.select_layer(doc.layers[-1].uid)
        elif rows:
            self.list.setCurrentRow(len(rows) - 1)
        self._selection_changed()

    def _thumb(self, layer) -> QIcon:
        cached = self._thumbs.get(layer.uid)
        if cached is None or cached[0] != id(layer.rgb):
            cached = (id(layer.rgb), QIcon(self._render_thumb(layer)))
            self._thumbs[layer.uid] = cached
        return cached[1]

    def _render_thumb(self, layer) -> QPixmap:
        """The layer in the frame of the whole image, over a dark checkerboard, so a small
        result layer shows where it sits."""
        doc = self.document
        if layer.kind == IMAGE and layer.alpha is None:
            return thumbnail_pixmap(layer.rgb, layer.alpha, THUMB)
        scale = THUMB / max(doc.width, doc.height)
        w, h = max(1, round(doc.width * scale)), max(1, round(doc.height * scale))
        pixmap = QPixmap(w, h)
        pixmap.fill(QColor("#3a3d42"))
        painter = QPainter(pixmap)
        for y in range(0, h, 4):
            for x in range((y // 4) % 2 * 4, w, 8):
                painter.fillRect(x, y, 4, 4, QColor("#2b2e33"))
        size = max(1, round(THUMB * max(layer.width, layer.height) / max(doc.width, doc.height)))
        content = thumbnail_pixmap(layer.rgb, layer.alpha, max(size, 2))
        target = QRectF(layer.x * scale, layer.y * scale, max(layer.width * scale, 2), max(layer.height * scale, 2))
        painter.setRenderHint(QPainter.SmoothPixmapTransform, True)
        painter.drawPixmap(target, content, QRectF(content.rect()))
        painter.end()
        return pixmap

    def _masks_changed(self) -> None:
        """A mask's look changed (update its row) or the set of masks changed (rebuild)."""
        rows = {self.list.item(r).data(ROLE)[1]: self.list.item(r) for r in range(self.list.count())
                if self.list.item(r).data(ROLE)[0] == "mask"}
        if set(rows) != set(self.document.masks):
            self.rebuild()
            return
        self._filling = True
        for key, mask in self.document.masks.items():
            rows[key].setCheckState(Qt.Checked if mask.visible else Qt.Unchecked)
            rows[key].setIcon(icon("mdi6.selection-ellipse", "#%02x%02x%02x" % mask.color))
        self._filling = False
        sel = self.selected()
        if sel is not None and sel[0] == "mask":
            self._show_opacity(self.document.masks[sel[1]].opacity)

    def _pixels_changed(self, uid: int, _rect) -> None:
        self._stale.add(uid)
        self._thumb_timer.start()

    def _refresh_thumbs(self) -> None:
        stale, self._stale = self._stale, set()
        if self.document is None:
            return
        alive = {layer.uid: layer for layer in self.document.layers}
        for row in range(self.list.count()):
            kind, ident = self.list.item(row).data(ROLE)
            if kind == "layer" and ident in stale and ident in alive:
                self.list.item(row).setIcon(self._thumb(alive[ident]))

    def _layer_changed(self, uid: int) -> None:
        layer = self.document.layer(uid)
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ROLE) == ("layer", uid):
                self._filling = True
                item.setText(layer.name)
                item.setCheckState(Qt.Checked if layer.visible else Qt.Unchecked)
                self._filling = False
        if self.selected() == ("layer", uid):
            self._show_opacity(layer.opacity)

    # -- user actions -------------------------------------------------------------------------
    def _item_changed(self, item: QListWidgetItem) -> None:
        if self._filling or self.document is None:
            return
        kind, ident = item.data(ROLE)
        visible = item.checkState() == Qt.Checked
        if kind == "mask":
            if self.document.masks[ident].visible != visible:
                self.mask_visibility_toggled.emit(ident, visible)
            return
        layer = self.document.layer(ident)
        if layer.visible != visible:
            self.visibility_toggled.emit(ident, visible)
        name = item.text().strip()
        if name and name != layer.name:
            self.renamed.emit(ident, name)
        elif not name:
            self._filling = True
            item.setText(layer.name)
            self._filling = False

    def _selection_changed(self) -> None:
        if self._filling:
            return
        sel = self.selected()
        doc = self.document
        is_layer = sel is not None and sel[0] == "layer"
        is_result = is_layer and doc.layer(sel[1]).kind != IMAGE
        self.delete_button.setEnabled(is_result)
        self.merge_button.setEnabled(is_result)
        self.opacity.setEnabled(sel is not None)
        if sel is None:
            self._show_opacity(None)
            return
        if sel[0] == "mask":
            self._show_opacity(doc.masks[sel[1]].opacity)
            self.mask_selected.emit(sel[1])
        else:
            self._show_opacity(doc.layer(sel[1]).opacity)

    def _show_opacity(self, opacity: float | None) -> None:
        """The selected row's opacity; None (nothing selected): the slider rests at 0 and reads "—"."""
        self.opacity.blockSignals(True)
        self.opacity.setValue(0 if opacity is None else round(opacity * 100))
        self.opacity.blockSignals(False)
        self.opacity_label.setText("—" if opacity is None else f"{round(opacity * 100)} %")

    def _opacity_moved(self, value: int) -> None:
        self.opacity_label.setText(f"{value} %")
        sel = self.selected()
        if sel is None:
            return
        if sel[0] == "mask":
            self.mask_opacity_changed.emit(sel[1], value / 100.0)
        else:
            self.opacity_changed.emit(sel[1], value / 100.0)

    def _emit_for_layer(self, signal) -> None:
        sel = self.selected()
        if sel is not None and sel[0] == "layer":
            signal.emit(sel[1])
