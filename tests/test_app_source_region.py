"""The Source region tool: paints its own green mask (not the hole), shortcut G, cleared from
the Tools menu in one undo step, and passed to the engine as InpaintOptions.source."""
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from test_app_support import drag, photo, window  # noqa: F401 (fixture)

from inpaint_studio.app.editor.document import Document
from inpaint_studio.app.guidance.source_region import SOURCE, SOURCE_COLOR
from inpaint_studio.engine import InpaintResult


def open_doc(window, w=160, h=120):
    window.set_document(Document.from_image(photo(w, h)))
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn(w / 2, h / 2)


def test_source_tool_paints_the_source_mask_not_the_hole(window):
    open_doc(window)
    window.brush_size = 10
    window.canvas.setFocus()
    QTest.keyClick(window, Qt.Key_G)
    assert window.tool.id == "source" and window.tool.uses_brush
    drag(window, [(20, 20), (60, 20)])
    doc = window.document
    source = doc.masks[SOURCE]
    assert source.data[20, 40] == 255 and source.data[60, 100] == 0
    assert doc.mask().data.max() == 0                       # the hole mask is untouched
    assert source.color == SOURCE_COLOR and source.color != doc.mask().color
    assert window.canvas.mask_items[SOURCE].isVisible()
    drag(window, [(40, 20), (40, 21)], button=Qt.RightButton)  # right button erases
    assert source.data[20, 40] == 0 and source.data[20, 22] == 255
    window.document.undo_stack.undo()
    assert source.data[20, 40] == 255


def test_clear_source_from_the_tools_menu_is_one_undo_step(window):
    open_doc(window)
    action = window.actions["clear_source"]
    assert action in window.menus["tools"].actions()
    window.set_tool("source")
    drag(window, [(20, 20), (60, 40)])
    painted = window.document.masks[SOURCE].data.copy()
    assert painted.any()
    action.trigger()
    assert not window.document.masks[SOURCE].data.any()
    window.document.undo_stack.undo()
    assert np.array_equal(window.document.masks[SOURCE].data, painted)


class Recorder:
    def __init__(self):
        self.options = []

    def inpaint(self, image, mask, options=None, progress=None, cancel=None):
        self.options.append(options)
        out = image.copy()
        out[mask > 0] = 7
        return InpaintResult(out, True, "done")


def test_the_painted_source_reaches_the_engine(window, qtbot):
    open_doc(window)
    engine = Recorder()
    window.inpainting.engine_factory = lambda *_: engine
    window.set_tool("rect")
    drag(window, [(70, 40), (100, 80)])                     # the hole
    with qtbot.waitSignal(window.result_added, timeout=10_000):
        window.inpainting.inpaint()
    assert engine.options[-1].source is None                # nothing painted: copy from anywhere
    window.document.undo_stack.undo()
    window.set_tool("source")
    drag(window, [(10, 10), (30, 10)])
    with qtbot.waitSignal(window.result_added, timeout=10_000):
        window.inpainting.inpaint()
    sent = engine.options[-1].source
    assert sent is not None and np.array_equal(sent, window.document.masks[SOURCE].data)
    assert sent[10, 20] and not sent[60, 85]
