"""The open document: layers (bottom first), masks, file paths and its undo stack.

Methods here change state and emit signals; they never push undo commands themselves. Undo
commands (undo.py) call them, so every user-visible edit goes through the stack.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QUndoStack

from ..document.layers import HOLE, IMAGE, Layer, MaskLayer, flatten


class Document(QObject):
    layers_changed = Signal()            # a layer was added, removed or replaced
    layer_changed = Signal(int)          # uid: name, visibility or opacity changed
    layer_pixels_changed = Signal(int, QRect)  # uid, rectangle (image px): same layer, new pixels there
    mask_changed = Signal(str, QRect)    # key, changed rectangle in image pixels
    masks_changed = Signal()             # a mask was added/removed or its colour/opacity changed
    active_mask_changed = Signal(str)

    def __init__(self, width: int, height: int, parent: QObject | None = None):
        super().__init__(parent)
        self.width, self.height = int(width), int(height)
        self.layers: list[Layer] = []
        self.masks: dict[str, MaskLayer] = {}
        self.active_mask_key = HOLE
        self.source_path: Path | None = None   # the photo that was opened: never overwritten silently
        self.project_path: Path | None = None  # where Save writes
        self.info: dict = {}
        self.undo_stack = QUndoStack(self)
        self.restored = False                  # came from a recovery file: dirty until saved
        self.unsaved_title = "Untitled"        # the title while it has no file (a sample's name)
        self.add_mask(MaskLayer(HOLE, "Mask", np.zeros((self.height, self.width), np.uint8)))

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_image(cls, rgb: np.ndarray, alpha: np.ndarray | None = None, name: str = "Image",
                   source_path: Path | None = None, info: dict | None = None) -> "Document":
        doc = cls(rgb.shape[1], rgb.shape[0])
        doc.layers.append(Layer(name=name, rgb=np.ascontiguousarray(rgb), alpha=alpha, kind=IMAGE))
        doc.source_path = Path(source_path) if source_path else None
        doc.info = dict(info or {})
        return doc

    @classmethod
    def from_layers(cls, width: int, height: int, layers: list[Layer], masks: list[MaskLayer]) -> "Document":
        doc = cls(width, height)
        doc.layers = list(layers)
        for mask in masks:
            doc.masks[mask.key] = mask
        return doc

    # -- state --------------------------------------------------------------------------------
    @property
    def title(self) -> str:
        path = self.project_path or self.source_path
        return path.name if path else self.unsaved_title

    def is_dirty(self) -> bool:
        return self.restored or not self.undo_stack.isClean()

    def mark_saved(self) -> None:
        self.restored = False
        self.undo_stack.setClean()

    def image_layer(self) -> Layer:
        return self.layers[0]

    def flattened(self) -> tuple[np.ndarray, np.ndarray | None]:
        return flatten(self.layers, self.width, self.height)

    # -- layers -------------------------------------------------------------------------------
    def index_of(self, uid: int) -> int:
        for i, layer in enumerate(self.layers):
            if layer.uid == uid:
                return i
        raise KeyError(uid)

    def layer(self, uid: int) -> Layer:
        return self.layers[self.index_of(uid)]

    def insert_layer(self, index: int, layer: Layer) -> None:
        self.layers.insert(index, layer)
        self.layers_changed.emit()

    def remove_layer(self, uid: int) -> tuple[int, Layer]:
        index = self.index_of(uid)
        layer = self.layers.pop(index)
        self.layers_changed.emit()
        return index, layer

    def replace_layer(self, layer: Layer) -> Layer:
        """Swap in `layer` for the one with the same uid (new pixels); returns the old one."""
        index = self.index_of(layer.uid)
        old, self.layers[index] = self.layers[index], layer
        self.layers_changed.emit()
        return old

    def set_layer_pixels(self, layer: Layer, rect: tuple[int, int, int, int]) -> None:
        """Swap in `layer` for the one with its uid: the same size and place, pixels that differ
        only inside rect (x, y, w, h in image pixels). Views repaint that rectangle only, so a
        brush dab on a large photo costs what the dab costs."""
        index = self.index_of(layer.uid)
        if self.layers[index].rect != layer.rect:
            raise ValueError("set_layer_pixels keeps a layer's size and place; use replace_layer")
        self.layers[index] = layer
        self.layer_pixels_changed.emit(layer.uid, QRect(*rect))

    def set_layer_props(self, uid: int, **props) -> None:
        layer = self.layer(uid)
        for key, value in props.items():
            setattr(layer, key, value)
        self.layer_changed.emit(uid)

    # -- masks --------------------------------------------------------------------------------
    def add_mask(self, mask: MaskLayer) -> None:
        self.masks[mask.key] = mask
        self.masks_changed.emit()

    def mask(self, key: str = HOLE) -> MaskLayer:
        return self.masks[key]

    @property
    def active_mask(self) -> MaskLayer:
        return self.masks[self.active_mask_key]

    def set_active_mask(self, key: str) -> None:
        if key not in self.masks:
            raise KeyError(key)
        if key != self.active_mask_key:
            self.active_mask_key = key
            self.active_mask_changed.emit(key)

    def set_mask_look(self, key: str, color=None, opacity=None, visible=None) -> None:
        mask = self.masks[key]
        if color is not None:
            mask.color = tuple(int(c) for c in color)
        if opacity is not None:
            mask.opacity = float(opacity)
        if visible is not None:
            mask.visible = bool(visible)
        self.masks_changed.emit()

    def notify_mask(self, key: str, rect: tuple[int, int, int, int] | None = None) -> None:
        x, y, w, h = rect if rect else (0, 0, self.width, self.height)
        self.mask_changed.emit(key, QRect(x, y, w, h))
