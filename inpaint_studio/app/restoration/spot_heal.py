"""The spot healing brush (J): dab or brush over a speck or a short scratch and it is gone.

While the button is down the dab is shown in the mask colour; on release the defect under it,
grown to its rim (restoration/spot_heal.py), is filled with the engine for small holes (Auto when
it is installed, else the best classical engine: restore.small_hole_engine) and written into the
retouching layer (retouch.py): one undo step per dab. The fill runs on a worker thread, one dab
after another, each on what the previous ones left, so the editor never waits for it; on a large
photo only a crop around the dab is read and repainted (`python -m inpaint_studio
spot-heal-bench` measures it).
"""
from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, QThreadPool, Signal

from ...engine import InpaintError
from ...restoration import spot_heal as healing
from ...restoration.restore import small_hole_choices, small_hole_engine
from ..document import mask_ops
from ..document.layers import MaskLayer, bounding_rect
from ..editor.canvas import MaskItem
from ..editor.mask_tools import Tool
from .retouch import RetouchEdit, paint_over, visible_region

DAB_KEY = "spot-heal-dab"
DAB_COLOR = (255, 196, 64)


class _Signals(QObject):
    healed = Signal(object)      # _Job with its result
    failed = Signal(object, str)


class _Job:
    """One dab: the document, the crop box (x0, y0, x1, y1), the dab inside it, the brush size;
    then the crop's pixels, the filled crop, the hole and the time it took."""

    def __init__(self, doc, box, dab: np.ndarray, size: float):
        self.doc, self.box, self.dab, self.size = doc, box, dab, size
        self.image = self.filled = self.hole = None
        self.engine_label = ""
        self.started = time.perf_counter()
        self.seconds = 0.0


