"""Files from the window: open, .ora round trip, export, masks, the original is protected,
unsaved-changes prompt, autosave and recovery, corrupt files."""
import zipfile

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from test_app_support import drag, make_window, photo, photo_path, window  # noqa: F401 (fixtures)

from inpaint_studio.imaging import read_image, read_mask, write_image, write_mask


def paint_rect(window, x0, y0, x1, y1):
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn((x0 + x1) / 2, (y0 + y1) / 2)
    window.set_tool("rect")
    drag(window, [(x0, y0), (x1, y1)])


def inpaint_telea(window, qtbot):
    window.inpainting.set_engine("telea")
    with qtbot.waitSignal(window.result_added, timeout=30_000):
        window.inpainting.inpaint()


def test_open_paint_inpaint_save_and_reopen_ora(window, qtbot, photo_path, tmp_path):
    assert window.files.open_path(photo_path)
    assert window.document.source_path == photo_path
    paint_rect(window, 30, 30, 70, 60)
    inpaint_telea(window, qtbot)
    uid = window.result_layers()[0].uid
    window._layer_props(uid, "rename", name="Sky fix")
    window._layer_props(uid, "fade", opacity=0.75)
    paint_rect(window, 100, 80, 120, 100)                      # a pending mask is kept too
    target = tmp_path / "project.ora"
    assert window.files.save_as(target)
    assert not window.document.is_dirty() and window.windowTitle().startswith("project.ora")

    with zipfile.ZipFile(target) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert zf.read("mimetype") == b"image/openraster"
        names = set(zf.namelist())
        assert {"stack.xml", "mergedimage.png", "Thumbnail/thumbnail.png"} <= names

    saved_layers = [(l.name, l.rect, l.opacity, l.visible, l.rgb.copy(),
                     None if l.alpha is None else l.alpha.copy()) for l in window.document.layers]
    saved_mask = window.document.mask().data.copy()
    saved_flat, _ = window.document.flattened()
    assert window.files.open_path(target)
    doc = window.document
    assert doc.project_path == target and doc.source_path == photo_path
    assert len(doc.layers) == len(saved_layers)
    for layer, (name, rect, opacity, visible, rgb, alpha) in zip(doc.layers, saved_layers):
        assert (layer.name, layer.rect, visible) == (name, rect, layer.visible)
        assert abs(layer.opacity - opacity) < 1e-3
        assert np.array_equal(layer.rgb, rgb)
        assert (alpha is None and layer.alpha is None) or np.array_equal(layer.alpha, alpha)
    assert np.array_equal(doc.mask().data, saved_mask)
    merged = read_image_from_zip(target, "mergedimage.png")
    assert np.array_equal(merged, saved_flat)


def read_image_from_zip(path, name):
    import io
    from PIL import Image
    with zipfile.ZipFile(path) as zf:
        return np.asarray(Image.open(io.BytesIO(zf.read(name))).convert("RGB"))


