"""Auto in the editor: the default engine on a fresh install with the bundled model; its status
message and result layer say which engine filled each region; learning from a photo uses the
model Auto uses."""
from pathlib import Path

import numpy as np
import pytest

from test_app_support import window  # noqa: F401 (fixture)

from inpaint_studio.app.editor.document import Document
from inpaint_studio.engine import AUTO_ID
from inpaint_studio.engine.auto import LABEL
from inpaint_studio.imaging import read_image

PHOTOS = Path(__file__).parent / "data" / "photos"
pytestmark = pytest.mark.bundled_model  # a fresh install: the bundled model is there


def test_auto_is_the_default_and_reports_its_engines(window, qtbot):
    assert window.inpainting.engine_id == AUTO_ID and window.inpainting.engine_combo.currentText() == LABEL
    assert window.inpainting.engine_kind() == "auto" and window.inpaint_panel.device.isEnabled()
    image = read_image(PHOTOS / "rocket.jpg").rgb[:160, :224].copy()
    window.inpainting.set_device("cpu")
    window.set_document(Document.from_image(image))
    mask = window.document.mask().data
    mask[8:11, 20:200] = 255
    mask[70:140, 80:150] = 255
    hole = mask > 0
    with qtbot.waitSignal(window.result_added, timeout=120_000):
        window.actions["inpaint"].trigger()
    result, _ = window.inpainting.last_result
    assert len(result.fills) == 2
    names = {"PEN-Net", "PatchMatch", "Telea", "Navier-Stokes"}
    layer = window.result_layers()[-1]
    assert layer.name.startswith("Inpaint 1 · Auto: ")
    used = [part.split(" ×")[0] for part in layer.name.split("Auto: ", 1)[1].split(", ")]
    assert used and set(used) <= names
    shown = window.inpaint_panel.state.text()
    assert shown.startswith(f"{LABEL}: 2 regions: ") and shown == window.statusBar().currentMessage()
    for fill in result.fills:
        assert f"with {fill.label}" in shown
    after, _ = window.document.flattened()
    np.testing.assert_array_equal(after[~hole], image[~hole])


def test_attention_sources_with_auto_come_from_the_model_for_every_region(window, qtbot):
    from inpaint_studio.app.guidance.attention_view import MAP_KEY
    from inpaint_studio.engine.auto import MODEL, NOTE_ALL_MODEL_FLOW

    image = read_image(PHOTOS / "coffee.jpg").rgb[:128, :160].copy()
    window.inpainting.set_device("cpu")
    window.set_document(Document.from_image(image))
    window.actions["attention_view"].setChecked(True)
    mask = window.document.mask().data
    mask[6:9, 20:140] = 255                               # a scratch Auto alone would give a classical engine
    mask[60:110, 50:100] = 255
    with qtbot.waitSignal(window.result_added, timeout=120_000):
        window.actions["inpaint"].trigger()
    result, _ = window.inpainting.last_result
    assert {f.engine for f in result.fills} == {MODEL} and NOTE_ALL_MODEL_FLOW in result.notes
    assert MAP_KEY in window.canvas.overlays


@pytest.mark.slow
def test_learning_from_a_photo_adapts_the_model_auto_uses(window, qtbot):
    learn = window.features["learn_photo"]
    assert window.inpainting.engine_id == AUTO_ID and learn.model_id() == "pennet-open-photos"
    window.inpainting.set_device("cpu")
    window.set_document(Document.from_image(read_image(PHOTOS / "chelsea.jpg").rgb[:96, :128].copy()))
    window.document.mask().data[40:60, 50:80] = 255
    assert learn.start(steps=1)
    with qtbot.waitSignal(window.result_added, timeout=180_000):
        pass
    layer = window.result_layers()[-1]
    assert "adapted" in layer.name and "Open photos" in layer.name
    window.inpainting.set_engine("telea")
    assert learn.model_id() == "pennet-open-photos"    # a classical engine: the default model is adapted
