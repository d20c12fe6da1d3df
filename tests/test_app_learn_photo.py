"""Learn from this photo, from the window: a real `python -m trainer learn-photo` child process for a
few steps on a small image, its progress window, then the fill with the adapted model; cancel."""
import os

import numpy as np
import pytest

from test_app_support import drag, photo, window  # noqa: F401 (fixture)

from inpaint_studio.app.editor.document import Document
from inpaint_studio.engine.registry import ModelRegistry, save_generator
from inpaint_studio.network import PENNetGenerator


def setup(window, w=128, h=96):
    info = save_generator(PENNetGenerator(), "Base net", {})
    window.inpainting.refresh_engines()
    window.inpainting.set_engine(info.id)
    window.inpainting.set_device("cpu")
    window.set_document(Document.from_image(photo(w, h)))
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn(w / 2, h / 2)
    window.set_tool("rect")
    drag(window, [(50, 30), (80, 60)])
    return info


@pytest.mark.slow
def test_learn_then_fill_with_the_adapted_model(window, qtbot):
    base = setup(window)
    learn = window.features["learn_photo"]
    assert window.actions["learn_photo"] in window.menus["model"].actions()
    before, _ = window.document.flattened()
    hole = window.document.mask().data > 0
    events, bars = [], []
    assert learn.start(steps=3)
    dialog = learn.dialog
    assert dialog.isVisible() and not dialog.isModal()
    learn.job.event.connect(lambda e: (events.append(e), bars.append((dialog.bar.value(), dialog.bar.maximum()))))
    with qtbot.waitSignal(window.result_added, timeout=180_000):
        pass
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and "progress" in kinds and kinds[-1] == "done"
    assert (3, 3) in bars and learn.dialog is None and learn.job is None
    layer = window.result_layers()[-1]
    assert "adapted" in layer.name and "Base net" in layer.name
    assert window.inpainting.last_result[1].engine_id.startswith("adapted:")   # filled by the adapted model
    after, _ = window.document.flattened()
    assert np.array_equal(after[~hole], before[~hole]) and not np.array_equal(after[hole], before[hole])
    assert [m.id for m in ModelRegistry().models()] == [base.id]     # not in the model list
    (info,) = learn.adapted.values()
    assert info.card_path.is_file() and learn.session in info.card_path.parents


@pytest.mark.slow
def test_cancel_stops_the_trainer_and_fills_nothing(window, qtbot):
    setup(window)
    learn = window.features["learn_photo"]
    assert learn.start(steps=5000)
    events = []
    learn.job.event.connect(events.append)
    qtbot.waitUntil(lambda: any(e["event"] == "progress" for e in events), timeout=120_000)
    pid = learn.job.process.processId()
    learn.dialog.cancel_button.click()
    qtbot.waitUntil(lambda: learn.job is None, timeout=20_000)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                                              # the child is gone ...
    assert events[-1]["event"] == "done" and events[-1]["status"] == "stopped"  # ... stopped cleanly
    assert window.result_layers() == [] and window.inpainting.job is None
    assert not learn.adapted and window.actions["learn_photo"].isEnabled()
    assert not [m for lvl, m in window.banner.messages if lvl == "error"]


def test_refuses_without_a_hole_or_a_pennet_model(window):
    learn = window.features["learn_photo"]
    window.set_document(Document.from_image(photo(128, 96)))
    assert not learn.start() and "Paint the hole first" in window.banner.messages[-1][1]
    window.document.mask().data[10:20, 10:20] = 255
    window.inpainting.set_engine("telea")
    assert not learn.start() and "needs a model (PEN-Net or DeepFill v1), and none is installed" in window.banner.messages[-1][1]


def test_disabled_with_its_reason_until_a_model_exists(window):
    action = window.actions["learn_photo"]
    assert not action.isEnabled() and "needs a model" in action.text()
    assert "Fine-Tune a Model" in action.toolTip()
    info = save_generator(PENNetGenerator(), "Base net", {})
    window.inpainting.refresh_engines()                         # engines_changed
    assert action.isEnabled() and action.text() == "Learn from This Photo and Fill"
    window.inpainting.set_engine("telea")                       # a classical engine chosen: the default model learns
    assert window.features["learn_photo"].model_id() == info.id


def test_quick_or_thorough_with_a_time_estimate_then_the_measured_pace(window, monkeypatch):
    from inpaint_studio.app.guidance import learn_photo as feature
    from inpaint_studio.contracts.training import LEARN_PHOTO_QUICK_STEPS, LEARN_PHOTO_STEPS

    setup(window)
    learn = window.features["learn_photo"]
    asked = []
    monkeypatch.setattr(window.prompter, "choose", lambda title, text, choices, default=None:
                        asked.append((text, choices, default)) or "quick")
    monkeypatch.setattr(feature.LearnPhotoProcess, "start", lambda self: None)   # no child process here
    assert learn.start()
    text, choices, default = asked[-1]
    quick = feature.START_SECONDS["cpu"] + LEARN_PHOTO_QUICK_STEPS["cpu"] * feature.DEFAULT_SECONDS_PER_STEP["cpu"]
    assert default == "quick" and choices["quick"] == f"Quick: about {feature._duration(quick)}"
    assert "Thorough" in choices["thorough"] and "first run measures" in text
    args = learn.job.args
    assert args[args.index("--steps") + 1] == str(LEARN_PHOTO_QUICK_STEPS["cpu"])
    # the trainer reports its pace; a finished run makes it the next estimate
    learn._event({"event": "start", "total": 30, "device": "cpu", "crop": 64})
    learn._event({"event": "progress", "iteration": 5, "total": 30, "seconds_per_step": 2.0, "eta_s": 50})
    learn.job.ended.emit(None, "")                               # cancelled: nothing learnt about the pace
    assert learn.seconds_per_step("cpu") == (feature.DEFAULT_SECONDS_PER_STEP["cpu"], False)
    assert learn.start()
    learn._event({"event": "start", "total": 30, "device": "cpu", "crop": 64})
    learn._event({"event": "progress", "iteration": 30, "total": 30, "seconds_per_step": 2.0, "eta_s": 0})
    learn._ended({"event": "done", "status": "completed", "card_path": "/nowhere/model.json"}, "")
    assert learn.seconds_per_step("cpu") == (2.0, True)
    assert learn.estimate(LEARN_PHOTO_STEPS["cpu"]) == (feature.START_SECONDS["cpu"] + 2.0 * LEARN_PHOTO_STEPS["cpu"], True)
    monkeypatch.setattr(window.prompter, "choose", lambda *a, **k: None)          # backed out: nothing starts
    assert not learn.start() and learn.job is None
