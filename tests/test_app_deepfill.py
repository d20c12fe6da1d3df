"""A DeepFill v1 model in the editor: the model menu, a fill on the worker thread, the attention
view drawn from contextual attention's flow, and the model manager's card."""
import numpy as np
import pytest
import torch
from PySide6.QtTest import QTest

from test_app_support import drag, photo, view_point, window  # noqa: F401 (fixture)

from inpaint_studio.app.editor.document import Document
from inpaint_studio.app.guidance.attention_view import MAP_KEY, PATCH_KEY
from inpaint_studio.app.training.model_manager import card_rows
from inpaint_studio.engine.registry import ModelRegistry, save_generator
from inpaint_studio.network import make_generator


@pytest.fixture
def deepfill(window):
    """A tiny DeepFill v1 model (random weights: the fill's look is not under test), chosen."""
    torch.manual_seed(0)
    info = save_generator(make_generator("deepfill1", cnum=8), "Tiny DeepFill",
                          {"architecture": {"name": "deepfill1", "cnum": 8}})
    window.inpainting.refresh_engines()
    window.inpainting.set_engine(info.id)
    window.inpainting.set_device("cpu")
    return info


def test_model_menu_fill_and_attention_sources(window, qtbot, deepfill):
    combo = window.inpainting.engine_combo
    assert combo.itemText(combo.findData(deepfill.id)) == "DeepFill v1: Tiny DeepFill"
    window.set_document(Document.from_image(photo(128, 96)))
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn(64, 48)
    window.actions["attention_view"].setChecked(True)
    window.set_tool("rect")
    drag(window, [(50, 30), (80, 60)])
    hole = window.document.mask().data > 0
    before, _ = window.document.flattened()
    with qtbot.waitSignal(window.result_added, timeout=120_000):
        window.inpainting.inpaint()
    after, _ = window.document.flattened()
    assert np.array_equal(after[~hole], before[~hole]) and not np.array_equal(after[hole], before[hole])
    layer = window.result_layers()[0]
    assert layer.name.endswith("· Tiny DeepFill")
    result = window.inpainting.last_result[0]
    assert np.isfinite(result.flow[hole]).all() and np.isnan(result.flow[~hole]).all()
    assert MAP_KEY in window.canvas.overlays
    ys, xs = np.nonzero(hole)
    y, x = ys[len(ys) // 2], xs[len(xs) // 2]
    QTest.mouseMove(window.canvas.viewport(), view_point(window, x + 0.5, y + 0.5))
    outline = window.canvas.overlays[PATCH_KEY]
    side = outline.childItems()[-1].rect().width()
    assert side == pytest.approx(result.flow_patch[y, x]) and side >= 16  # two 1/8-grid cells of the model


def test_model_manager_names_the_architecture(window, deepfill):
    rows = dict(card_rows(ModelRegistry().get(deepfill.id)))
    assert rows["Architecture"].startswith("DeepFill v1, 8 base channels")