class Healer(QObject):
    """Fills dabs one at a time off the GUI thread and writes each into the retouching layer as
    one undo step. `done(seconds)` follows each dab written; `idle` says nothing is waiting."""

    done = Signal(float)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self._queue: list[_Job] = []
        self._running: _Job | None = None
        self._signals = _Signals()          # no parent: a fill still running keeps it alive
        self._signals.healed.connect(self._healed)
        self._signals.failed.connect(self._failed)
        self._lock = threading.Lock()

    @property
    def idle(self) -> bool:
        return self._running is None and not self._queue

    def engine_id(self) -> str:
        """The engine for small holes among those the editor offers."""
        return small_hole_engine(small_hole_choices(self.window.inpainting.engines))

    def submit(self, job: _Job) -> None:
        self._queue.append(job)
        self._next()

    def _next(self) -> None:
        while self._running is None and self._queue:
            job = self._queue.pop(0)
            if job.doc is not self.window.document:
                continue                       # another photo was opened meanwhile
            x0, y0, x1, y1 = job.box
            job.image = visible_region(job.doc, (x0, y0, x1 - x0, y1 - y0))   # what earlier dabs left
            self._running = job
            engine_id, device = self.engine_id(), self.window.inpainting.device
            QThreadPool.globalInstance().start(lambda: self._work(job, engine_id, device))

    def _work(self, job: _Job, engine_id: str, device: str) -> None:
        try:
            engine = self.window.inpainting.make_engine(engine_id, device)
            job.engine_label = engine.label
            job.filled, job.hole = healing.heal(job.image, job.dab, engine, job.size)
        except InpaintError as exc:
            self._signals.failed.emit(job, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a failed dab must not take the editor down
            self._signals.failed.emit(job, f"{type(exc).__name__}: {exc}")
            return
        self._signals.healed.emit(job)

    def _healed(self, job: _Job) -> None:
        self._running = None
        if job.doc is self.window.document and job.hole is not None and job.hole.any():
            self._write(job)
        self._next()

    def _failed(self, job: _Job, message: str) -> None:
        self._running = None
        self.window.banner.show_message(f"Spot healing failed: {message}")
        self._next()

    def _write(self, job: _Job) -> None:
        x, y, w, h = bounding_rect(job.hole)
        x0, y0 = job.box[0] + x, job.box[1] + y
        edit = RetouchEdit(job.doc)
        edit.touch((x0, y0, w, h))
        part = (slice(y0, y0 + h), slice(x0, x0 + w))
        paint_over(edit.rgb[part], edit.alpha[part], job.filled[y:y + h, x:x + w],
                   job.hole[y:y + h, x:x + w].astype(np.float32))
        edit.commit("Spot heal")
        job.seconds = time.perf_counter() - job.started
        pixels = int(job.hole.sum())
        self.window.statusBar().showMessage(
            f"Healed {pixels:,} px with {job.engine_label} in {job.seconds * 1000:.0f} ms", 4000)
        self.done.emit(job.seconds)

    def clear(self) -> None:
        """Drop the dabs not started yet (the document is going away)."""
        self._queue.clear()


class SpotHealTool(Tool):
    id, label, icon, shortcut = "heal", "Spot healing brush", "mdi6.bandage", "J"
    tip = ("Dab or brush over a speck or a short scratch: the defect under it, halo included, is "
           "filled at once from its surroundings. One undo step per dab.")
    uses_brush = True
    rank = 20

    def __init__(self, editor):
        super().__init__(editor)
        self.healer = Healer(editor)
        self._dab: np.ndarray | None = None   # full-size footprint of the stroke, shown while painting
        self._rect: tuple[int, int, int, int] | None = None
        self._pos = None
        self._size = 0.0

    @property
    def busy(self) -> bool:
        return self._pos is not None

    def press(self, pos, button, modifiers):
        doc = self.editor.document
        if button != Qt.LeftButton or doc is None or self._pos is not None:
            return
        if self._dab is None or self._dab.shape != (doc.height, doc.width):
            self._dab = np.zeros((doc.height, doc.width), np.uint8)
        canvas = self.editor.canvas
        if DAB_KEY not in canvas.overlays:
            item = MaskItem(MaskLayer(DAB_KEY, "Spot healing", self._dab, DAB_COLOR, 0.6))
            item.setAcceptedMouseButtons(Qt.NoButton)
            canvas.add_overlay(DAB_KEY, item)
        self._size = float(self.editor.brush_size)
        self._rect = None
        self._pos = pos
        self._segment(pos, pos)

    def move(self, pos, buttons, modifiers):
        if self._pos is not None:
            self._segment(self._pos, pos)

    def release(self, pos, button, modifiers):
        if self._pos is None or button != Qt.LeftButton:
            return
        self._segment(self._pos, pos)
        self._finish()

    def deactivate(self):
        if self._pos is not None:
            self._finish()
        self.healer.clear()

    def _segment(self, a, b) -> None:
        doc = self.editor.document
        rect = mask_ops.stroke_segment(self._dab, (a.x(), a.y()), (b.x(), b.y()), self._size, 1.0)
        self._pos = b
        if rect is None:
            return
        self._rect = rect if self._rect is None else _union(self._rect, rect)
        item = self.editor.canvas.overlays.get(DAB_KEY)
        if item is not None and doc is not None:
            item.update(QRectF(*rect))

    def _finish(self) -> None:
        doc, rect, self._pos = self.editor.document, self._rect, None
        if rect is None or doc is None:
            return
        box = healing.crop_box(rect, self._size, (doc.height, doc.width))
        x0, y0, x1, y1 = box
        dab = self._dab[y0:y1, x0:x1] > 0
        self.healer.submit(_Job(doc, box, dab.copy(), self._size))
        x, y, w, h = rect
        self._dab[y:y + h, x:x + w] = 0
        item = self.editor.canvas.overlays.get(DAB_KEY)
        if item is not None:
            item.update(QRectF(*rect))


def _union(a, b):
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0


def install(window) -> SpotHealTool:
    return window.add_tool(SpotHealTool)
