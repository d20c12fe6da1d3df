"""Scratch and dust finder panel: the detector runs on a worker thread, its proposal is a preview
overlay (the mask is untouched until Apply), Apply is one undo step, newer settings cancel older
searches, the slow analysis is built once per choice of kinds, Cancel changes nothing."""
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from test_app_support import window  # noqa: F401 (fixture)

from inpaint_studio.app.restoration import scratch_finder
from inpaint_studio.app.editor.document import Document
from inpaint_studio.app.restoration.scratch_finder import PREVIEW_KEY
from inpaint_studio.engine import Cancelled
from inpaint_studio.restoration import scratch_finder as finder
from inpaint_studio.restoration.scratch_finder import find_defects
from inpaint_studio.imaging import read_image

PHOTOS = Path(__file__).parent / "data" / "photos"


def scratched_photo():
    """A real photo (the cat), 320 px wide, with one thin bright scratch drawn across it."""
    img = read_image(PHOTOS / "chelsea.jpg").rgb
    h, w = img.shape[:2]
    img = cv2.resize(img, (320, round(h * 320 / w)), interpolation=cv2.INTER_AREA)
    scratch = np.zeros(img.shape[:2], np.uint8)
    cv2.line(scratch, (40, 30), (250, 190), 255, 2)
    img[scratch > 0] = (245, 245, 240)
    return img, scratch > 0


def open_doc(window, image):
    window.set_document(Document.from_image(image))
    return window.document


def test_proposal_previews_then_apply_is_one_undo_step(window, qtbot):
    image, scratch = scratched_photo()
    doc = open_doc(window, image)
    assert window.actions["scratch_finder"] in window.menus["tools"].actions()
    window.actions["scratch_finder"].trigger()
    panel = window.features["scratch_finder"].panel
    assert panel.isVisible() and not panel.isModal()
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    proposal = panel.proposal.copy()
    np.testing.assert_array_equal(proposal, find_defects(image, 0.5))  # the visible image, the slider's value
    assert PREVIEW_KEY in window.canvas.overlays and doc.mask().data.max() == 0  # a preview only
    assert (proposal[scratch] > 0).mean() > 0.5                             # most of the scratch is found
    assert (proposal > 0).mean() < 0.05
    panel.apply_button.click()
    assert window.features["scratch_finder"].panel is None and PREVIEW_KEY not in window.canvas.overlays
    np.testing.assert_array_equal(doc.mask().data, proposal)
    doc.undo_stack.undo()                                                   # one step back: empty again
    assert doc.mask().data.max() == 0
    doc.undo_stack.redo()
    np.testing.assert_array_equal(doc.mask().data, proposal)


def test_apply_adds_to_what_is_painted_and_cancel_changes_nothing(window, qtbot):
    image, _ = scratched_photo()
    doc = open_doc(window, image)
    doc.mask().data[0:10, 0:10] = 255
    panel = window.features["scratch_finder"].open()
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    panel.reject()
    assert PREVIEW_KEY not in window.canvas.overlays and doc.mask().data.sum() == 100 * 255
    panel = window.features["scratch_finder"].open()
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    proposal = panel.proposal.copy()
    panel.apply()
    assert doc.mask().data[0:10, 0:10].min() == 255
    np.testing.assert_array_equal(doc.mask().data[proposal > 0], 255)


