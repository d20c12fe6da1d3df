"""The pieces of the fine-tune feature that need no trainer: reading events as they grow, run
states from exit statuses, the launcher, the folder count, the time estimate, the curve widget,
the trainer arguments, the Prompter's new questions, and runs that ended while the app was closed."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from test_app_support import answer_each_with_escape, make_window, window  # noqa: F401 (fixture)

from inpaint_studio.app.training import speed as training_speed
from inpaint_studio.app.training.curves import CurvePlot, nice_ticks
from inpaint_studio.app.training.folder_scan import FolderScanner
from inpaint_studio.app.training.job import LAUNCHER, fit_args
from inpaint_studio.app.training.runs import EventTail, RunFolder, describe_exit, list_runs, stderr_tail, write_json
from inpaint_studio.paths import runs_dir


def test_event_tail_reads_only_complete_new_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read() == []                                      # no file yet
    path.write_text('{"event": "start", "total": 5}\n{"event": "prog')
    assert [e["event"] for e in tail.read()] == ["start"]
    assert tail.read() == []                                      # the half line waits
    with open(path, "a") as fh:
        fh.write('ress", "iteration": 1}\nnot json\n{"no_event": 1}\n{"event": "done", "status": "completed"}\n')
    assert [e["event"] for e in tail.read()] == ["progress", "done"]
    path.write_text('{"event": "start"}\n')                      # replaced by a shorter file
    assert [e["event"] for e in tail.read()] == ["start"]


def _run(tmp_path, events=(), exit_code=None, stderr="", job=None):
    run = tmp_path / "runs" / "garden"
    run.mkdir(parents=True)
    write_json(run / "job.json", {"name": "Garden", "iterations": 100, **(job or {})})
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if stderr:
        (run / "stderr.log").write_text(f"=== launch old: x\nold noise\n=== launch 2024: python -m trainer\n{stderr}")
    if exit_code is not None:
        write_json(run / "exit.json", {"returncode": exit_code})
    return RunFolder(run)


def test_run_states_from_events_and_exit_statuses(tmp_path):
    start = {"event": "start", "iteration": 0, "total": 100}
    done = _run(tmp_path / "a", [start, {"event": "progress", "iteration": 100, "total": 100},
                                 {"event": "done", "status": "completed", "iteration": 100, "model_id": "garden",
                                  "model_name": "Garden"}], exit_code=0)
    state = done.state()
    assert (state.status, state.iteration, state.model_id) == ("completed", 100, "garden")
    failed = _run(tmp_path / "b", [start, {"event": "error", "message": "out of GPU memory"}], exit_code=1)
    assert failed.state().status == "failed" and failed.state().message == "out of GPU memory"
    killed = _run(tmp_path / "c", [start, {"event": "progress", "iteration": 7, "total": 100}], exit_code=-9,
                  stderr="Traceback\nMemoryError: big\n")
    state = killed.state()
    assert state.status == "failed" and state.iteration == 7
    assert "SIGKILL" in state.message and "out of memory" in state.message
    assert state.message.endswith("Traceback\nMemoryError: big") and "old noise" not in state.message
    vanished = _run(tmp_path / "d", [start], job={"launcher_pid": 0})
    assert vanished.state().status == "interrupted"
    stopped_early = _run(tmp_path / "e", [], exit_code=-15, job={"stop_requested": True})
    assert stopped_early.state().status == "stopped"
    assert describe_exit(2) == "exited with status 2 (bad input)"


def test_list_runs_newest_first(tmp_path):
    root = tmp_path / "runs"
    for i, name in enumerate(("old", "new")):
        (root / name).mkdir(parents=True)
        write_json(root / name / "job.json", {"name": name})
        (root / name / "events.jsonl").write_text("")
        t = time.time() - 100 + i * 50
        import os
        os.utime(root / name / "job.json", (t, t))
        os.utime(root / name / "events.jsonl", (t, t))
    (root / "not-a-run").mkdir()
    assert [r.name for r in list_runs(root)] == ["new", "old"]


def test_launcher_records_the_exit_status_and_stderr(tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-c", "import sys; print('it broke', file=sys.stderr); sys.exit(3)"]
    subprocess.run([sys.executable, str(LAUNCHER), str(run), str(tmp_path), "--", *command], timeout=60, check=True)
    folder = RunFolder(run)
    assert folder.exit["returncode"] == 3
    assert folder.process["trainer_pid"] > 0
    assert stderr_tail(run) == "it broke"
    assert not folder.is_alive()
    state = folder.state()
    assert state.status == "failed" and "exited with status 3" in state.message and "it broke" in state.message


def test_folder_count_on_a_worker_thread(qtbot, tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, side in enumerate((64, 64, 40, 20)):
        Image.fromarray(rng.integers(0, 255, (side, side + 8, 3), dtype=np.uint8)).save(
            folder / ("sub" if i == 0 else "") / f"p{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"ignored")
    scanner = FolderScanner(str(folder))
    results = []
    scanner.counted.connect(results.append)
    with qtbot.waitSignal(scanner.finished, timeout=10_000):
        scanner.start()
    qtbot.waitUntil(lambda: results and results[-1].done)
    count = results[-1]
    assert count.usable(64) == 3 and count.too_small(64) == 1      # the floor is max(32, 64 // 4)
    assert count.usable(256) == 2                                   # 40 px is below 256 // 4
    assert [name for name, _ in count.unreadable] == ["broken.jpg"]
    assert "3 usable images · 1 unreadable (e.g. broken.jpg" in count.describe(64)
    missing = FolderScanner(str(tmp_path / "nowhere"))
    results.clear()
    missing.counted.connect(results.append)
    with qtbot.waitSignal(missing.finished, timeout=10_000):
        missing.start()
    qtbot.waitUntil(lambda: bool(results))
    assert "no such folder" in results[-1].describe(256)


def test_time_estimate_uses_a_default_then_the_measured_pace(window):
    settings = window.settings
    seconds, measured = training_speed.estimate(settings, "cpu", 256, 2, 1000)
    assert not measured and seconds == pytest.approx(1000 * 2 * training_speed.DEFAULT_SECONDS["cpu"] * 1.1)
    training_speed.record(settings, "cpu", 64, 4.0)                 # 4 samples/s at 64 px
    seconds, measured = training_speed.estimate(settings, "cpu", 64, 1, 100)
    assert measured and seconds == pytest.approx(100 / 4.0 * 1.1)
    assert training_speed.estimate(settings, "cuda", 256, 8, 10)[1] is False
    assert [training_speed.format_duration(s) for s in (12, 125, 3600 * 2 + 60 * 5, 86400 * 2 + 3600)] == \
        ["12 s", "2 min", "2 h 5 min", "2 d 1 h"]
    form = window.features["fine_tune"].show_dialog().form
    form.size_combo.setCurrentIndex(form.size_combo.findData(64))
    form.batch_spin.setValue(1)
    form.minutes_spin.setValue(10)
    form.iterations_spin.setValue(100_000)
    steps = int(600 / (0.25 * training_speed.OVERHEAD))   # the budget at the measured pace
    assert form.estimate_label.text() == f"≈ {steps:,} training steps on the CPU (at the pace measured on this computer)"
    form.iterations_spin.setValue(100)                     # the step limit comes first
    assert "ends after ≈ 28 s: the 100-step limit comes first" in form.estimate_label.text()


def test_form_defaults_come_from_the_training_contract(window):
    from inpaint_studio.contracts.training import (DEFAULT, FINETUNE, FORM_MINUTES, MASK_KINDS, SCRATCH,
                                                   batch_size_for)

    form = window.features["fine_tune"].show_dialog().form
    values = form.values()
    assert values["max_minutes"] == FORM_MINUTES and values["size"] == DEFAULT.size
    assert values["iterations"] == (FINETUNE if values["base"] else SCRATCH)["iterations"]
    assert values["batch_size"] == batch_size_for(form.device_kind) and values["masks"] == DEFAULT.masks
    assert values["checkpoint_every"] == DEFAULT.checkpoint_every and values["val_every"] == FINETUNE["val_every"]
    assert {form.masks_combo.itemData(i) for i in range(form.masks_combo.count())} == set(MASK_KINDS)
    form.base_combo.setCurrentIndex(form.base_combo.findData(None))         # from scratch
    assert float(form.values()["lr"]) == SCRATCH["lr"] and form.values()["iterations"] == SCRATCH["iterations"]


def test_form_starts_from_the_installed_model_with_the_fine_tuning_recipe(window):
    import torch

    from inpaint_studio.contracts.training import FINETUNE, batch_size_for
    from inpaint_studio.engine.registry import save_generator
    from inpaint_studio.network import PENNetGenerator

    torch.manual_seed(0)
    info = save_generator(PENNetGenerator(), "Bundled stand-in", {"licence": "test weights"})
    form = window.features["fine_tune"].show_dialog().form
    form.reload_models()
    assert form.base_combo.currentData() == info.id                   # not "from scratch"
    assert form.base_combo.itemData(form.base_combo.count() - 1) is None   # that is offered last
    values = form.values()
    assert float(values["lr"]) == FINETUNE["lr"] and values["iterations"] == FINETUNE["iterations"]
    assert values["size"] == FINETUNE["size"] and values["batch_size"] == batch_size_for(form.device_kind, finetune=True)


def test_form_labels_line_up_one_field_per_row(window, qtbot):
    from PySide6.QtWidgets import QFormLayout, QLabel

    form = window.features["fine_tune"].show_dialog().form
    form.more_button.setChecked(True)
    qtbot.waitExposed(form)
    def forms(layout):
        if isinstance(layout, QFormLayout):
            yield layout
        for i in range(layout.count()):
            item = layout.itemAt(i)
            inner = item.layout() or (item.widget().layout() if item.widget() is not None else None)
            if inner is not None:
                yield from forms(inner)

    labels, edges = set(), []
    for layout in forms(form.layout()):
        for row in range(layout.rowCount()):
            item = layout.itemAt(row, QFormLayout.LabelRole)
            if item is not None and item.widget() is not None:
                labels.add(item.widget())
                edges.append(item.widget().mapTo(form, item.widget().rect().topRight()).x())
    buddied = [w for w in form.findChildren(QLabel) if w.buddy() is not None]
    assert buddied and set(buddied) <= labels, [w.text() for w in buddied if w not in labels]  # none inline
    assert len(set(edges)) == 1, edges                                  # one right edge for every label
    jargon = ("iteration", "affinity", "validation", "checkpoint")
    for label in buddied:
        assert not any(word in label.text().lower() for word in jargon), label.text()


def test_model_card_rows_explain_quality_without_jargon(tmp_path):
    import torch

    from inpaint_studio.app.training.model_manager import QUALITY_HELP, card_rows
    from inpaint_studio.engine.registry import save_generator
    from inpaint_studio.network import PENNetGenerator

    torch.manual_seed(0)
    info = save_generator(PENNetGenerator(), "Garden", {"metrics": {"val_psnr": 27.5, "val_ssim": 0.91}})
    rows = dict(card_rows(info))
    assert "affinity" not in " ".join(rows.values()) and "Attention" not in rows
    assert rows["Quality check"].startswith("PSNR 27.50 dB · SSIM 0.910") and QUALITY_HELP in rows["Quality check"]


def test_curve_plot_points_ticks_legend_and_hover(qtbot):
    plot = CurvePlot("Losses")
    plot.add_series("a", "hole")
    plot.add_series("b", "discriminator")
    qtbot.addWidget(plot)
    plot.resize(400, 220)
    plot.show()
    empty = plot.grab().toImage()
    for it in range(1, 11):
        plot.append("a", it, 1.0 / it)
        plot.append("b", it, None if it == 3 else 2.0)
    plot.append("a", 11, float("nan"))
    assert len(plot.points("a")) == 10 and len(plot.points("b")) == 9
    drawn = plot.grab().toImage()
    assert drawn != empty
    assert "hole 0.1" in plot.accessibleDescription()
    move = QMouseEvent(QEvent.MouseMove, QPointF(250, 120), plot.mapToGlobal(QPointF(250, 120)), Qt.NoButton,
                       Qt.NoButton, Qt.NoModifier)
    QApplication.sendEvent(plot, move)
    assert 5 < plot._hover_x < 8
    hovered = plot.grab().toImage()
    assert hovered != drawn
    box, key = next((b, k) for b, k in plot._legend if k == "b")
    QTest.mouseClick(plot, Qt.LeftButton, Qt.NoModifier, box.center().toPoint())
    assert plot.series["b"]["visible"] is False
    assert nice_ticks(0, 1, 4) == [0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(-0.47, 2.1, 4) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert nice_ticks(120, 4000, 4) == [1000, 2000, 3000, 4000]
    plot.clear()
    assert plot.points("a") == []


def test_fit_arguments_follow_the_form(tmp_path):
    args = fit_args({"data": "/photos", "name": "Garden", "base": "default", "iterations": 2000, "batch_size": 2,
                     "lr": 2e-5, "masks": "mixed", "device": "cpu", "size": 256, "val_every": 500,
                     "checkpoint_every": 500, "val": None, "max_minutes": 10}, tmp_path / "run")
    pairs = dict(zip(args[1::2], args[2::2]))
    assert args[0] == "fit" and pairs["--data"] == "/photos" and pairs["--out"] == str(tmp_path / "run")
    assert pairs["--events"] == str(tmp_path / "run" / "events.jsonl")
    assert (pairs["--base"], pairs["--lr"], pairs["--export-name"], pairs["--log-every"]) == \
        ("default", "2e-05", "Garden", "10")
    assert pairs["--max-minutes"] == "10"
    assert "--val" not in pairs
    # values the user left alone are the trainer's to choose (on a GPU: memory cap, rate rule)
    untouched = fit_args({"data": "/photos", "name": "Garden", "base": "default", "iterations": 2000, "batch_size": 4,
                          "lr": 2e-4, "batch_given": False, "lr_given": False}, tmp_path / "run")
    assert "--batch-size" not in untouched and "--lr" not in untouched and "--base" in untouched


def test_new_prompter_questions_open_and_back_out(window, tmp_path):
    from inpaint_studio.app.ui.dialogs import Prompter

    prompter = Prompter(window)
    opened, answers = answer_each_with_escape([
        lambda: prompter.folder(str(tmp_path)),
        lambda: prompter.choose("Training", "Stop?", {"stop": "Stop", "bg": "Background"}, "bg"),
        lambda: prompter.text("Rename", "Name:", "old")])
    assert len(opened) == 3 and answers == [None, None, None]


def test_start_reports_runs_that_ended_while_the_app_was_closed(qtbot):
    run = runs_dir() / "garden-1"
    run.mkdir(parents=True)
    write_json(run / "job.json", {"name": "Garden", "iterations": 4, "reported": False, "launcher_pid": 0})
    (run / "events.jsonl").write_text(json.dumps({"event": "start", "iteration": 0, "total": 4}) + "\n" + json.dumps(
        {"event": "error", "message": "the losses are no longer finite"}) + "\n")
    write_json(run / "exit.json", {"returncode": 1})
    win = make_window(qtbot)
    assert "“Garden” failed while Inpaint Studio was closed: the losses are no longer finite" in win.banner.text()
    assert RunFolder(run).job["reported"] is True
    assert win.features["fine_tune"].job is None
    again = make_window(qtbot)                                       # said once only
    assert "Garden" not in again.banner.text()
    dialog = again.features["fine_tune"].show_dialog(run)
    assert dialog.view.job.state.status == "failed"
    assert "no longer finite" in dialog.view.banner.text() and dialog.view.resume_button.isHidden()
