"""First start and the desktop look: the welcome panel's buttons (open, recent files, samples with
a ready mask that Inpaint fills at once), the app icon on the window and its dialogs, Help ▸ About,
the generated shortcut sheet, and the rough edges of issue 16 item 5 (brush options per tool,
slider labels, the Inpainting panel's status after another photo)."""
import numpy as np
from PySide6.QtCore import Qt

from test_app_support import make_window, photo, photo_path, window  # noqa: F401 (fixtures)

from inpaint_studio import __version__, resources
from inpaint_studio.app.ui.settings import AppSettings
from inpaint_studio.imaging import read_image, read_mask, write_image


def wait_for_job(window, qtbot):
    qtbot.waitUntil(lambda: window.inpainting.job is None, timeout=30_000)


def test_first_start_shows_the_welcome_panel_and_open_a_photo_works(window, qtbot, tmp_path):
    panel = window.welcome
    assert window.document is None and panel.isVisible()
    assert panel.no_recent.isVisible() and not panel.recent_buttons          # a first start has none
    window.resize(1400, 900)            # wider than the panel (docks left by earlier tests may narrow it)
    qtbot.waitUntil(lambda: window.canvas.viewport().width() > panel.width())
    area = window.canvas.viewport().rect()
    assert area.contains(panel.geometry().center(), True)                     # on the canvas, centred
    assert abs(panel.geometry().center().x() - area.center().x()) <= 1
    window.prompter.open_answer = str(write_image(tmp_path / "beach.png", photo()))
    qtbot.mouseClick(panel.open_button, Qt.LeftButton)
    assert window.prompter.kinds() == ["open_path"]
    assert window.document is not None and window.document.title == "beach.png"
    assert not panel.isVisible()


def test_recent_files_are_listed_and_open(qtbot, tmp_path):
    kept = write_image(tmp_path / "kept.png", photo())
    gone = write_image(tmp_path / "gone.png", photo())
    settings = AppSettings()
    settings.add_recent(gone)
    settings.add_recent(kept)
    settings.sync()
    gone.unlink()
    window = make_window(qtbot)
    buttons = window.welcome.recent_buttons
    assert [b.text().strip() for b in buttons] == ["kept.png"]                # a vanished file is left out
    assert buttons[0].toolTip() == str(kept.resolve()) and not window.welcome.no_recent.isVisible()
    qtbot.mouseClick(buttons[0], Qt.LeftButton)
    assert window.document is not None and window.document.source_path == kept.resolve()


def test_try_a_sample_opens_it_with_its_mask_ready_to_inpaint(window, qtbot):
    samples = resources.samples()
    assert 2 <= len(samples) <= 3
    qtbot.mouseClick(window.welcome.sample_button, Qt.LeftButton)
    doc, first = window.document, samples[0]
    assert doc is not None and doc.title == f"{first.title} (sample)"
    assert np.array_equal(doc.image_layer().rgb, read_image(first.photo).rgb)
    hole = doc.mask("hole").data
    assert np.array_equal(hole, read_mask(first.mask)) and hole.any()
    assert not doc.is_dirty() and doc.source_path is None      # Save asks where: never into resources/
    assert window.actions["inpaint"].isEnabled() and first.task in window.banner.text()
    window.inpainting.set_engine("telea")
    qtbot.mouseClick(window.inpainting.inpaint_button, Qt.LeftButton)         # Inpaint, nothing else
    wait_for_job(window, qtbot)
    assert len(window.result_layers()) == 1 and not doc.mask("hole").data.any()
    doc.mark_saved()
    other = samples[1]                                          # each thumbnail opens its own sample
    qtbot.mouseClick(window.welcome.sample_buttons[other.id], Qt.LeftButton)
    assert window.document.title == f"{other.title} (sample)"
    assert np.array_equal(window.document.mask("hole").data, read_mask(other.mask))


def test_samples_are_in_the_file_menu_too(window):
    window.files.sample_menu.aboutToShow.emit()
    actions = window.files.sample_menu.actions()
    assert [a.text() for a in actions] == [s.title for s in resources.samples()]
    actions[-1].trigger()
    assert window.document.title == f"{resources.samples()[-1].title} (sample)"


def test_the_window_and_its_dialogs_carry_the_app_icon(window):
    icon = window.windowIcon()
    assert not icon.isNull()
    sizes = {s.width() for s in icon.availableSizes()}
    assert set(resources.ICON_SIZES) <= sizes
    about = window._show_about()
    assert about.windowIcon().cacheKey() == icon.cacheKey()                   # inherited from the window
    about.close()


