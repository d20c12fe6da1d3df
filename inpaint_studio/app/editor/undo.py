"""Undo commands. Mask edits keep only the changed tiles of the mask (before and after), so a
stroke on a 24-megapixel photo costs kilobytes, not the whole mask."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QUndoCommand

from .document import Document
from ..document.layers import IMAGE, Layer, merge_down

TILE = 128


class Patch:
    """The tiles of an array that differ between two states: (y, x, before, after)."""

    def __init__(self, tiles: list[tuple[int, int, np.ndarray, np.ndarray]]):
        self.tiles = tiles

    def __bool__(self) -> bool:
        return bool(self.tiles)

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes + a.nbytes for _, _, b, a in self.tiles)

    @property
    def rect(self) -> tuple[int, int, int, int]:
        x0 = min(x for _y, x, _b, _a in self.tiles)
        y0 = min(y for y, _x, _b, _a in self.tiles)
        x1 = max(x + b.shape[1] for _y, x, b, _a in self.tiles)
        y1 = max(y + b.shape[0] for y, _x, b, _a in self.tiles)
        return x0, y0, x1 - x0, y1 - y0

    @classmethod
    def between(cls, before: np.ndarray, after: np.ndarray) -> "Patch":
        """Changed tiles between two arrays of the same shape."""
        tiles = []
        h, w = before.shape[:2]
        for y in range(0, h, TILE):
            for x in range(0, w, TILE):
                b, a = before[y:y + TILE, x:x + TILE], after[y:y + TILE, x:x + TILE]
                if not np.array_equal(b, a):
                    tiles.append((y, x, b.copy(), a.copy()))
        return cls(tiles)

    def apply(self, array: np.ndarray, state: str) -> None:
        pick = 2 if state == "before" else 3
        for tile in self.tiles:
            y, x, data = tile[0], tile[1], tile[pick]
            array[y:y + data.shape[0], x:x + data.shape[1]] = data


class MaskEdit:
    """Records a mask edit as it happens: call touch(rect) before writing into a rectangle; the
    first touch of each tile saves its old content. finish() -> Patch of the changed tiles."""

    def __init__(self, mask: np.ndarray):
        self.mask = mask
        self._saved: dict[tuple[int, int], np.ndarray] = {}

    def touch(self, rect: tuple[int, int, int, int] | None) -> None:
        if rect is None:
            return
        x, y, w, h = rect
        for ty in range(y // TILE, (y + h - 1) // TILE + 1):
            for tx in range(x // TILE, (x + w - 1) // TILE + 1):
                if (ty, tx) not in self._saved:
                    self._saved[ty, tx] = self.mask[ty * TILE:(ty + 1) * TILE, tx * TILE:(tx + 1) * TILE].copy()

    def touch_all(self) -> None:
        self.touch((0, 0, self.mask.shape[1], self.mask.shape[0]))

    def finish(self) -> Patch:
        tiles = []
        for (ty, tx), old in sorted(self._saved.items()):
            y, x = ty * TILE, tx * TILE
            new = self.mask[y:y + old.shape[0], x:x + old.shape[1]]
            if not np.array_equal(old, new):
                tiles.append((y, x, old, new.copy()))
        self._saved.clear()
        return Patch(tiles)


class MaskCommand(QUndoCommand):
    """A finished mask edit (already applied when pushed)."""

    def __init__(self, doc: Document, key: str, patch: Patch, text: str, parent=None):
        super().__init__(text, parent)
        self.doc, self.key, self.patch = doc, key, patch
        self._first = True

    def redo(self):
        if self._first:            # the edit is already in the mask and on screen
            self._first = False
            return
        self.patch.apply(self.doc.mask(self.key).data, "after")
        self.doc.notify_mask(self.key, self.patch.rect)

    def undo(self):
        self.patch.apply(self.doc.mask(self.key).data, "before")
        self.doc.notify_mask(self.key, self.patch.rect)


class AddLayerCommand(QUndoCommand):
    def __init__(self, doc: Document, layer: Layer, index: int | None = None, text="Add layer", parent=None):
        super().__init__(text, parent)
        self.doc, self.layer = doc, layer
        self.index = len(doc.layers) if index is None else index

    def redo(self):
        self.doc.insert_layer(self.index, self.layer)

    def undo(self):
        self.doc.remove_layer(self.layer.uid)


class RemoveLayerCommand(QUndoCommand):
    def __init__(self, doc: Document, uid: int, parent=None):
        super().__init__(f"Delete layer “{doc.layer(uid).name}”", parent)
        self.doc, self.uid = doc, uid
        self.index, self.layer = doc.index_of(uid), None

    def redo(self):
        self.index, self.layer = self.doc.remove_layer(self.uid)

    def undo(self):
        self.doc.insert_layer(self.index, self.layer)


class LayerPropsCommand(QUndoCommand):
    """Rename, show/hide, opacity. Consecutive opacity changes of one layer merge into one step."""
    MERGE_ID = 0x1A7E

    def __init__(self, doc: Document, uid: int, text: str, **props):
        super().__init__(text)
        self.doc, self.uid, self.new = doc, uid, props
        layer = doc.layer(uid)
        self.old = {k: getattr(layer, k) for k in props}

    def id(self):
        return self.MERGE_ID if set(self.new) == {"opacity"} else -1

    def mergeWith(self, other):
        if other.uid != self.uid or set(other.new) != {"opacity"}:
            return False
        self.new = other.new
        return True

    def redo(self):
        self.doc.set_layer_props(self.uid, **self.new)

    def undo(self):
        self.doc.set_layer_props(self.uid, **self.old)


class MergeDownCommand(QUndoCommand):
    """Paint a layer into the one below. For the (large) image layer only the changed tiles of
    its pixels are kept; a result layer below (a small crop) is kept whole."""

    def __init__(self, doc: Document, uid: int, parent=None):
        upper = doc.layer(uid)
        super().__init__(f"Merge “{upper.name}” down", parent)
        self.doc, self.upper = doc, upper
        self.index = doc.index_of(uid)
        lower = doc.layers[self.index - 1]
        merged = merge_down(upper, lower)
        self.lower_uid = lower.uid
        if lower.kind == IMAGE:          # its alpha is never changed by a merge
            self.rgb_patch, self.old_lower = Patch.between(lower.rgb, merged.rgb), None
        else:
            self.rgb_patch, self.old_lower = None, lower
        self._merged = merged      # dropped after the first redo

    def _patched(self, state: str) -> Layer:
        lower = self.doc.layer(self.lower_uid)
        rgb = lower.rgb.copy()
        self.rgb_patch.apply(rgb, state)
        return lower.with_pixels(rgb, lower.alpha)

    def redo(self):
        merged = self._merged if self._merged is not None else (
            self._patched("after") if self.old_lower is None else merge_down(self.upper, self.old_lower))
        self._merged = None
        self.doc.layers.pop(self.index)
        self.doc.replace_layer(merged)

    def undo(self):
        lower = self.old_lower if self.old_lower is not None else self._patched("before")
        self.doc.layers.insert(self.index, self.upper)
        self.doc.replace_layer(lower)