def test_new_settings_cancel_the_running_search_off_the_gui_thread(window, qtbot, monkeypatch):
    built, masks, cancelled = [], [], []
    release = threading.Event()

    class Fake:
        def __init__(self, image, kinds=(), max_side=None, progress=None, cancel=None):
            built.append((tuple(kinds), threading.get_ident()))
            progress(0.5, "half way")
            if len(built) == 1:           # the first analysis runs until the kinds change
                while not cancel():
                    time.sleep(0.01)
                cancelled.append(tuple(kinds))
                raise Cancelled()
            self.shape = image.shape[:2]

        def mask(self, sensitivity, progress=None, cancel=None):
            masks.append((sensitivity, threading.get_ident()))
            if sensitivity == 0.8:        # holds the worker while the slider is dragged on
                release.wait(10)
                if cancel():
                    raise Cancelled()
            mask = np.zeros(self.shape, np.uint8)
            mask[10:20, 10:10 + round(sensitivity * 100)] = 255
            return mask

    monkeypatch.setattr(scratch_finder.finder, "DefectAnalysis", Fake)
    image, _ = scratched_photo()
    open_doc(window, image)
    panel = window.features["scratch_finder"].open()
    qtbot.waitUntil(lambda: bool(built), timeout=5_000)
    panel.dust_box.setChecked(False)
    qtbot.waitUntil(lambda: cancelled == [("scratches", "dust")], timeout=5_000)
    panel.slider.setValue(80)
    qtbot.waitUntil(lambda: bool(masks), timeout=10_000)
    for value in range(81, 91):           # dragged on while the mask at 0.8 is being made
        panel.slider.setValue(value)
    release.set()
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=10_000)
    assert [kinds for kinds, _ in built] == [("scratches", "dust"), ("scratches",)]
    assert [s for s, _ in masks] == [0.8, 0.9]          # latest wins: 0.81-0.89 were never made
    assert threading.get_ident() not in {t for _, t in built + masks}
    assert panel.proposal[15].sum() == 90 * 255 and panel.apply_button.isEnabled()
    window.set_document(Document.from_image(image))    # another image closes the panel
    assert window.features["scratch_finder"].panel is None and PREVIEW_KEY not in window.canvas.overlays


def test_slider_reuses_one_analysis_per_choice_of_kinds(window, qtbot, monkeypatch):
    image, _ = scratched_photo()
    both, lines = ("scratches", "dust"), ("scratches",)
    expected = {(s, k): find_defects(image, s, kinds=k)   # before counting: find_defects builds one too
                for s, k in ((0.2, both), (0.85, both), (0.35, both), (0.35, lines), (0.6, lines))}
    built = []

    class Counted(finder.DefectAnalysis):
        def __init__(self, *args, **kw):
            built.append(tuple(args[1]))
            super().__init__(*args, **kw)

    monkeypatch.setattr(scratch_finder.finder, "DefectAnalysis", Counted)
    open_doc(window, image)
    panel = window.features["scratch_finder"].open()
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    for value in (20, 85, 35):
        panel.slider.setValue(value)
        qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
        np.testing.assert_array_equal(panel.proposal, expected[value / 100, both])
    assert built == [both]                               # built once, every slider move only re-masks
    panel.dust_box.setChecked(False)
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    np.testing.assert_array_equal(panel.proposal, expected[0.35, lines])
    panel.slider.setValue(60)
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    np.testing.assert_array_equal(panel.proposal, expected[0.6, lines])
    assert built == [both, lines]                        # rebuilt only for the new kinds
    panel.reject()
    panel = window.features["scratch_finder"].open()           # a new panel (defaults) analyses afresh
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    assert built == [both, lines, both]


def test_panel_sits_at_the_side_and_explains_the_sensitivity(window, qtbot):
    """Issue 16: the panel no longer covers the middle of the photo: it is a dock at the side of
    the window, tabbed with the Inpainting panel; its text says what the slider's value finds."""
    from PySide6.QtCore import QPoint, QRect, Qt
    from PySide6.QtWidgets import QDockWidget

    image, _ = scratched_photo()
    open_doc(window, image)
    panel = window.features["scratch_finder"].open()
    dock = panel.dock
    assert isinstance(dock, QDockWidget) and window.dockWidgetArea(dock) == Qt.RightDockWidgetArea
    assert dock in window.tabifiedDockWidgets(window.inpaint_dock) and dock.isVisible()
    canvas = window.canvas
    on_window = QRect(canvas.mapTo(window, QPoint(0, 0)), canvas.size())
    assert not dock.geometry().intersects(on_window)             # the photo stays in view
    text = panel.meaning.text()
    assert "1.5x" in text and "30 px" in text and "parallel" in text
    panel.slider.setValue(100)
    assert "0.9x" in panel.meaning.text() and "19 px" in panel.meaning.text()
    dock.close()                                                # its X cancels
    assert window.features["scratch_finder"].panel is None and PREVIEW_KEY not in window.canvas.overlays
