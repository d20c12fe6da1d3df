"""Mask painting on the real canvas with mouse events, mask operations, undo/redo, zoom."""
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from test_app_support import click, drag, photo, view_point, window  # noqa: F401 (fixture)

from inpaint_studio.app.editor.document import Document


def open_photo(window, w=160, h=120):
    window.set_document(Document.from_image(photo(w, h)))
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn(w / 2, h / 2)
    return window.document.mask().data


def test_brush_stroke_paints_mask_at_image_resolution(window):
    mask = open_photo(window)
    window.set_tool("brush")
    window.brush_size = 10
    window.brush_hardness = 1.0
    drag(window, [(40, 60), (60, 60), (80, 60)])
    assert mask.shape == (120, 160)
    assert mask[60, 40:81].min() == 255          # along the stroke
    assert mask[60 - 4, 60] == 255 and mask[60 + 4, 60] == 255   # within the radius
    assert mask[60 - 8, 60] == 0 and mask[60 + 8, 60] == 0       # outside it
    assert mask[:, :30].max() == 0 and mask[:, 92:].max() == 0
    assert window.document.is_dirty()


def test_rectangle_and_undo_redo(window):
    mask = open_photo(window)
    window.set_tool("rect")
    drag(window, [(20, 30), (50, 50), (70, 80)])
    expected = np.zeros_like(mask)
    expected[30:80, 20:70] = 255
    assert np.array_equal(mask, expected)
    window.set_tool("brush")
    window.brush_size = 6
    drag(window, [(100, 20), (140, 20)])
    after_both = mask.copy()
    stack = window.document.undo_stack
    assert stack.count() == 2
    window.actions["undo"].trigger()
    assert np.array_equal(mask, expected)
    window.actions["undo"].trigger()
    assert mask.max() == 0
    window.actions["redo"].trigger()
    window.actions["redo"].trigger()
    assert np.array_equal(mask, after_both)


def test_right_button_erases_and_eraser_tool(window):
    mask = open_photo(window)
    window.set_tool("rect")
    drag(window, [(10, 10), (150, 110)])
    window.set_tool("brush")
    window.brush_size = 8
    drag(window, [(30, 50), (60, 50)], button=Qt.RightButton)
    assert mask[50, 30:61].max() == 0 and mask[20, 40] == 255
    window.set_tool("eraser")
    drag(window, [(100, 80), (120, 80)])
    assert mask[80, 100:121].max() == 0 and mask[90, 110] == 255


def test_soft_brush_fades_towards_the_edge(window):
    mask = open_photo(window)
    window.brush_size = 20
    window.brush_hardness = 0.0
    drag(window, [(80, 60), (80.5, 60)])
    assert mask[60, 80] > 200
    assert 0 < mask[60, 87] < mask[60, 83] < 255
    assert mask[60, 92] == 0


def test_lasso_freehand_and_polygon(window):
    mask = open_photo(window)
    window.set_tool("lasso")
    drag(window, [(20, 20), (60, 20), (60, 60), (20, 60)])
    assert mask[40, 40] == 255 and mask[10, 10] == 0 and mask[70, 70] == 0
    # polygon: click corners, close with Enter
    for x, y in [(100, 20), (140, 20), (140, 60)]:
        click(window, x, y)
    QTest.keyClick(window.canvas, Qt.Key_Return)
    assert mask[30, 135] == 255 and mask[55, 105] == 0
    assert window.document.undo_stack.count() == 2


def test_mask_operations_are_undoable(window, qtbot):
    mask = open_photo(window)
    window.set_tool("rect")
    drag(window, [(60, 40), (100, 80)])
    base = mask.copy()
    window.grow_mask(5)
    assert mask[40 - 4, 80] == 255 and mask[40 - 7, 80] == 0
    window.shrink_mask(10)
    assert mask[44, 80] == 0 and mask[45, 80] == 255
    window.invert_mask()
    assert mask[0, 0] == 255 and mask[60, 80] == 0
    window.clear_mask()
    assert mask.max() == 0
    for _ in range(4):
        window.actions["undo"].trigger()
    assert np.array_equal(mask, base)


def test_undo_keeps_only_changed_tiles(window):
    mask = open_photo(window, 2000, 1500)
    window.set_tool("brush")
    window.brush_size = 4
    window.canvas.set_zoom(1.0)
    window.canvas.centerOn(1000, 750)
    drag(window, [(1000, 750), (1010, 752)])
    command = window.document.undo_stack.command(0)
    assert command.patch.nbytes < 2 * 4 * 128 * 128      # a few tiles, not the 3 MB mask
    assert mask[751, 1005] == 255


def test_bracket_keys_change_brush_size_and_tool_shortcuts(window):
    open_photo(window)
    window.brush_size = 40
    window.canvas.setFocus()
    QTest.keyClick(window, Qt.Key_BracketRight)
    assert window.brush_size > 40
    QTest.keyClick(window, Qt.Key_BracketLeft)
    QTest.keyClick(window, Qt.Key_BracketLeft)
    assert window.brush_size < 40
    for key, tool in ((Qt.Key_R, "rect"), (Qt.Key_L, "lasso"), (Qt.Key_E, "eraser"), (Qt.Key_B, "brush")):
        QTest.keyClick(window, key)
        assert window.tool.id == tool
    assert window.settings.brush_size == window.brush_size


