"""The hand-restoration tools driven with the mouse on a real photo: the spot healing brush (J)
removes a drawn speck with its halo in one click, one undo step; the clone stamp (S) copies the
source pixels exactly at 100 % hardness, aligned and not aligned, one undo step per stroke, into
a retouching layer above the photo."""
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from test_app_support import click, drag, window  # noqa: F401 (fixture)

from inpaint_studio.app.document.layers import PAINT
from inpaint_studio.app.editor.document import Document
from inpaint_studio.app.restoration.clone_stamp import MARKER_KEY
from inpaint_studio.imaging import read_image

PHOTOS = Path(__file__).parent / "data" / "photos"


def real_photo(name: str = "chelsea.jpg", width: int = 320) -> np.ndarray:
    img = read_image(PHOTOS / name).rgb
    h, w = img.shape[:2]
    return cv2.resize(img, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


def calmest_point(img: np.ndarray, margin: int = 30) -> tuple[int, int]:
    """(x, y) of the smoothest 21x21 neighbourhood away from the borders: where a speck shows."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    var = cv2.blur(grey * grey, (21, 21)) - cv2.blur(grey, (21, 21)) ** 2
    var[:margin], var[-margin:], var[:, :margin], var[:, -margin:] = np.inf, np.inf, np.inf, np.inf
    y, x = np.unravel_index(np.argmin(var), var.shape)
    return int(x), int(y)


def open_photo(window, img):
    window.set_document(Document.from_image(img))
    window.canvas.set_zoom(2.0)
    return window.document


def test_spot_heal_removes_a_speck_and_its_halo_in_one_undo_step(window, qtbot):
    clean = real_photo()
    x, y = calmest_point(clean)
    damaged = clean.copy()
    halo = np.zeros(clean.shape[:2], np.float32)
    cv2.circle(halo, (x, y), 6, 1.0, -1)
    halo = cv2.GaussianBlur(halo, (0, 0), 1.5) * 0.45                  # a soft light rim ...
    cv2.circle(halo, (x, y), 3, 1.0, -1)                              # ... around a white core
    damaged = (damaged + halo[..., None] * (250.0 - damaged)).round().astype(np.uint8)
    region = cv2.dilate((halo > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    doc = open_photo(window, damaged)
    window.canvas.centerOn(x, y)
    QTest.keyClick(window, Qt.Key_J)
    assert window.tool.id == "heal"
    window.brush_size = 8                                            # smaller than speck + halo

    def error():
        return np.abs(doc.flattened()[0][region].astype(int) - clean[region].astype(int)).mean()

    before = error()
    click(window, x + 0.5, y + 0.5)
    healer = window.tools["heal"].healer
    qtbot.waitUntil(lambda: healer.idle and doc.undo_stack.count() == 1, timeout=20_000)
    after = error()
    # measured 24.9 -> 1.5 grey levels; healing only the brush footprint leaves the rim: 16.3
    assert after < before / 4, (before, after)
    top = doc.layers[-1]
    assert top.kind == PAINT and top.name == "Retouching" and len(doc.layers) == 2
    assert np.array_equal(doc.layers[0].rgb, damaged)                 # the photo itself is untouched
    healed = top.alpha > 0
    beyond = healed & (np.hypot(*np.mgrid[0:healed.shape[0], 0:healed.shape[1]][::-1]
                                - np.array([x + 0.5, y + 0.5])[:, None, None]) > 4 + 1)
    assert beyond.any()                                               # grown past the brush, to the rim
    assert not (healed & ~region).any()                               # and no further than the defect
    doc.undo_stack.undo()                                             # one step: the layer goes too
    assert len(doc.layers) == 1 and np.array_equal(doc.flattened()[0], damaged)
    doc.undo_stack.redo()
    assert error() == after


def test_spot_heal_dabs_one_undo_step_each_into_one_layer(window, qtbot):
    points = [(60, 60), (200, 150), (120, 100)]
    speckled = real_photo("coffee.jpg")
    for px, py in points:
        cv2.circle(speckled, (px, py), 2, (255, 255, 255), -1)
    doc = open_photo(window, speckled)
    window.set_tool("heal")
    window.brush_size = 10
    for i, (px, py) in enumerate(points, 1):
        window.canvas.centerOn(px, py)
        click(window, px + 0.5, py + 0.5)
        qtbot.waitUntil(lambda i=i: window.tools["heal"].healer.idle and doc.undo_stack.count() == i, timeout=20_000)
    assert sum(layer.kind == PAINT for layer in doc.layers) == 1      # one retouching layer for all
    result = doc.flattened()[0]
    for px, py in points:
        assert result[py, px].astype(int).sum() < 3 * 250             # each speck is gone
    doc.undo_stack.undo()
    undone = doc.flattened()[0]
    px, py = points[-1]
    assert (undone[py, px] == 255).all() and not (undone[points[0][1], points[0][0]] == 255).all()


def _stroke_and_offset(window, tool, source, stroke):
    click(window, *source, modifiers=Qt.AltModifier)
    assert tool.source is not None and MARKER_KEY in window.canvas.overlays
    drag(window, stroke)
    return round(tool.offset.x()), round(tool.offset.y())


def _check_copied(doc, original, offset) -> int:
    """Every pixel the stroke covered fully shows the source pixel at `offset`, exactly."""
    dx, dy = offset
    covered = doc.layers[-1].alpha == 255
    ys, xs = np.nonzero(covered)
    assert ys.size > 100
    shown = doc.flattened()[0]
    np.testing.assert_array_equal(shown[ys, xs], original[ys + dy, xs + dx])
    return ys.size


def test_clone_stamp_copies_source_pixels_exactly_aligned_and_not(window, qtbot):
    original = real_photo("astronaut.jpg")
    doc = open_photo(window, original)
    QTest.keyClick(window, Qt.Key_S)
    tool = window.tool
    assert tool.id == "clone" and tool.aligned
    window.brush_size, window.brush_hardness = 9, 1.0
    window.canvas.centerOn(150, 150)
    # Aligned: the offset set by the first stroke stays for the next one.
    offset = _stroke_and_offset(window, tool, (100, 160), [(150, 120), (170, 125), (190, 130)])
    assert offset == (-50, 40)
    _check_copied(doc, original, offset)
    drag(window, [(150, 170), (175, 170)])                            # no Alt+click: same offset
    assert (round(tool.offset.x()), round(tool.offset.y())) == offset
    _check_copied(doc, original, offset)
    assert doc.undo_stack.count() == 2 and sum(layer.kind == PAINT for layer in doc.layers) == 1
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert np.array_equal(doc.flattened()[0], original) and len(doc.layers) == 1

    # Not aligned: every stroke copies from the source point again.
    window.actions["clone_aligned"].setChecked(False)
    assert not tool.aligned
    first = _stroke_and_offset(window, tool, (100, 160), [(150, 120), (170, 120)])
    _check_copied(doc, original, first)
    drag(window, [(200, 200), (220, 200)])
    second = (round(tool.offset.x()), round(tool.offset.y()))
    assert first == (-50, 40) and second == (-100, -40)               # both start at the source
    dx, dy = second
    covered = np.zeros(original.shape[:2], bool)
    covered[190:211, 195:226] = True
    covered &= doc.layers[-1].alpha == 255
    ys, xs = np.nonzero(covered)
    np.testing.assert_array_equal(doc.flattened()[0][ys, xs], original[ys + dy, xs + dx])
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert np.array_equal(doc.flattened()[0], original)


def test_clone_stamp_needs_a_source_and_soft_brush_blends(window, qtbot):
    original = real_photo("coffee.jpg")
    doc = open_photo(window, original)
    window.set_tool("clone")
    window.brush_size, window.brush_hardness = 15, 0.0
    window.canvas.centerOn(150, 150)
    drag(window, [(150, 150), (170, 150)])                            # no source yet: nothing happens
    assert doc.undo_stack.count() == 0 and "Alt+click" in window.statusBar().currentMessage()
    _stroke_and_offset(window, window.tools["clone"], (60, 60), [(150, 150), (170, 150)])
    alpha = doc.layers[-1].alpha
    assert alpha.max() > 240 and ((alpha > 0) & (alpha < 200)).sum() > 50    # a soft edge
    assert window.canvas.overlays[MARKER_KEY].isVisible()
    window.set_tool("brush")
    assert MARKER_KEY not in window.canvas.overlays


def test_shortcut_sheet_lists_the_restoration_tools(window, monkeypatch):
    shown = []
    monkeypatch.setattr(window.prompter, "show_text", lambda title, html: shown.append(html))
    window.actions["shortcuts"].trigger()
    assert shown and "Spot&nbsp;healing&nbsp;brush" in shown[-1]
    rows = [row for _section, section_rows in window.shortcut_sheet() for row in section_rows]
    for label, key in (("Spot healing brush", "J"), ("Clone stamp", "S"), ("Source region", "G"),
                       ("Brush", "B"), ("Clone stamp: set the source", "Alt+click")):
        assert any(what == label and keys.startswith(key) for what, keys in rows), label
