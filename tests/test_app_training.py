"""Fine-tuning through the dialog with real trainer processes (tiny: 64 px crops, a few
iterations): live progress, curves and preview, the exported model in the picker inpainting,
stop and resume, failures shown in the dialog, and closing the editor while a run trains."""
import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt

from test_app_support import make_window, photo, window  # noqa: F401 (fixture)

from inpaint_studio.app.training import job as training_job, speed as training_speed
from inpaint_studio.app.editor.document import Document
from inpaint_studio.app.document.layers import HOLE
from inpaint_studio.app.training.runs import RunFolder, list_runs
from inpaint_studio.contracts.training import FINETUNE, FORM_MINUTES
from inpaint_studio.engine.registry import ModelRegistry, save_generator
from inpaint_studio.network import PENNetGenerator
from inpaint_studio.paths import runs_dir

SLOW = 120_000  # ms: trainer processes start slowly on a loaded machine


def make_photos(folder, count=4):
    folder.mkdir(parents=True)
    for i in range(count):
        rgb = np.roll(photo(64 + 8 * i, 64), 9 * i, axis=1)
        Image.fromarray(rgb).save(folder / f"garden{i}.png")
    return folder


@pytest.fixture
def base_model():
    torch.manual_seed(0)
    return save_generator(PENNetGenerator(), "Random base", {"licence": "test weights"})


@pytest.fixture(autouse=True)
def no_trainer_left_behind():
    """Whatever a test does, no trainer outlives it."""
    yield
    for run in list_runs(runs_dir()):
        pid = run.process.get("trainer_pid")
        if run.is_alive() and pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def open_form(window, qtbot, folder, iterations, base=...):
    window.actions["fine_tune"].trigger()
    dialog = window.features["fine_tune"].dialog
    form = dialog.form
    assert dialog.isVisible() and dialog.stack.currentWidget() is form
    form.set_folder(str(folder))
    qtbot.waitUntil(lambda: form.count is not None and form.count.done, timeout=20_000)
    if base is not ...:
        form.base_combo.setCurrentIndex(form.base_combo.findData(base))
    form.size_combo.setCurrentIndex(form.size_combo.findData(64))
    form.iterations_spin.setValue(iterations)
    form.batch_spin.setValue(1)
    form.val_spin.setValue(3)
    form.ckpt_spin.setValue(3)
    form.device_combo.setCurrentIndex(form.device_combo.findData("cpu"))
    return dialog, form


def start(window, qtbot, form):
    assert form.start_button.isEnabled(), form.busy_label.text()
    qtbot.mouseClick(form.start_button, Qt.LeftButton)
    job = window.features["fine_tune"].job
    assert job is not None and job.running
    return job


@pytest.mark.slow
def test_finetune_through_the_dialog_adds_a_model_that_inpaints(window, qtbot, tmp_path, base_model):
    dialog, form = open_form(window, qtbot, make_photos(tmp_path / "my_garden"), iterations=6)
    assert form.scan_label.text() == "4 usable images"
    assert form.name_edit.text() == "My Garden"
    assert form.base_combo.currentData() == base_model.id             # the default model is the base
    assert form.lr_edit.text() == f"{FINETUNE['lr']:g}" and form.masks_combo.currentData() == "mixed"
    assert form.minutes_spin.value() == FORM_MINUTES and "rough guess" in form.estimate_label.text()
    job = start(window, qtbot, form)
    view = dialog.view
    assert dialog.stack.currentWidget() is view and view.job is job and view.stop_button.isEnabled()
    assert not form.start_button.isEnabled() and "one fine-tune runs at a time" in form.busy_label.text()

    qtbot.waitUntil(lambda: "Step " in view.stats.text(), timeout=SLOW)
    assert view.progress.maximum() == 1000 and "of the time" in view.progress.format()  # a time budget
    qtbot.waitUntil(lambda: not job.running, timeout=SLOW)
    assert job.state.status == "completed", job.state.message
    assert view.progress.value() == view.progress.maximum()
    assert len(view.loss_plot.points("hole")) >= 2 and len(view.loss_plot.points("discriminator")) >= 2
    assert [x for x, _ in view.psnr_plot.points("psnr")] == [3, 6]
    assert not view.preview.pixmap.isNull() and "iteration 6" in view.preview_caption.text()
    assert "Checkpoint saved at iteration 3" in view.log.toPlainText()
    assert window.features["fine_tune"].job is None and form.start_button.isEnabled()

    model_id = job.state.model_id
    assert window.inpainting.engine_combo.findData(model_id) >= 0                 # in the picker at once
    assert "My Garden" in window.banner.text()
    card = ModelRegistry().get(model_id).card
    assert card.training.iterations == 6 and card.training.base == base_model.id
    assert card.licence == "test weights" and card.training.config["batch_size"] >= 1
    assert card.training.config["max_minutes"] == FORM_MINUTES and card.training.config["schedule"] == FINETUNE["schedule"]
    assert training_speed.seconds_per_sample(window.settings, "cpu")[1]  # the pace was measured

    assert view.use_button.isVisible()
    qtbot.mouseClick(view.use_button, Qt.LeftButton)
    assert window.inpainting.engine_id == model_id
    window.set_document(Document.from_image(photo(96, 80)))
    window.document.mask(HOLE).data[30:50, 30:60] = 255
    with qtbot.waitSignal(window.job_state_changed, timeout=SLOW, check_params_cb=lambda s: s != "running"):
        window.inpainting.inpaint()
    assert len(window.result_layers()) == 1
    assert window.inpainting.last_result[1].engine_id == model_id


