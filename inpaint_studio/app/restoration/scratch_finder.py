"""Scratch and dust finder: Tools > "Find Scratches and Dust…".

A panel docked at the side of the window (beside the Inpainting panel, so the photo stays in
view) with a sensitivity slider, what that sensitivity finds in words, and which kinds to look
for. The slow,
sensitivity-independent part of the finder (restoration/scratch_finder.py: DefectAnalysis) runs once per
choice of kinds on a worker thread, with progress and cancel, and is kept while the panel is open;
a slider move then only asks it for `mask(s)`, also off the GUI thread, newest request first. The
proposal is shown as a preview overlay (cyan) over the photo. Apply adds it to the hole mask as one
undo step, so the user reviews and edits it with the normal tools before inpainting; Cancel leaves
the mask as it was.
"""
from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QCheckBox, QDialogButtonBox, QDockWidget, QHBoxLayout, QLabel, QProgressBar,
                               QSlider, QVBoxLayout, QWidget)

from ...engine import Cancelled, InpaintError
from ...restoration import scratch_finder as finder
from ..editor.canvas import MaskItem
from ..document.layers import HOLE, MaskLayer, bounding_rect
from ..ui.theme import icon
from ..editor.undo import MaskEdit

PREVIEW_KEY = "scratch-preview"
PREVIEW_COLOR = (40, 220, 255)
DEBOUNCE_MS = 250        # after a kinds change, before the analysis is rebuilt
ANALYSIS_SHARE = 0.85    # of the progress bar, when the analysis has to be built first


class _Signals(QObject):
    progress = Signal(int, float, str)   # generation, fraction, message
    found = Signal(int, object)          # generation, mask uint8 HxW
    failed = Signal(int, str)


