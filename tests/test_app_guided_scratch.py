"""Scratch and dust finder panel: the detector runs on a worker thread, its proposal is a preview
overlay (the mask is untouched until Apply), Apply is one undo step, newer settings cancel older
searches, Cancel changes nothing."""
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from test_app_support import window  # noqa: F401 (fixture)

from inpaint_studio.app import scratch_finder
from inpaint_studio.app.document import Document
from inpaint_studio.app.scratch_finder import PREVIEW_KEY
from inpaint_studio.engine import Cancelled
from inpaint_studio.engine.scratches import find_defects
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
    assert window.actions["find_scratches"] in window.menus["tools"].actions()
    window.actions["find_scratches"].trigger()
    panel = window.scratch_finder
    assert panel.isVisible() and not panel.isModal()
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    proposal = panel.proposal.copy()
    np.testing.assert_array_equal(proposal, find_defects(image, 0.5))  # the visible image, the slider's value
    assert PREVIEW_KEY in window.canvas.overlays and doc.mask().data.max() == 0  # a preview only
    assert (proposal[scratch] > 0).mean() > 0.5                             # most of the scratch is found
    assert (proposal > 0).mean() < 0.05
    panel.apply_button.click()
    assert window.scratch_finder is None and PREVIEW_KEY not in window.canvas.overlays
    np.testing.assert_array_equal(doc.mask().data, proposal)
    doc.undo_stack.undo()                                                   # one step back: empty again
    assert doc.mask().data.max() == 0
    doc.undo_stack.redo()
    np.testing.assert_array_equal(doc.mask().data, proposal)


def test_apply_adds_to_what_is_painted_and_cancel_changes_nothing(window, qtbot):
    image, _ = scratched_photo()
    doc = open_doc(window, image)
    doc.mask().data[0:10, 0:10] = 255
    panel = scratch_finder.open_finder(window)
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    panel.reject()
    assert PREVIEW_KEY not in window.canvas.overlays and doc.mask().data.sum() == 100 * 255
    panel = scratch_finder.open_finder(window)
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=30_000)
    proposal = panel.proposal.copy()
    panel.apply()
    assert doc.mask().data[0:10, 0:10].min() == 255
    np.testing.assert_array_equal(doc.mask().data[proposal > 0], 255)


def test_new_settings_cancel_the_running_search_off_the_gui_thread(window, qtbot, monkeypatch):
    calls, cancelled = [], []

    def fake(image, sensitivity, kinds=(), max_side=None, progress=None, cancel=None):
        calls.append((sensitivity, tuple(kinds), threading.get_ident()))
        progress(0.5, "half way")
        if sensitivity == 0.5:            # the first search runs until it is cancelled
            while not cancel():
                time.sleep(0.01)
            cancelled.append(sensitivity)
            raise Cancelled()
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[10:20, 10:10 + int(sensitivity * 100)] = 255
        return mask

    monkeypatch.setattr(scratch_finder.scratches, "find_defects", fake)
    image, _ = scratched_photo()
    open_doc(window, image)
    panel = scratch_finder.open_finder(window)
    qtbot.waitUntil(lambda: bool(calls), timeout=5_000)
    panel.dust_box.setChecked(False)
    panel.slider.setValue(80)
    qtbot.waitUntil(lambda: panel.proposal is not None, timeout=10_000)
    assert cancelled == [0.5]
    assert calls[-1][:2] == (0.8, ("scratches",)) and calls[-1][2] != threading.get_ident()
    assert panel.proposal[15].sum() == 80 * 255 and panel.apply_button.isEnabled()
    window.set_document(Document.from_image(image))    # another image closes the panel
    assert window.scratch_finder is None and PREVIEW_KEY not in window.canvas.overlays