def test_zoom_fit_and_cursor_position(window, qtbot):
    open_photo(window)
    window.canvas.fit()
    fit = window.canvas.zoom
    window.actions["zoom_in"].trigger()
    assert window.canvas.zoom > fit
    window.actions["actual_size"].trigger()
    assert window.canvas.zoom == 1.0
    assert window.zoom_label.text() == "100 %"
    window.canvas.set_zoom(3.0)
    window.canvas.centerOn(80, 60)
    QTest.mouseMove(window.canvas.viewport(), view_point(window, 33.5, 44.5))
    assert window.pos_label.text() == "33, 44"
    assert window.size_label.text() == "160 × 120"


def test_space_drag_pans_instead_of_painting(window):
    mask = open_photo(window)
    window.canvas.set_zoom(8.0)
    before = window.canvas.mapToScene(window.canvas.viewport().rect().center())
    QTest.keyPress(window.canvas, Qt.Key_Space)
    drag(window, [(80, 60), (70, 55)])
    QTest.keyRelease(window.canvas, Qt.Key_Space)
    after = window.canvas.mapToScene(window.canvas.viewport().rect().center())
    assert mask.max() == 0
    assert after != before


def test_middle_button_pans_and_wheel_zooms(window):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    mask = open_photo(window)
    canvas = window.canvas
    canvas.set_zoom(8.0)                                   # larger than the view: room to pan
    before = canvas.mapToScene(canvas.viewport().rect().center())
    drag(window, [(80, 60), (60, 40)], button=Qt.MiddleButton)
    assert mask.max() == 0
    assert canvas.mapToScene(canvas.viewport().rect().center()) != before
    zoom = canvas.zoom
    pos = QPointF(view_point(window, 80, 60))
    event = QWheelEvent(pos, QPointF(canvas.viewport().mapToGlobal(pos.toPoint())), QPoint(0, 0),
                        QPoint(0, 120), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.zoom > zoom
    anchor = canvas.mapToScene(pos.toPoint())
    assert abs(anchor.x() - 80) < 1 and abs(anchor.y() - 60) < 1   # zoomed around the cursor


def test_brush_outline_follows_cursor_at_zoom(window):
    open_photo(window)
    window.set_tool("brush")
    window.brush_size = 20
    QTest.mouseMove(window.canvas.viewport(), view_point(window, 50, 40))
    outline = window.canvas.brush
    assert outline.isVisible()
    assert abs(outline.pos().x() - 50) < 0.5 and abs(outline.pos().y() - 40) < 0.5
    assert outline.boundingRect().width() >= 20            # scene units: scales with the zoom
    window.set_tool("rect")
    QTest.mouseMove(window.canvas.viewport(), view_point(window, 52, 40))
    assert not outline.isVisible()


def test_result_waits_for_a_brush_stroke_in_progress(window, qtbot):
    mask = open_photo(window)
    window.set_tool("rect")
    drag(window, [(10, 10), (30, 30)])
    window.inpainting.set_engine("telea")
    window.set_tool("brush")
    window.brush_size = 6
    vp = window.canvas.viewport()
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, view_point(window, 100, 100))
    with qtbot.waitSignal(window.job_state_changed, timeout=10_000):
        window.inpainting.inpaint()
    qtbot.wait(100)
    assert window.result_layers() == []                     # not while the stroke is open
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, view_point(window, 120, 100))
    qtbot.waitUntil(lambda: len(window.result_layers()) == 1, timeout=5000)
    assert mask[100, 110] == 255 and mask[20, 20] == 0
    window.actions["undo"].trigger()                        # the fill (mask back)
    assert mask[20, 20] == 255 and mask[100, 110] == 255


def test_painting_repaints_only_the_dirty_rectangle(window, qtbot, monkeypatch):
    """On a large photo a stroke touches and redraws a brush-sized area, not the image."""
    from inpaint_studio.app.editor import canvas as canvas_module

    open_photo(window, 3000, 2000)
    window.canvas.set_zoom(1.0)
    window.canvas.centerOn(1500, 1000)
    qtbot.wait(50)
    changed, exposed = [], []
    window.document.mask_changed.connect(lambda key, rect: changed.append(rect.width() * rect.height()))
    real_draw = canvas_module.RasterItem._draw

    def spy(item, painter, option, source):
        if isinstance(item, canvas_module.MaskItem):
            exposed.append(option.exposedRect.width() * option.exposedRect.height())
        real_draw(item, painter, option, source)
    monkeypatch.setattr(canvas_module.RasterItem, "_draw", spy)
    window.set_tool("brush")
    window.brush_size = 30
    vp = window.canvas.viewport()
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, view_point(window, 1500, 1000))
    for i in range(1, 6):
        QTest.mouseMove(vp, view_point(window, 1500 + 10 * i, 1000))
        qtbot.wait(5)
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, view_point(window, 1550, 1000))
    qtbot.wait(50)
    assert changed and max(changed) <= 64 * 64
    assert exposed and max(exposed) < 0.1 * window.canvas.viewport().width() * window.canvas.viewport().height()