@pytest.mark.slow
def test_stop_leaves_a_checkpoint_that_resume_continues_from(window, qtbot, tmp_path):
    dialog, form = open_form(window, qtbot, make_photos(tmp_path / "photos"), iterations=400, base=None)
    assert form.lr_edit.text() == "0.0001"                              # from scratch
    job = start(window, qtbot, form)
    view = dialog.view
    qtbot.waitUntil(lambda: view.progress.value() > 0, timeout=SLOW)
    window.prompter.confirm_answer = False
    qtbot.mouseClick(view.stop_button, Qt.LeftButton)
    assert window.prompter.kinds()[-1] == "confirm" and job.running and not job.stopping
    window.prompter.confirm_answer = True
    qtbot.mouseClick(view.stop_button, Qt.LeftButton)
    assert job.stopping and view.status.text() == "Stopping…" and not view.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not job.running, timeout=SLOW)
    assert job.state.status == "stopped", job.state.message
    stopped_at = job.state.iteration
    assert 0 < stopped_at < 400 and job.folder.has_checkpoint()
    assert view.resume_button.isVisible() and view.resume_button.isEnabled()
    assert view.resume_spin.value() == 400

    view.resume_spin.setValue(stopped_at + 2)
    qtbot.mouseClick(view.resume_button, Qt.LeftButton)
    assert window.features["fine_tune"].job is job and job.running
    qtbot.waitUntil(lambda: not job.running, timeout=SLOW)
    assert job.state.status == "completed", job.state.message
    starts = [e for e in job.events if e["event"] == "start"]
    assert len(starts) == 2 and starts[1]["iteration"] == stopped_at
    assert starts[1]["resumed_from"].endswith(f"ckpt-{stopped_at:09d}.safetensors")
    resumed = [e["iteration"] for e in job.events[job.events.index(starts[1]):] if e["event"] == "progress"]
    assert resumed[0] == stopped_at + 1 and resumed[-1] == stopped_at + 2
    assert view.progress.value() == view.progress.maximum()        # completed (the bar shows the time budget)
    assert window.inpainting.engine_combo.findData(job.state.model_id) >= 0
    assert f"Resumed from iteration {stopped_at}" in view.log.toPlainText()


def test_trainer_failures_are_shown_and_the_editor_stays_usable(window, qtbot, tmp_path, base_model, monkeypatch):
    dialog, form = open_form(window, qtbot, make_photos(tmp_path / "photos"), iterations=6)
    ModelRegistry().delete(base_model.id)          # gone between choosing it and starting
    job = start(window, qtbot, form)
    view = dialog.view
    qtbot.waitUntil(lambda: not job.running, timeout=SLOW)
    assert job.state.status == "failed"
    assert f"Unknown model '{base_model.id}'" in view.banner.text()   # the trainer's error event
    assert "Error: Unknown model" in view.log.toPlainText() and "Traceback" not in view.log.toPlainText()
    assert "failed" in window.banner.text() and window.features["fine_tune"].job is None
    assert not view.resume_button.isVisible()

    make = training_job.fit_args
    monkeypatch.setattr(training_job, "fit_args", lambda s, r: make(s, r) + ["--no-such-option"])
    dialog.show_new()
    form.base_combo.setCurrentIndex(form.base_combo.findData(None))
    job = start(window, qtbot, form)
    qtbot.waitUntil(lambda: not job.running, timeout=SLOW)
    assert job.state.status == "failed"
    assert view.banner.text() == "The trainer exited with status 2 (bad input)."   # no event: exit status
    assert "unrecognized arguments: --no-such-option" in view.log.toPlainText()    # and stderr's tail

    window.inpainting.set_engine("telea")                      # the editor works on
    window.set_document(Document.from_image(photo()))
    window.document.mask(HOLE).data[40:60, 40:70] = 255
    with qtbot.waitSignal(window.job_state_changed, timeout=30_000, check_params_cb=lambda s: s == "done"):
        window.inpainting.inpaint()
    assert len(window.result_layers()) == 1


@pytest.mark.slow
def test_closing_while_training_asks_and_the_run_can_finish_in_the_background(qtbot, tmp_path):
    first = make_window(qtbot)
    dialog, form = open_form(first, qtbot, make_photos(tmp_path / "photos"), iterations=400, base=None)
    job = start(first, qtbot, form)
    qtbot.waitUntil(lambda: dialog.view.progress.value() > 0, timeout=SLOW)
    first.prompter.choose_answer = None                               # Escape: keep the window
    assert not first.close() and first.isVisible() and job.running
    first.prompter.choose_answer = "background"
    assert first.close()
    run = job.run_dir
    assert RunFolder(run).is_alive()                                  # the trainer outlives the editor

    second = make_window(qtbot)                                       # the next start finds it
    again = second.features["fine_tune"].job
    assert again is not None and again.run_dir == run and again.running
    assert "still training in the background" in second.banner.text()
    view = second.features["fine_tune"].show_dialog().view
    assert view.job is again
    seen = view.progress.value()
    qtbot.waitUntil(lambda: view.progress.value() > seen, timeout=SLOW)  # and follows it live
    second.prompter.choose_answer = "stop"
    assert second.close()
    qtbot.waitUntil(lambda: (run / "exit.json").exists(), timeout=SLOW)
    state = RunFolder(run).state()
    assert state.status == "stopped" and RunFolder(run).has_checkpoint()
    assert [k for k in first.prompter.kinds() if k == "choose"] == ["choose", "choose"]