class _Finder:
    """The panel's worker side. Keeps one DefectAnalysis (for the kinds last asked for) and serves
    mask requests on a pool thread, one thread at a time. Latest wins: a new request replaces the
    one still waiting and cancels the mask being computed; the analysis being built is cancelled
    only when the kinds change (a slider move does not restart it)."""

    def __init__(self, image: np.ndarray, signals: _Signals):
        self.image, self.signals = image, signals
        self.analysis: finder.DefectAnalysis | None = None   # touched by the worker only
        self.kinds: tuple[str, ...] | None = None                # what `analysis` was built for
        self._lock = threading.Lock()
        self._pending: tuple | None = None   # (generation, sensitivity, kinds) not yet taken
        self._latest: tuple = (None, None)   # generation and kinds of the newest request
        self._running = False
        self._closed = False

    def request(self, generation: int, sensitivity: float, kinds: tuple[str, ...]) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending = (generation, sensitivity, kinds)
            self._latest = (generation, kinds)
            start, self._running = not self._running, True
        if start:
            QThreadPool.globalInstance().start(self._drain)

    def cancel(self) -> None:
        """Drop the waiting request and cancel whatever is running (the analysis too)."""
        with self._lock:
            self._pending, self._latest = None, (None, None)

    def close(self) -> None:
        with self._lock:
            self._closed, self._pending, self._latest = True, None, (None, None)
            if not self._running:
                self.analysis = None

    def _drain(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None or self._closed:
                    self._running = False
                    if self._closed:
                        self.analysis = None
                    return
            self._serve(*job)

    def _serve(self, generation: int, sensitivity: float, kinds: tuple[str, ...]) -> None:
        def progress(lo: float, hi: float, latest: bool):
            def emit(f, m):
                # The analysis serves whichever request is newest, so its progress is reported as theirs.
                g = self._latest[0] if latest else generation
                if g is not None:
                    self.signals.progress.emit(g, lo + (hi - lo) * float(f), str(m))
            return emit

        try:
            start = 0.0
            if self.analysis is None or self.kinds != kinds:
                self.analysis = self.kinds = None   # let the old one go before building the next
                self.analysis = finder.DefectAnalysis(
                    self.image, kinds, progress=progress(0.0, ANALYSIS_SHARE, True),
                    cancel=lambda: self._closed or self._latest[1] != kinds)
                self.kinds = kinds
                start = ANALYSIS_SHARE
            mask = self.analysis.mask(sensitivity, progress=progress(start, 1.0, False),
                                      cancel=lambda: self._latest[0] != generation)
        except Cancelled:
            return
        except InpaintError as exc:
            self.signals.failed.emit(generation, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a defect must not take the editor down
            self.signals.failed.emit(generation, f"{type(exc).__name__}: {exc}")
            return
        if self._latest[0] == generation:
            self.signals.found.emit(generation, np.ascontiguousarray(mask, dtype=np.uint8))


class FinderDock(QDockWidget):
    """The dock the panel lives in; closing it (its X) cancels like the Cancel button."""

    def __init__(self, panel, window):
        super().__init__("Find Scratches and Dust", window)
        self.panel = panel
        self.setObjectName("dock-scratch-finder")
        self.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable)
        self.setWidget(panel)

    def closeEvent(self, event):
        self.panel.reject()
        super().closeEvent(event)


class ScratchFinderPanel(QWidget):
    """The finder's panel for the window's current document, in a dock at the side of the
    window. `proposal` is the latest result for the current settings (None while searching).
    `closed` says it has gone."""

    closed = Signal()

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.doc = window.document
        self.image = self.doc.flattened()[0]
        self.proposal: np.ndarray | None = None
        self.generation = 0
        self._signals = _Signals()  # no parent: a search still running keeps it alive
        self._signals.progress.connect(self._progress)
        self._signals.found.connect(self._found)
        self._signals.failed.connect(self._failed)
        self._finder = _Finder(self.image, self._signals)

        self.setMinimumWidth(260)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        intro = QLabel("Proposes a mask of thin scratches, cracks and dust specks (shown in cyan). "
                       "Apply adds it to the mask; then check it with the brush and eraser and inpaint.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        row = QHBoxLayout()
        row.addWidget(QLabel("Sensitivity"))
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.slider.setToolTip("Low: only obvious defects. High: everything suspicious.")
        self.value_label = QLabel("50")
        self.value_label.setMinimumWidth(28)
        row.addWidget(self.slider, 1)
        row.addWidget(self.value_label)
        layout.addLayout(row)
        self.meaning = QLabel()                 # what this sensitivity finds, in words
        self.meaning.setWordWrap(True)
        self.meaning.setObjectName("hint")
        layout.addWidget(self.meaning)
        self._explain()
        kinds = QHBoxLayout()
        self.scratch_box = QCheckBox("Scratches and cracks")
        self.dust_box = QCheckBox("Dust")
        for box in (self.scratch_box, self.dust_box):
            box.setChecked(True)
            box.toggled.connect(self._kinds_changed)
            kinds.addWidget(box)
        kinds.addStretch(1)
        layout.addLayout(kinds)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.status = QLabel("")
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Apply | QDialogButtonBox.Cancel)
        self.apply_button = self.buttons.button(QDialogButtonBox.Apply)
        self.apply_button.setText("Apply to Mask")
        self.apply_button.clicked.connect(self.apply)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        layout.addStretch(1)
        self.dock = FinderDock(self, window)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.search)
        self.slider.valueChanged.connect(self._sensitivity_changed)

    # -- settings and searching -----------------------------------------------------------------
    @property
    def sensitivity(self) -> float:
        return self.slider.value() / 100.0

    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k, box in (("scratches", self.scratch_box), ("dust", self.dust_box)) if box.isChecked())

    def _sensitivity_changed(self, value: int) -> None:
        # Cheap with the analysis kept: ask at once; a newer value replaces one not yet served.
        self.value_label.setText(str(value))
        self._explain()
        self.search()

    def _explain(self) -> None:
        self.meaning.setText(finder.explain(self.sensitivity, self.image.shape))

    def _kinds_changed(self, *_) -> None:
        # Rebuilds the analysis: cancel the running work now, start after the debounce.
        self._stop_search()
        self.proposal = None
        self.apply_button.setEnabled(False)
        self.status.setText("…")
        self._timer.start(DEBOUNCE_MS)

    def search(self) -> None:
        """Ask for the proposal at the current settings (older requests are cancelled)."""
        self._timer.stop()
        self.proposal = None
        self.apply_button.setEnabled(False)
        self.generation += 1
        self.bar.setValue(0)
        self.status.setText("Looking…")
        self._finder.request(self.generation, self.sensitivity, self.kinds())

    def _stop_search(self) -> None:
        self._finder.cancel()

    def _progress(self, generation: int, fraction: float, message: str) -> None:
        if generation == self.generation:
            self.bar.setValue(round(fraction * 100))
            self.status.setText(message)

    def _found(self, generation: int, mask: np.ndarray) -> None:
        if generation != self.generation or self.doc is not self.window.document:
            return  # an older search, or another image by now
        self.proposal = mask
        self.bar.setValue(100)
        pixels = int(np.count_nonzero(mask))
        share = 100.0 * pixels / mask.size
        self.status.setText(f"Proposed {pixels:,} pixels ({share:.2f} % of the image)." if pixels
                            else "Nothing found at this sensitivity.")
        self.apply_button.setEnabled(pixels > 0)
        item = MaskItem(MaskLayer(PREVIEW_KEY, "Scratch preview", mask, PREVIEW_COLOR, 0.8))
        item.setAcceptedMouseButtons(Qt.NoButton)
        self.window.canvas.add_overlay(PREVIEW_KEY, item)

    def _failed(self, generation: int, message: str) -> None:
        if generation == self.generation:
            self.status.setText("")
            self.window.banner.show_message(f"The scratch finder failed: {message}")

    # -- ending ---------------------------------------------------------------------------------
    def apply(self) -> None:
        """Add the proposal to the hole mask (one undo step) and close."""
        if self.proposal is None or self.doc is not self.window.document:
            return
        hole = self.doc.mask(HOLE).data
        rect = bounding_rect(self.proposal)
        if rect is not None:
            x, y, w, h = rect
            edit = MaskEdit(hole)
            edit.touch(rect)
            region = hole[y:y + h, x:x + w]
            np.maximum(region, self.proposal[y:y + h, x:x + w], out=region)
            self.doc.notify_mask(HOLE, rect)
            self.window.commit_mask_edit(edit, HOLE, "Scratches and dust")
            self.window.statusBar().showMessage(
                "Scratches and dust added to the mask: check it with the brush (B) and eraser (E), "
                "then inpaint.", 8000)
        self._close()

    def reject(self) -> None:
        self._close()

    def _close(self) -> None:
        if self.dock is None:
            return                      # closed already
        self._timer.stop()
        self._finder.close()
        self.window.canvas.remove_overlay(PREVIEW_KEY)
        dock, self.dock = self.dock, None
        if dock is not None:
            self.window.removeDockWidget(dock)
            dock.hide()
            dock.deleteLater()
        self.closed.emit()


