"""Attention view: off by default (the engine is not asked for flow), on: a colour-coded overlay
of the fill's sources, a hover outline of the source patch, and no stale overlay after undo."""
import numpy as np
from PySide6.QtTest import QTest

from test_app_support import drag, photo, view_point, window  # noqa: F401 (fixture)

from inpaint_studio.app.guidance.attention_view import MAP_KEY, PATCH_KEY
from inpaint_studio.app.editor.document import Document
from inpaint_studio.app.guidance.flow_colors import flow_to_rgba
from inpaint_studio.engine import InpaintResult

MINE = ("source region", "attention view", "learn photo", "scratch finder")


class FlowEngine:
    """Fills with grey; every hole pixel 'copied' from 30 px to its left, 16 px patches."""

    def __init__(self):
        self.options = []

    def inpaint(self, image, mask, options=None, progress=None, cancel=None):
        self.options.append(options)
        out = image.copy()
        hole = mask > 0
        out[hole] = 128
        flow = patch = None
        if options.return_flow:
            flow = np.full(hole.shape + (2,), np.nan, np.float32)
            flow[hole] = (-30, 0)
            patch = np.where(hole, 16.0, np.nan).astype(np.float32)
        return InpaintResult(out, True, "done", flow=flow, flow_patch=patch)


def fill(window, qtbot, box=((80, 40), (110, 70))):
    window.set_tool("rect")
    drag(window, list(box))
    with qtbot.waitSignal(window.result_added, timeout=10_000):
        window.inpainting.inpaint()


def setup(window):
    window.set_document(Document.from_image(photo(160, 120)))
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn(80, 60)
    engine = FlowEngine()
    window.inpainting.engine_factory = lambda *_: engine
    return engine


def test_extensions_install_cleanly(window):
    failed = [text for _, text in window.banner.messages if "could not start" in text]
    assert not [t for t in failed if any(name in t for name in MINE)]
    action = window.actions["attention_view"]
    assert action.isCheckable() and not action.isChecked() and action in window.menus["view"].actions()


def test_off_by_default_asks_no_flow_and_shows_nothing(window, qtbot):
    engine = setup(window)
    fill(window, qtbot)
    assert engine.options[-1].return_flow is False
    assert MAP_KEY not in window.canvas.overlays


def test_overlay_hover_outline_and_undo(window, qtbot):
    engine = setup(window)
    window.actions["attention_view"].setChecked(True)
    fill(window, qtbot)
    assert engine.options[-1].return_flow is True
    item = window.canvas.overlays[MAP_KEY]
    assert (item.offset().x(), item.offset().y()) == (80, 40)
    image = item.pixmap().toImage()
    assert (image.width(), image.height()) == (30, 30)
    expected = flow_to_rgba(np.array([[[-30, 0]]], np.float32))[0, 0]
    colour = image.pixelColor(5, 5)
    assert (colour.red(), colour.green(), colour.blue()) == tuple(expected[:3])  # hue 180: cyan

    QTest.mouseMove(window.canvas.viewport(), view_point(window, 95.5, 50.5))
    outline = window.canvas.overlays[PATCH_KEY]
    rect = outline.childItems()[-1].rect()
    assert (rect.x(), rect.y(), rect.width()) == (95.5 - 30 - 8, 50.5 - 8, 16)
    assert "30 px away" in window.statusBar().currentMessage()
    QTest.mouseMove(window.canvas.viewport(), view_point(window, 20.5, 20.5))   # outside the fill
    assert PATCH_KEY not in window.canvas.overlays

    window.actions["attention_view"].setChecked(False)
    assert MAP_KEY not in window.canvas.overlays
    window.actions["attention_view"].setChecked(True)                           # back for this result
    assert MAP_KEY in window.canvas.overlays
    window.document.undo_stack.undo()                                           # the result goes ...
    assert MAP_KEY not in window.canvas.overlays                                # ... and so does its map
    window.document.undo_stack.redo()
    assert MAP_KEY not in window.canvas.overlays


def test_classical_result_has_no_overlay(window, qtbot):
    setup(window)
    window.inpainting.engine_factory = lambda *_: type("Plain", (), {"inpaint": lambda self, i, m, o=None, progress=None,
                                                           cancel=None: InpaintResult(i + 1, True, "x")})()
    window.actions["attention_view"].setChecked(True)
    fill(window, qtbot)
    assert MAP_KEY not in window.canvas.overlays and "PEN-Net" in window.statusBar().currentMessage()


def test_real_pennet_fill_shows_its_sources(window, qtbot):
    from inpaint_studio.engine.registry import save_generator
    from inpaint_studio.network import PENNetGenerator

    info = save_generator(PENNetGenerator(), "Attention test", {})
    window.inpainting.refresh_engines()
    window.inpainting.set_engine(info.id)
    window.inpainting.set_device("cpu")
    window.set_document(Document.from_image(photo(128, 96)))
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn(64, 48)
    window.actions["attention_view"].setChecked(True)
    window.set_tool("rect")
    drag(window, [(50, 30), (80, 60)])
    hole = window.document.mask().data > 0
    with qtbot.waitSignal(window.result_added, timeout=120_000):
        window.inpainting.inpaint()
    result = window.inpainting.last_result[0]
    assert np.isfinite(result.flow[hole]).all() and np.isnan(result.flow[~hole]).all()
    assert MAP_KEY in window.canvas.overlays
    ys, xs = np.nonzero(hole)
    QTest.mouseMove(window.canvas.viewport(), view_point(window, xs[0] + 0.5, ys[0] + 0.5))
    assert PATCH_KEY in window.canvas.overlays