def test_corrupt_image_gives_a_message_not_a_crash(window, tmp_path, photo_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    assert not window.files.open_path(bad)
    assert "Could not open broken.png" in window.banner.text()
    assert window.document is None
    assert window.files.open_path(photo_path)                       # and the app goes on working
    assert window.banner.text() == ""
    junk = tmp_path / "junk.ora"
    junk.write_bytes(b"PK\x03\x04 nope")
    assert not window.files.open_path(junk)
    assert "junk.ora" in window.banner.text()
    assert window.document.source_path == photo_path            # the open photo stays


def test_save_never_overwrites_the_original_without_asking(window, qtbot, photo_path):
    original = photo_path.read_bytes()
    window.files.open_path(photo_path)
    paint_rect(window, 10, 10, 50, 50)
    inpaint_telea(window, qtbot)
    window.prompter.save_answer = str(photo_path)
    window.prompter.confirm_answer = False
    assert not window.files.save()                                    # no project path: Save As
    assert "confirm" in window.prompter.kinds()
    assert photo_path.read_bytes() == original
    assert not window.files.export(photo_path)
    assert photo_path.read_bytes() == original
    window.prompter.confirm_answer = True
    assert window.files.save_as(photo_path)
    assert photo_path.read_bytes() != original
    asked = window.prompter.kinds().count("confirm")
    assert window.files.save()                                        # now it is the chosen file
    assert window.prompter.kinds().count("confirm") == asked


def test_export_formats_and_quality(window, photo_path, tmp_path):
    window.files.open_path(photo_path)
    flat, _ = window.document.flattened()
    for suffix in (".png", ".tif", ".webp", ".jpg"):
        out = tmp_path / f"out{suffix}"
        assert window.files.export(out, quality=100 if suffix == ".webp" else None)
        back = read_image(out).rgb
        if suffix in (".png", ".tif", ".webp"):
            assert np.array_equal(back, flat)
        else:
            assert np.abs(back.astype(int) - flat).mean() < 8
    assert ("integer", "Image quality") in window.prompter.asked       # JPEG asked its quality
    assert window.document.project_path is None                        # export is a copy


def test_load_and_export_mask(window, photo_path, tmp_path):
    window.files.open_path(photo_path)
    mask = np.zeros((120, 160), np.uint8)
    mask[20:40, 30:90] = 255
    write_mask(tmp_path / "m.png", mask)
    assert window.files.load_mask(tmp_path / "m.png")
    assert np.array_equal(window.document.mask().data, mask)
    window.actions["undo"].trigger()
    assert window.document.mask().data.max() == 0
    window.actions["redo"].trigger()
    assert window.files.export_mask(tmp_path / "out-mask.png")
    assert np.array_equal(read_mask(tmp_path / "out-mask.png"), mask)
    write_mask(tmp_path / "small.png", np.zeros((10, 10), np.uint8))
    assert not window.files.load_mask(tmp_path / "small.png")
    assert "10x10" in window.banner.text()


def test_unsaved_changes_prompt_on_close_and_open(window, photo_path, tmp_path):
    window.files.open_path(photo_path)
    window.close()
    assert "unsaved_changes" not in window.prompter.kinds()     # nothing changed yet
    window.show()
    paint_rect(window, 10, 10, 50, 50)
    window.prompter.unsaved_answer = "cancel"
    assert not window.close()
    assert window.isVisible() and window.prompter.kinds().count("unsaved_changes") == 1
    assert not window.files.open_path(photo_path)                      # cancel keeps the edit
    assert window.document.mask().data.max() == 255
    window.prompter.unsaved_answer = "save"
    window.prompter.save_answer = str(tmp_path / "kept.ora")
    assert window.close()
    assert (tmp_path / "kept.ora").exists()


def test_autosave_and_recovery_after_a_crash(qtbot, photo_path):
    first = make_window(qtbot, autosave=True)
    first.files.open_path(photo_path)
    paint_rect(first, 20, 20, 60, 60)
    assert first.files.recovery.save_now()
    first.files.recovery.wait()
    assert first.files.recovery.ora_path.exists()
    mask = first.document.mask().data.copy()
    # "crash": the first window never closes properly; a new session starts
    second = make_window(qtbot, autosave=True)
    second.prompter.restore_answer = True
    assert second.files.offer_recovery()
    doc = second.document
    assert np.array_equal(doc.mask().data, mask)
    assert doc.is_dirty() and doc.source_path == photo_path
    assert "Restored" in second.banner.text()
    second.files.recovery.wait()
    assert second.files.recovery.ora_path.exists()                    # kept under the new session
    assert not first.files.recovery.ora_path.exists()                 # the old copy was taken over
    second.prompter.unsaved_answer = "discard"
    second.close()
    assert not second.files.recovery.ora_path.exists()                # a clean exit removes it


def test_autosave_after_inpainting_and_decline(qtbot, photo_path):
    first = make_window(qtbot, autosave=True)
    first.files.open_path(photo_path)
    paint_rect(first, 20, 20, 60, 60)
    inpaint_telea(first, qtbot)
    first.files.recovery.wait()
    assert first.files.recovery.ora_path.exists()                     # written after the result
    second = make_window(qtbot, autosave=True)
    second.prompter.restore_answer = False
    assert not second.files.offer_recovery()
    assert second.document is None and not first.files.recovery.ora_path.exists()


def test_recent_files_and_drop(window, photo_path, tmp_path):
    other = write_image(tmp_path / "other.jpg", photo(80, 60))
    window.files.open_path(photo_path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    assert window.document.source_path == other
    recent = window.settings.recent_files
    assert recent[:2] == [str(other.resolve()), str(photo_path.resolve())]
    window.files._fill_recent()
    assert [a.text() for a in window.files.recent_menu.actions()][:2] == ["other.jpg", "photo.png"]


def test_settings_persist_between_windows(qtbot):
    first = make_window(qtbot)
    first.brush_size = 123
    first.brush_hardness = 0.4
    first.inpainting.set_engine("ns")
    first.inpaint_panel.feather.setValue(7)
    first.close()
    second = make_window(qtbot)
    assert second.brush_size == 123 and abs(second.brush_hardness - 0.4) < 1e-6
    assert second.inpainting.engine_id == "ns" and second.inpaint_panel.feather.value() == 7


def test_write_errors_are_messages(window, photo_path, tmp_path):
    window.files.open_path(photo_path)
    assert not window.files.save_as(tmp_path / "no-such-folder" / "p.ora")
    assert "Could not save p.ora" in window.banner.text()
    assert not window.files.export(tmp_path / "x.gif")
    assert "Cannot save as '.gif'" in window.banner.text()
    assert window.document.project_path is None


def test_slow_save_keeps_repainting_and_blocks_edits(window, photo_path, tmp_path, qtbot, monkeypatch):
    import time
    from PySide6.QtCore import QTimer

    from inpaint_studio.app.editor import files
    window.files.open_path(photo_path)
    paint_rect(window, 10, 10, 50, 50)
    real = files.write_ora
    seen = {}

    def slow(path, project, **kw):
        time.sleep(0.5)
        return real(path, project, **kw)
    monkeypatch.setattr(files, "write_ora", slow)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: (ticks.append(time.perf_counter()), seen.setdefault("enabled", window.isEnabled())))
    timer.start(20)
    assert window.files.save_as(tmp_path / "slow.ora")
    timer.stop()
    assert len(ticks) >= 10 and max(b - a for a, b in zip(ticks, ticks[1:])) < 0.2
    assert seen["enabled"] is False and window.isEnabled()
    assert not window.document.is_dirty() and (tmp_path / "slow.ora").exists()