def test_about_shows_version_models_and_licences(window, tmp_path):
    from inpaint_studio.app.editor.about import AboutDialog
    from inpaint_studio.contracts.card import ModelCard
    from inpaint_studio.engine.registry import ModelInfo

    card = ModelCard.from_dict({
        "name": "Open photos v1", "default": True,
        "description": "PEN-Net trained from scratch on 363 open photographs.",
        "licence": "Weights trained by Inpaint Studio on openly licensed photographs.",
        "training": {"iterations": 2000},
        "metrics": {"val_psnr": 28.43, "val_ssim": 0.9241, "val_l1": 0.0151,
                    "held_out": {"centre": {"beats_classical": {"psnr": True, "ssim": True, "l1": False}}}}})
    bundled = ModelInfo("open-photos", card.name, card, tmp_path / "w.safetensors", tmp_path / "w.json", True)
    dialog = AboutDialog(window, models=[bundled])
    about, models, licences = (dialog.pages[k].toPlainText() for k in ("about", "models", "licences"))
    assert __version__ in about and "PyTorch" in about and "Qt" in about
    for part in ("Open photos v1", "363 open photographs", "2,000 iterations", "PSNR 28.43 dB", "SSIM 0.924",
                 "better than every classical engine in psnr, ssim", "openly licensed photographs", "PatchMatch"):
        assert part in models, part
    for sample in resources.samples():
        assert sample.title in licences and sample.licence in licences
    assert "MIT licence" in licences and "PySide6-Essentials" in licences and "LGPL" in licences
    empty = AboutDialog(window, models=[]).pages["models"].toPlainText()
    assert "No model is bundled" in empty


def test_f1_sheet_is_built_from_the_registered_tools_and_actions(window):
    from inpaint_studio.app.editor.mask_tools import BrushTool

    sheet = dict(window.shortcut_sheet())
    assert ("Source region", "G") in sheet["Tools"]                           # a feature's tool
    assert {(t.label, t.shortcut) for t in window.tools.values()} == set(sheet["Tools"])
    listed = {keys for rows in sheet.values() for _, keys in rows}
    for name, action in window.actions.items():     # every command's main shortcut is on the sheet
        text = action.shortcut().toString(action.shortcut().SequenceFormat.NativeText)
        if text:                                      # (a standard key this platform leaves unbound: none)
            assert any(text in keys.split(" / ") for keys in listed), (name, text)
    assert ("Erase with the brush", "right button") in sheet["On the canvas"]

    class Smudge(BrushTool):
        id, label, icon, shortcut, rank = "smudge", "Smudge", "mdi6.blur", "K", 300

    window.add_tool(Smudge)
    assert ("Smudge", "K") in dict(window.shortcut_sheet())["Tools"]
    shown = []
    window.prompter.show_text = lambda title, text: shown.append((title, text))
    window.actions["shortcuts"].trigger()
    assert shown and "Source&nbsp;region" in shown[0][1] and "<b>G</b>" in shown[0][1] and "Smudge" in shown[0][1]


def test_size_and_hardness_show_only_for_brush_tools(window):
    panel = window.tool_panel
    for tool_id, shown in (("rect", False), ("lasso", False), ("brush", True), ("eraser", True),
                           ("source", True)):
        window.set_tool(tool_id)
        assert panel.brush_options_shown() is shown, tool_id
        assert panel.size_slider.isVisibleTo(window) is shown and panel.hardness_label.isVisibleTo(window) is shown


def test_sliders_read_their_real_value_or_a_dash(window, photo_path):
    layers = window.layers_panel
    assert not layers.opacity.isEnabled() and layers.opacity_label.text() == "—"       # nothing selected
    assert window.tool_panel.opacity_label.text() == f"{round(window.settings.mask_opacity * 100)} %"
    assert window.tool_panel.opacity_slider.value() == round(window.settings.mask_opacity * 100)
    window.files.open_path(photo_path)
    assert layers.opacity.isEnabled() and layers.opacity_label.text() == f"{layers.opacity.value()} %"


def test_the_inpainting_status_is_cleared_when_another_photo_opens(window, qtbot, tmp_path):
    first = write_image(tmp_path / "first.png", photo())
    second = write_image(tmp_path / "second.png", photo(120, 90))
    window.files.open_path(first)
    window.document.mask("hole").data[40:60, 50:80] = 255
    window.inpainting.set_engine("telea")
    window.inpainting.inpaint()
    wait_for_job(window, qtbot)
    assert window.inpaint_panel.state.text().startswith("Filled")
    window.document.mark_saved()
    window.files.open_path(second)
    assert window.inpaint_panel.state.text() == "Ready" and window.job_label.text() == "Ready"


def test_a_restored_sample_keeps_its_name(qtbot):
    first = make_window(qtbot, autosave=True)
    first.files.open_sample(resources.samples()[0].id)
    first.clear_mask()                                          # an edit: now there is work to lose
    assert first.files.recovery.save_now()
    first.files.recovery.wait()
    second = make_window(qtbot, autosave=True)                  # after a crash
    second.prompter.restore_answer = True
    assert second.files.offer_recovery()
    assert second.document.title == f"{resources.samples()[0].title} (sample)"
    second.prompter.unsaved_answer = "discard"
    second.close()