class ScratchFinder:
    """The feature: Tools > "Find Scratches and Dust…" and its panel (`panel`, None when closed)."""

    MENU_RANK = 10

    def __init__(self, window):
        self.window = window
        self.panel: ScratchFinderPanel | None = None
        self.action = QAction(icon("mdi6.magnify-scan"), "Find Scratches and Dust…", window)
        self.action.setToolTip("Propose a mask of scratches, cracks and dust on an old photo")
        self.action.triggered.connect(lambda: self.open())
        window.actions["scratch_finder"] = self.action
        window.add_menu_action("tools_end", self.action, self.MENU_RANK)
        self.action.setEnabled(window.document is not None)
        window.document_changed.connect(self._document_changed)

    def open(self) -> ScratchFinderPanel | None:
        """Show the finder for the open document (the one already open is raised)."""
        window, panel = self.window, self.panel
        if window.document is None:
            return None
        if panel is not None and panel.doc is window.document:
            panel.dock.raise_()
            return panel
        if panel is not None:
            panel.reject()
        panel = self.panel = ScratchFinderPanel(window)
        panel.closed.connect(lambda: self._closed(panel))
        # At the side, in a tab beside the Inpainting panel: the photo stays in view.
        window.addDockWidget(Qt.RightDockWidgetArea, panel.dock)
        window.tabifyDockWidget(window.inpaint_dock, panel.dock)
        panel.dock.show()
        panel.dock.raise_()
        panel.search()
        return panel

    def _closed(self, panel) -> None:
        if self.panel is panel:
            self.panel = None

    def _document_changed(self, doc) -> None:
        self.action.setEnabled(doc is not None)
        if self.panel is not None and self.panel.doc is not doc:
            self.panel.reject()  # its proposal belongs to the previous image


def install(window) -> ScratchFinder:
    return ScratchFinder(window)
