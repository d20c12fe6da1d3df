"""Layers: compositing, result layers, merge down, the layers panel and OpenRaster details."""
import numpy as np
import pytest
from PySide6.QtCore import Qt

from test_app_support import photo, window  # noqa: F401 (fixture)

from inpaint_studio.app.editor.document import Document
from inpaint_studio.app.document.layers import IMAGE, Layer, MaskLayer, flatten, merge_down, result_layer
from inpaint_studio.app.document.project import Project, ProjectError, read_ora, write_ora
from inpaint_studio.app.editor.undo import Patch


def test_result_layer_keeps_only_what_changed():
    before = photo()
    mask = np.zeros(before.shape[:2], np.uint8)
    mask[10:20, 30:50] = 255
    mask[15, 29] = 128                                   # a soft edge pixel
    after = before.copy()
    after[mask > 0] = 7
    layer = result_layer("r", before, after, mask)
    assert layer.rect == (29, 10, 21, 10)
    assert layer.alpha[5, 0] == 128 and layer.alpha[0, 0] == 0
    flat, _ = flatten([Layer("img", before, kind=IMAGE), layer], 160, 120)
    assert np.array_equal(flat[mask == 0], before[mask == 0])
    assert (flat[10:20, 30:50] == 7).all()
    assert result_layer("r", before, before, np.zeros_like(mask)) is None


def test_flatten_opacity_and_visibility():
    base = np.full((4, 4, 3), 100, np.uint8)
    top = Layer("top", np.full((2, 2, 3), 200, np.uint8), x=1, y=1, opacity=0.5)
    flat, alpha = flatten([Layer("img", base, kind=IMAGE), top], 4, 4)
    assert alpha is None and flat[0, 0, 0] == 100 and flat[1, 1, 0] == 150
    top.visible = False
    assert flatten([Layer("img", base, kind=IMAGE), top], 4, 4)[0][1, 1, 0] == 100


def test_merge_down_into_result_and_image_layers():
    base = Layer("img", np.zeros((10, 10, 3), np.uint8), kind=IMAGE)
    a = Layer("a", np.full((2, 2, 3), 200, np.uint8), np.full((2, 2), 255, np.uint8), x=1, y=1)
    b = Layer("b", np.full((2, 2, 3), 50, np.uint8), np.full((2, 2), 255, np.uint8), x=5, y=6)
    merged = merge_down(b, a)
    assert merged.uid == a.uid and merged.rect == (1, 1, 6, 7)
    before = flatten([base, a, b], 10, 10)[0]
    assert np.array_equal(flatten([base, merged], 10, 10)[0], before)
    into_image = merge_down(merged, base)
    assert into_image.kind == IMAGE and np.array_equal(into_image.rgb, before)


def test_patch_restores_both_states():
    rng = np.random.default_rng(1)
    before = rng.integers(0, 255, (300, 500), dtype=np.uint8)
    after = before.copy()
    after[140:150, 260:270] = 1
    patch = Patch.between(before, after)
    assert len(patch.tiles) == 1 and patch.rect == (256, 128, 128, 128)
    work = after.copy()
    patch.apply(work, "before")
    assert np.array_equal(work, before)
    patch.apply(work, "after")
    assert np.array_equal(work, after)


def add_result(window, x=20, y=20):
    doc = window.document
    from inpaint_studio.app.editor.undo import AddLayerCommand
    layer = Layer("Result", np.full((30, 40, 3), 250, np.uint8), np.full((30, 40), 255, np.uint8), x=x, y=y)
    doc.undo_stack.push(AddLayerCommand(doc, layer))
    return layer


def test_panel_visibility_rename_opacity_delete_merge_are_undoable(window):
    window.set_document(Document.from_image(photo()))
    layer = add_result(window)
    panel = window.layers_panel
    rows = [panel.list.item(r) for r in range(panel.list.count())]
    assert [r.text() for r in rows] == ["Mask", "Result", "Image"]
    row = rows[1]
    row.setCheckState(Qt.Unchecked)                       # hide via the check box
    assert not window.document.layer(layer.uid).visible
    assert not window.canvas.layer_items[layer.uid].isVisible()
    row.setText("Patched sky")                             # rename in place
    assert window.document.layer(layer.uid).name == "Patched sky"
    panel.list.setCurrentItem(panel.list.item(1))
    panel.opacity.setValue(40)
    panel.opacity.setValue(30)
    assert window.document.layer(layer.uid).opacity == pytest.approx(0.3)
    stack = window.document.undo_stack
    assert stack.count() == 4                             # add, hide, rename, opacity (merged)
    stack.undo()
    stack.undo()
    stack.undo()
    assert window.document.layer(layer.uid).visible and window.document.layer(layer.uid).name == "Result"
    stack.redo()
    stack.redo()
    stack.redo()
    window.layers_panel.select_layer(layer.uid)
    window.actions["merge_down"].trigger()
    assert len(window.document.layers) == 2 and "Show both" in window.banner.text()
    panel.list.item(1).setCheckState(Qt.Checked)
    before = window.document.flattened()[0]
    window.actions["merge_down"].trigger()
    assert len(window.document.layers) == 1
    assert np.array_equal(window.document.flattened()[0], before)
    stack.undo()
    assert [l.uid for l in window.document.layers][1] == layer.uid
    assert np.array_equal(window.document.layers[0].rgb, photo())
    window.delete_layer(layer.uid)
    assert window.result_layers() == []
    stack.undo()
    assert len(window.result_layers()) == 1


