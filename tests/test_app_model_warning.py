"""A model whose own figures put it far behind (validation PSNR more than BEHIND_PSNR_DB below
the bundled model's, or a held-out comparison that it loses to the classical engines in every
measure) does not become the editor's or the default model without a question: the rule, the
model manager's Use in Editor and Set as Default, and the fine-tune's Use This Model."""
import json

import pytest
from PySide6.QtCore import Qt

from test_app_support import window  # noqa: F401 (fixture)

from inpaint_studio.app.training.model_manager import ModelManagerDialog
from inpaint_studio.contracts.card import BEHIND_PSNR_DB, CARD_FORMAT, ModelCard, far_behind
from inpaint_studio.engine.registry import ModelRegistry
from inpaint_studio.paths import user_models_dir

BUNDLED = {"default": True, "metrics": {"val_psnr": 28.4, "val_ssim": 0.92}}


def card(psnr=None, held_out=None, name="m"):
    return ModelCard.from_dict({"name": name, "metrics": {"val_psnr": psnr, "held_out": held_out}})


def test_the_rule():
    reference = card(28.4, name="Open photos v1")
    (reason,) = far_behind(card(14.0), reference)
    assert "14.0 dB, 14.4 dB below “Open photos v1” (28.4 dB)" in reason
    assert far_behind(card(28.4 - BEHIND_PSNR_DB + 0.1), reference) == []       # close enough
    assert far_behind(card(None), reference) == [] and far_behind(card(14.0)) == []   # nothing to compare
    lost = {"centre": {"beats_classical": {"psnr": False, "ssim": False}},
            "free-form": {"beats_classical": {"psnr": False, "ssim": False}}}
    assert far_behind(card(held_out=lost)) == ["on held-out photos it does not beat the classical engines "
                                               "in any measure"]
    lost["free-form"]["beats_classical"]["ssim"] = True
    assert far_behind(card(held_out=lost)) == []


def listed_model(directory, model_id: str, card: dict) -> str:
    """A model as the registry lists it: its card, and a weights file that no test here loads
    (listing, choosing and the warning read cards only; loading is tested with real weights in
    test_registry.py)."""
    full = ModelCard.from_dict({"name": model_id.replace("-", " ").capitalize(), **card})
    full.format, full.id, full.weights.file = CARD_FORMAT, model_id, f"{model_id}.safetensors"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{model_id}.json").write_text(json.dumps(full.to_dict()))
    (directory / f"{model_id}.safetensors").write_bytes(b"not loaded here")
    return model_id


@pytest.fixture
def models(tmp_path):
    bundled_dir = tmp_path / "bundled"
    listed_model(bundled_dir, "open-photos-v1", {"name": "Open photos v1", **BUNDLED})
    weak = listed_model(user_models_dir(), "twenty-steps", {"name": "Twenty steps", "training": {"iterations": 20},
                                                            "metrics": {"val_psnr": 14.2, "val_iteration": 20}})
    good = listed_model(user_models_dir(), "garden", {"name": "Garden", "metrics": {"val_psnr": 27.9}})
    return bundled_dir, weak, good


def engines(bundled_dir):
    return [("telea", "OpenCV Telea", "classical")] + [
        (m.id, m.name, "pennet") for m in ModelRegistry(bundled_dir=bundled_dir).models()]


def dialog_for(window, bundled_dir, name):
    dialog = ModelManagerDialog(window, registry_factory=lambda: ModelRegistry(bundled_dir=bundled_dir))
    names = [dialog.list.item(r).text().split("\n")[0] for r in range(dialog.list.count())]
    dialog.list.setCurrentRow(names.index(name))
    return dialog


def test_use_in_editor_asks_before_a_far_behind_model(window, qtbot, models):
    bundled_dir, weak, good = models
    window.inpainting.engines_provider = lambda: engines(bundled_dir)
    window.inpainting.refresh_engines()
    before = window.inpainting.engine_id
    dialog = dialog_for(window, bundled_dir, "Twenty steps")
    window.prompter.confirm_answer = False
    qtbot.mouseClick(dialog.use_button, Qt.LeftButton)
    assert window.prompter.asked[-1] == ("confirm", "This model is far behind")
    assert window.inpainting.engine_id == before                              # declined: nothing changed
    window.prompter.confirm_answer = True
    qtbot.mouseClick(dialog.use_button, Qt.LeftButton)
    assert window.inpainting.engine_id == weak                             # the user insisted
    asked = len(window.prompter.asked)
    good_dialog = dialog_for(window, bundled_dir, "Garden")
    qtbot.mouseClick(good_dialog.use_button, Qt.LeftButton)
    assert len(window.prompter.asked) == asked and window.inpainting.engine_id == good  # no question


def test_set_as_default_asks_too(window, qtbot, models):
    bundled_dir, weak, _ = models
    registry = ModelRegistry(bundled_dir=bundled_dir)
    assert registry.far_behind(weak) and registry.far_behind(registry.default_id()) == []
    dialog = dialog_for(window, bundled_dir, "Twenty steps")
    window.prompter.confirm_answer = False
    qtbot.mouseClick(dialog.default_button, Qt.LeftButton)
    assert window.prompter.kinds()[-1] == "confirm" and registry.default_id() != weak
    window.prompter.confirm_answer = True
    qtbot.mouseClick(dialog.default_button, Qt.LeftButton)
    assert registry.default_id() == weak


def test_the_fine_tunes_use_this_model_asks_too(window, models, monkeypatch):
    bundled_dir, weak, _ = models
    from inpaint_studio.app.training import fine_tune

    monkeypatch.setattr(fine_tune, "ModelRegistry", lambda: ModelRegistry(bundled_dir=bundled_dir))
    window.inpainting.engines_provider = lambda: engines(bundled_dir)
    window.inpainting.refresh_engines()
    before = window.inpainting.engine_id
    window.prompter.confirm_answer = False
    window.features["fine_tune"].use_model(weak)
    assert window.prompter.asked[-1] == ("confirm", "This model is far behind")
    assert window.inpainting.engine_id == before
