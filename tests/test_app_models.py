"""The model manager: bundled and user models with their cards, set default, rename, delete (asks),
import .pth / .safetensors (and a corrupt file's error), reveal; the picker follows every change."""
import pytest
import torch
from PySide6.QtCore import Qt
from safetensors.torch import save_file

from test_app_support import window  # noqa: F401 (fixture)

from inpaint_studio.app.training import model_manager
from inpaint_studio.app.training.model_manager import ModelManagerDialog, card_rows
from inpaint_studio.engine.registry import ModelRegistry, save_generator
from inpaint_studio.network import PENNetGenerator
from inpaint_studio.paths import user_models_dir

TRAINED_CARD = {
    "description": "PEN-Net fine-tuned from 'Base' on 12 images from /photos/garden.",
    "training": {"data": {"path": "/photos/garden", "images": 12, "megapixels": 3.4}, "iterations": 2000,
                 "base": "base", "hardware": "CPU x86_64 (8 threads, fp32)"},
    "metrics": {"val_l1": 0.031, "val_psnr": 24.8, "val_ssim": 0.87, "val_iteration": 2000},
    "licence": "CC BY 4.0",
}


@pytest.fixture(scope="module")
def weights():
    torch.manual_seed(0)
    return PENNetGenerator().state_dict()


def manager(window):
    window.actions["manage_models"].trigger()
    dialog = window.features["model_manager"].dialog
    assert dialog.isVisible()
    return dialog


def rows(dialog):
    return [dialog.list.item(r).text().split("\n")[0] for r in range(dialog.list.count())]


def select(dialog, name):
    dialog.list.setCurrentRow(rows(dialog).index(name))


def test_lists_bundled_and_user_models_with_their_cards(window, tmp_path, weights):
    bundled_dir = tmp_path / "bundled"
    save_generator(weights, "Places2 release", {"default": True, "licence": "MIT",
                                                "training": {"data": "Places2", "iterations": 200000}},
                   directory=bundled_dir)
    save_generator(weights, "Garden", TRAINED_CARD)
    dialog = ModelManagerDialog(window, registry_factory=lambda: ModelRegistry(bundled_dir=bundled_dir))
    assert rows(dialog) == ["Places2 release", "Garden"]             # bundled first
    assert "bundled · default" in dialog.list.item(0).text()
    select(dialog, "Garden")
    text = dialog.card.toPlainText()
    for part in ("PEN-Net fine-tuned", "12 images (3.4 megapixels) from /photos/garden", "2,000",
                 "PSNR 24.80 dB · SSIM 0.870 · L1 0.0310 (at step 2,000)", "CC BY 4.0", "holes",
                 "Size on disk", " MB"):
        assert part in text, part
    assert dialog.rename_button.isEnabled() and dialog.delete_button.isEnabled()
    select(dialog, "Places2 release")
    assert "bundled, read-only" in dialog.card.toPlainText() and "Places2" in dialog.card.toPlainText()
    assert not dialog.rename_button.isEnabled() and not dialog.delete_button.isEnabled()
    assert not dialog.default_button.isEnabled()                      # it is the default already
    labels = dict(card_rows(dialog.selected()))
    assert labels["Iterations"] == "200,000" and labels["Licence"] == "MIT"


def test_default_rename_and_delete_refresh_the_picker(window, qtbot, weights):
    first = save_generator(weights, "Alpha", {})
    second = save_generator(weights, "Beta", {})
    window.inpainting.refresh_engines()
    dialog = manager(window)
    assert rows(dialog) == ["Alpha", "Beta"]
    select(dialog, "Beta")
    with qtbot.waitSignal(window.engines_changed):
        qtbot.mouseClick(dialog.default_button, Qt.LeftButton)
    assert ModelRegistry().default_id() == second.id
    assert [window.inpainting.engine_combo.itemData(i) for i in (0, 1)] == ["auto", second.id]  # Auto, then the default
    assert "default" in dialog.list.item(1).text() and not dialog.default_button.isEnabled()

    window.prompter.text_answer = "Beta (garden)"
    qtbot.mouseClick(dialog.rename_button, Qt.LeftButton)
    assert rows(dialog) == ["Alpha", "Beta (garden)"]
    assert window.inpainting.engine_combo.itemText(window.inpainting.engine_combo.findData(second.id)) == "PEN-Net: Beta (garden)"
    dialog.rename("  ")
    assert "cannot be empty" in dialog.banner.text()

    select(dialog, "Alpha")
    window.inpainting.set_engine(first.id)
    window.prompter.confirm_answer = False
    qtbot.mouseClick(dialog.delete_button, Qt.LeftButton)
    assert window.prompter.kinds()[-1] == "confirm" and rows(dialog) == ["Alpha", "Beta (garden)"]
    window.prompter.confirm_answer = True
    qtbot.mouseClick(dialog.delete_button, Qt.LeftButton)
    assert rows(dialog) == ["Beta (garden)"] and not first.weights_path.exists()
    assert window.inpainting.engine_combo.findData(first.id) < 0 and window.inpainting.engine_id != first.id

    qtbot.mouseClick(dialog.use_button, Qt.LeftButton)
    assert window.inpainting.engine_id == second.id


def test_import_pth_safetensors_and_a_corrupt_file(window, qtbot, tmp_path, weights):
    dialog = manager(window)
    assert dialog.empty_label.isVisible() and not dialog.card.isVisible()
    release = tmp_path / "pennet_places2.pth"
    torch.save({"netG": {f"module.{k}": v for k, v in weights.items()}}, release)
    window.prompter.open_answer = str(release)
    window.prompter.text_answer = "Places2 (release)"
    qtbot.mouseClick(dialog.import_button, Qt.LeftButton)
    assert window.prompter.kinds()[-2:] == ["open_path", "text"]
    assert rows(dialog) == ["Places2 (release)"] and dialog.selected().name == "Places2 (release)"
    assert "imported from pennet_places2.pth" in dialog.card.toPlainText()
    assert window.inpainting.engine_combo.findData(dialog.selected().id) >= 0
    assert window.settings.last_dir == str(tmp_path)

    plain = tmp_path / "garden.safetensors"
    save_file({k: v.contiguous() for k, v in weights.items()}, str(plain))
    info = dialog.import_model(str(plain), "Garden")
    assert info is not None and rows(dialog) == ["Garden", "Places2 (release)"]

    corrupt = tmp_path / "broken.pth"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    assert dialog.import_model(str(corrupt), "Broken") is None
    assert "Could not import the model" in dialog.banner.text() and "broken.pth" in dialog.banner.text()
    bad_tensors = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(bad_tensors))
    assert dialog.import_model(str(bad_tensors), "Other") is None
    assert "not PEN-Net generator weights" in dialog.banner.text()
    assert rows(dialog) == ["Garden", "Places2 (release)"]

    window.prompter.open_answer = None                                  # cancelled file dialog
    asked = len(window.prompter.asked)
    qtbot.mouseClick(dialog.import_button, Qt.LeftButton)
    assert window.prompter.kinds()[asked:] == ["open_path"]


def test_reveal_opens_the_model_folder(window, monkeypatch, weights):
    save_generator(weights, "Alpha", {})
    opened = []
    monkeypatch.setattr(model_manager, "open_url", lambda url: opened.append(url.toLocalFile()) or True)
    dialog = manager(window)
    dialog.reveal_button.click()
    assert opened == [str(user_models_dir())]