def test_image_layer_cannot_be_deleted(window):
    window.set_document(Document.from_image(photo()))
    window.delete_layer(window.document.layers[0].uid)
    assert len(window.document.layers) == 1 and "cannot be deleted" in window.banner.text()


def test_compare_split_and_hold_key(window):
    window.set_document(Document.from_image(photo()))
    add_result(window)
    canvas = window.canvas
    window.actions["compare"].trigger()
    window.split_slider.setValue(250)
    assert canvas.after_group.rect().x() == 40 and canvas.divider.isVisible()
    window.actions["compare"].trigger()
    assert canvas.after_group.rect().x() == 0 and not canvas.divider.isVisible()
    from PySide6.QtTest import QTest
    QTest.keyPress(canvas, Qt.Key_Backslash)
    assert not canvas.after_group.isVisible()
    QTest.keyRelease(canvas, Qt.Key_Backslash)
    assert canvas.after_group.isVisible()


def test_ora_reads_other_programs_files(tmp_path):
    """A stack without our attributes, with an offset bottom layer and a group."""
    import io
    import zipfile
    from PIL import Image

    def png(arr):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG")
        return buf.getvalue()
    path = tmp_path / "krita.ora"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
        zf.writestr("stack.xml", '<image w="20" h="10"><stack><stack name="g">'
                    '<layer name="paint" src="data/a.png" x="2" y="3" opacity="0.5"/></stack>'
                    '<layer name="bg" src="data/b.png" x="1" y="0"/></stack></image>')
        zf.writestr("data/a.png", png(np.full((2, 2, 4), 255, np.uint8)))
        zf.writestr("data/b.png", png(np.full((10, 19, 3), 90, np.uint8)))
    project = read_ora(path)
    assert [l.name for l in project.layers] == ["bg", "paint"]
    image = project.layers[0]
    assert image.kind == IMAGE and image.rect == (0, 0, 20, 10)
    assert image.alpha[0, 0] == 0 and image.alpha[0, 1] == 255
    assert project.layers[1].rect == (2, 3, 2, 2) and project.layers[1].opacity == 0.5
    assert project.masks[0].data.shape == (10, 20) and project.masks[0].data.max() == 0


def test_ora_errors_are_readable(tmp_path):
    bad = tmp_path / "x.ora"
    bad.write_bytes(b"hello")
    with pytest.raises(ProjectError, match="not an OpenRaster project"):
        read_ora(bad)
    import zipfile
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("stack.xml", '<image w="4" h="4"><stack><layer src="data/missing.png"/></stack></image>')
    with pytest.raises(ProjectError, match="missing"):
        read_ora(bad)


def test_ora_keeps_alpha_and_second_mask(tmp_path):
    rgb = photo(40, 30)
    alpha = np.full((30, 40), 255, np.uint8)
    alpha[:, :10] = 0
    source = np.zeros((30, 40), np.uint8)
    source[5:10, 5:10] = 255
    project = Project(40, 30, [Layer("img", rgb, alpha, kind=IMAGE)],
                      [MaskLayer("hole", "Mask", np.zeros((30, 40), np.uint8)),
                       MaskLayer("source", "Source", source, (80, 200, 120), 0.4, False)])
    back = read_ora(write_ora(tmp_path / "a.ora", project))
    assert np.array_equal(back.layers[0].alpha, alpha)
    src = {m.key: m for m in back.masks}["source"]
    assert np.array_equal(src.data, source) and src.color == (80, 200, 120) and not src.visible


def test_result_layer_includes_the_feather_band():
    before = photo()
    mask = np.zeros(before.shape[:2], np.uint8)
    mask[50:60, 50:60] = 255
    after = before.copy()
    after[45:65, 45:65] = 3                              # hole plus a 5 px band
    layer = result_layer("r", before, after, mask, margin=5)
    assert layer.rect == (45, 45, 20, 20) and layer.alpha.min() == 255


def test_merge_down_between_result_layers_undoes_exactly(window):
    from inpaint_studio.app.editor.undo import AddLayerCommand
    window.set_document(Document.from_image(photo()))
    doc = window.document
    low = Layer("low", np.full((20, 20, 3), 10, np.uint8), np.full((20, 20), 200, np.uint8), x=5, y=5, opacity=0.6)
    up = Layer("up", np.full((10, 10, 3), 240, np.uint8), np.full((10, 10), 255, np.uint8), x=40, y=30)
    doc.undo_stack.push(AddLayerCommand(doc, low))
    doc.undo_stack.push(AddLayerCommand(doc, up))
    before = doc.flattened()[0]
    window.merge_down(up.uid)
    merged = doc.layer(low.uid)
    assert len(doc.layers) == 2 and merged.rect == (5, 5, 45, 35)
    assert np.abs(doc.flattened()[0].astype(int) - before).max() <= 1
    doc.undo_stack.undo()
    assert [l.uid for l in doc.layers] == [doc.layers[0].uid, low.uid, up.uid]
    assert doc.layer(low.uid) is low and low.opacity == 0.6
    assert np.array_equal(doc.flattened()[0], before)
    doc.undo_stack.redo()
    assert doc.layer(low.uid).rect == (5, 5, 45, 35)
