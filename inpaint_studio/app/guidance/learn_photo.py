"""Learn from this photo: adapt the current model (PEN-Net or DeepFill v1) to the open image, then fill with it.

Model > "Learn from This Photo and Fill" writes the visible image and the hole mask to PNGs in a
session folder, runs `python -m trainer learn-photo` as a child process (QProcess; the app never
imports the trainer), follows its JSON-lines events on stdout in a small non-modal progress
window with a Cancel button, and when the adapted model is saved (a temporary model in the
session folder, not in the model list) fills the hole with it: the result layer's name says
"adapted". The feature is the engine source of ids "adapted:..." (the inpainting controller's
hook); only the newest adapted model is kept. The session folder goes when the window does.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from ...contracts.devices import DEVICES, TRAINING
from ...contracts.events import DONE, ERROR, PROGRESS, EventLines
from ...contracts.training import LEARN_PHOTO_QUICK_STEPS, LEARN_PHOTO_STEPS
from ...engine import InpaintError, PENNetEngine, auto_model_id, resolve_device
from ...engine.registry import ModelRegistry, RegistryError, read_model
from ...imaging import ImageError, write_image, write_mask
from ...paths import PACKAGE_ROOT, user_data_root
from ..document.layers import HOLE
from ..ui.theme import icon

TRAINING_DEVICES = DEVICES[TRAINING]
ADAPTED_SCHEME = "adapted"           # engine ids "adapted:<card path>"
MENU_RANK = 10                       # in the Model menu: first of the features
STALE_SESSION_S = 2 * 24 * 3600
CODE_ROOT = PACKAGE_ROOT.parent   # holds inpaint_studio/ and trainer/
ACTION_TEXT = "Learn from This Photo and Fill"
NO_MODEL = ("needs a model (PEN-Net or DeepFill v1), and none is installed: fine-tune one (Model > Fine-Tune a Model…) "
            "or import one (Model > Manage Models…)")
# seconds per step before a run on this computer has measured it, on the slow side (a 2-core CPU:
# 100 steps took about 9 minutes), and the trainer's start and the save around the steps
DEFAULT_SECONDS_PER_STEP = {"cpu": 5.5, "cuda": 0.15}
START_SECONDS = {"cpu": 25.0, "cuda": 15.0}
PACE_KEY = "learn_photo/seconds_per_step/{}"
SETTINGS = {"quick": LEARN_PHOTO_QUICK_STEPS, "thorough": LEARN_PHOTO_STEPS}


def sessions_dir() -> Path:
    return user_data_root() / "sessions"


class LearnPhotoProcess(QObject):
    """One `python -m trainer learn-photo` child. Signals: event(dict) per JSON line on stdout;
    ended(done event or None, error message or "") once it has exited."""

    event = Signal(dict)
    ended = Signal(object, str)

    def __init__(self, args: list[str], cwd: Path, parent=None):
        super().__init__(parent)
        self.args = args
        self.done: dict | None = None
        self.error = ""
        self.cancelled = False
        self._lines = EventLines()
        self._stderr: list[str] = []
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(cwd))
        env = QProcessEnvironment.systemEnvironment()
        path = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", str(CODE_ROOT) + (os.pathsep + path if path else ""))
        self.process.setProcessEnvironment(env)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._failed_to_start)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self.process.kill)
        self._last_progress: float | None = None   # monotonic time of the last progress event
        self._slowest_step = 0.0                   # the longest gap between them, in seconds

    def start(self) -> None:
        self._last_progress = time.monotonic()     # the first step's gap includes the start-up
        self.process.start(sys.executable, ["-m", "trainer", "learn-photo", *self.args])

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.NotRunning

    def cancel(self) -> None:
        """Ask the trainer to stop (SIGTERM: it finishes the current step); kill it if it has
        not gone within the grace (and at once where there is no SIGTERM)."""
        if not self.running:
            return
        self.cancelled = True
        if sys.platform == "win32":
            self.process.kill()
        else:
            self.process.terminate()
            self._kill_timer.start(round(1000 * self.kill_grace()))

    def kill_grace(self) -> float:
        """Seconds to wait for a clean stop: twice the slowest step seen, start-up included (a
        loaded machine's step can take longer than a fixed grace), at least 3 s, at most 30 s."""
        return min(max(3.0, 2.0 * self._slowest_step), 30.0)

    def _read_stdout(self) -> None:
        for record in self._lines.feed(bytes(self.process.readAllStandardOutput())):
            if record["event"] == PROGRESS:
                now = time.monotonic()
                if self._last_progress is not None:
                    self._slowest_step = max(self._slowest_step, now - self._last_progress)
                self._last_progress = now
            if record["event"] == DONE:
                self.done = record
            elif record["event"] == ERROR:
                self.error = str(record.get("message") or "the trainer failed")
            self.event.emit(record)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", "replace")
        self._stderr = (self._stderr + text.splitlines())[-20:]

    def _failed_to_start(self, error) -> None:
        if error == QProcess.FailedToStart:
            self.error = f"The trainer could not be started ({self.process.errorString()})."
            self.ended.emit(None, self.error)

    def _finished(self, code: int, status) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        if self.cancelled:
            self.ended.emit(None, "")
            return
        if self.done is not None and self.done.get("status") == "completed":
            self.ended.emit(self.done, "")
            return
        message = self.error or (self._stderr[-1] if self._stderr else "") or f"the trainer exited with status {code}"
        self.ended.emit(None, message)


class LearnProgress(QDialog):
    """Non-modal: what the adaptation is doing, and a Cancel button."""

    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Learning from this photo")
        self.setModal(False)
        self.setMinimumWidth(380)
        layout = QVBoxLayout(self)
        self.text = QLabel("Starting the trainer…")
        self.text.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.detail = QLabel("")
        self.detail.setObjectName("muted")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        for widget in (self.text, self.bar, self.detail):
            layout.addWidget(widget)
        layout.addLayout(row)

    def reject(self) -> None:  # Escape or the close box: the same as Cancel
        self.cancel_requested.emit()


class LearnFromPhoto(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.job: LearnPhotoProcess | None = None
        self.dialog: LearnProgress | None = None
        self.session = _new_session()
        self.adapted: dict[str, object] = {}     # engine id -> ModelInfo (the newest only)
        self._engines: dict[tuple, PENNetEngine] = {}
        self._arch_label = self._base_label = ""
        self._doc = None                          # the document being learnt from
        self.action = QAction(icon("mdi6.school-outline"), ACTION_TEXT, window)
        self.action.triggered.connect(lambda: self.start())
        window.actions["learn_photo"] = self.action
        window.add_model_action(self.action, MENU_RANK)
        self._pace: tuple[str, float] | None = None   # (device kind, seconds per step) of the running job
        self.refresh_availability()
        window.engines_changed.connect(self.refresh_availability)
        window.inpainting.add_engine_source(ADAPTED_SCHEME, self._engine)
        window.add_close_guard(self._may_close)
        session = self.session
        window.destroyed.connect(lambda *_: shutil.rmtree(session, ignore_errors=True))

    # -- availability ---------------------------------------------------------------------------
    def model_id(self) -> str | None:
        """The model to adapt: the current engine when it is a network model (PEN-Net, DeepFill
        v1), the one Auto uses, else the default model; None when no model is installed."""
        inpainting = self.window.inpainting
        kind = inpainting.engine_kind()
        if kind == "pennet":
            return inpainting.engine_id
        if kind == "auto" and auto_model_id():
            return auto_model_id()
        try:
            return ModelRegistry().default_id()
        except (RegistryError, OSError):
            return None

    def refresh_availability(self) -> None:
        """Disabled, with the reason in its text, while no model exists."""
        available = self.model_id() is not None
        self.action.setEnabled(available and self.job is None)
        self.action.setText(ACTION_TEXT if available else f"{ACTION_TEXT} (needs a model)")
        tip = ("Fine-tune the model briefly on this photo's own known area (never on the hole), "
               "then fill the hole with it" if available else f"Learning from a photo {NO_MODEL}.")
        self.action.setToolTip(tip)
        self.action.setStatusTip(tip)

    # -- starting -------------------------------------------------------------------------------
    def device_kind(self) -> str:
        try:
            return "cuda" if resolve_device(self.window.inpainting.device).type == "cuda" else "cpu"
        except InpaintError:
            return "cpu"

    def default_steps(self) -> int:
        return LEARN_PHOTO_STEPS[self.device_kind()]

    def seconds_per_step(self, kind: str) -> tuple[float, bool]:
        """(seconds per step on `kind`, measured on this computer?)"""
        try:
            measured = float(self.window.settings.qsettings.value(PACE_KEY.format(kind)) or 0)
        except (TypeError, ValueError):
            measured = 0.0
        return (measured, True) if measured > 0 else (DEFAULT_SECONDS_PER_STEP[kind], False)

    def estimate(self, steps: int, kind: str | None = None) -> tuple[float, bool]:
        """(seconds the whole adaptation takes, from a measurement?)"""
        kind = kind or self.device_kind()
        per_step, measured = self.seconds_per_step(kind)
        return START_SECONDS[kind] + steps * per_step, measured

    def ask_steps(self) -> int | None:
        """Quick or thorough, each with its time estimate; None when the user backs out."""
        kind = self.device_kind()
        labels = {}
        for key, table in SETTINGS.items():
            seconds, measured = self.estimate(table[kind], kind)
            labels[key] = f"{key.title()}: about {_duration(seconds)}"
        how = ("as measured on this computer" if self.estimate(1, kind)[1]
               else "estimated; the first run measures this computer")
        text = (f"The model practises filling holes in the rest of this photo, then fills yours. Quick "
                f"({LEARN_PHOTO_QUICK_STEPS[kind]} steps) helps most photos a little; thorough "
                f"({LEARN_PHOTO_STEPS[kind]} steps) takes about three times as long ({how}).")
        answer = self.window.prompter.choose("Learn from this photo", text, labels, "quick")
        return SETTINGS[answer][kind] if answer else None

    def start(self, steps: int | None = None) -> bool:
        """Adapt the current model to the open image, then fill; False (and a message) when it
        cannot start."""
        w, inpainting = self.window, self.window.inpainting
        doc = w.document
        say = w.banner.show_message
        if doc is None:
            return False
        if self.running:
            say("Already learning from this photo.", "info")
            return False
        if inpainting.job is not None:
            say("Wait for the running inpainting job first.", "info")
            return False
        if not doc.mask(HOLE).data.any():
            say("Paint the hole first: learning avoids it, and the adapted model fills it.", "info")
            return False
        model_id = self.model_id()
        if model_id is None:
            say(f"Learning from a photo {NO_MODEL}.", "info")
            return False
        if min(doc.width, doc.height) < 64:
            say("The image is too small to learn from (at least 64x64 pixels).", "info")
            return False
        steps = steps or self.ask_steps()
        if not steps:
            return False
        steps = int(steps)
        folder = self.session / time.strftime("%Y%m%d-%H%M%S")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            image, _alpha = doc.flattened()
            write_image(folder / "image.png", image)
            write_mask(folder / "mask.png", doc.mask(HOLE).data)
        except (OSError, ImageError) as exc:
            say(f"Could not write the image for the trainer: {exc}")
            return False
        self._arch_label, _, self._base_label = inpainting.engine_label(model_id).partition(": ")
        device = inpainting.device if inpainting.device in TRAINING_DEVICES else "auto"
        self._pace = None
        args = ["--model", model_id, "--image", str(folder / "image.png"), "--mask", str(folder / "mask.png"),
                "--steps", str(steps), "--out-name", f"{self._base_label} adapted",
                "--out-dir", str(folder / "model"), "--device", device]
        self._doc = doc
        self.job = LearnPhotoProcess(args, folder, self)
        self.job.event.connect(self._event)
        self.job.ended.connect(self._ended)
        self.dialog = LearnProgress(w)
        self.dialog.cancel_requested.connect(self.cancel)
        self.dialog.show()
        self.action.setEnabled(False)
        w.job_label.setText("Learning from this photo…")
        self.job.start()
        return True

    @property
    def running(self) -> bool:
        return self.job is not None

    def cancel(self) -> None:
        if self.job is not None:
            self.dialog.text.setText("Stopping…")
            self.dialog.cancel_button.setEnabled(False)
            self.job.cancel()

    # -- following the trainer ------------------------------------------------------------------
    def _event(self, e: dict) -> None:
        d = self.dialog
        kind = e.get("event")
        if kind == "start":
            total = int(e.get("total") or 0)
            d.bar.setRange(0, max(total, 1))
            d.bar.setValue(0)
            self._pace = (_kind(e.get("device")), 0.0)
            d.text.setText(f"Learning from this photo on {e.get('device', '?')}: {total} steps on "
                           f"{e.get('crop', '?')} px crops of its known area.")
        elif kind == "progress":
            d.bar.setValue(int(e.get("iteration") or 0))
            eta = e.get("eta_s")
            left = f", about {_duration(eta)} left" if eta is not None else ""
            d.detail.setText(f"Step {e.get('iteration')} of {e.get('total')}{left}")
            if e.get("seconds_per_step") and self._pace is not None:
                self._pace = (self._pace[0], float(e["seconds_per_step"]))
            self.window.job_label.setText(f"Learning from this photo… step {e.get('iteration')} of {e.get('total')}")
        elif kind == "validation":
            psnr = (e.get("metrics") or {}).get("psnr")
            if psnr is not None:
                when = "before" if not e.get("iteration") else "after"
                d.detail.setText(f"Test holes of this photo, {when}: {psnr:.1f} dB")

    def _ended(self, done, error: str) -> None:
        job, self.job = self.job, None
        dialog, self.dialog = self.dialog, None
        self.refresh_availability()
        if done is not None and self._pace is not None and self._pace[1] > 0:   # the next estimate uses this computer's pace
            self.window.settings.qsettings.setValue(PACE_KEY.format(self._pace[0]), round(self._pace[1], 4))
        if dialog is not None:
            dialog.hide()
            dialog.deleteLater()
        if job is not None:
            job.deleteLater()
        w = self.window
        if done is None:
            w.job_label.setText("Cancelled" if not error else "Failed")
            if error:
                w.banner.show_message(f"Learning from this photo failed: {error}")
            return
        try:
            info = read_model(done["card_path"])
        except (RegistryError, KeyError, TypeError) as exc:
            w.banner.show_message(f"The adapted model could not be read: {exc}")
            return
        self._keep_only(f"{ADAPTED_SCHEME}:{info.card_path}", info)
        metrics = done.get("metrics") or {}
        before, after = (metrics.get(k, {}).get("psnr") for k in ("before", "after"))
        if before is not None and after is not None:
            w.statusBar().showMessage(f"Adapted: test holes of this photo {before:.1f} → {after:.1f} dB", 8000)
        if w.document is not self._doc:
            w.banner.show_message("Another image was opened meanwhile: the adapted model was not used.", "info")
            return
        if w.inpainting.inpaint(engine_id=next(iter(self.adapted)),
                                engine_label=f"{self._arch_label}: {self._base_label} adapted") is None:
            w.banner.show_message("The adapted model is ready, but the fill could not start.", "info")

    # -- the adapted model as an engine ---------------------------------------------------------
    def _keep_only(self, engine_id: str, info) -> None:
        for old in self.adapted.values():
            if old.card_path != info.card_path:
                shutil.rmtree(old.card_path.parent, ignore_errors=True)
        self.adapted = {engine_id: info}
        self._engines = {k: v for k, v in self._engines.items() if k[0] == engine_id}

    def _engine(self, engine_id: str, device: str):
        """The engine of an adapted model (runs on the worker thread)."""
        info = self.adapted.get(engine_id)
        if info is None:
            raise InpaintError("That adapted model is gone: learn from the photo again.")
        key = (engine_id, device)
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = PENNetEngine(info, device=resolve_device(device))
        return engine

    def _may_close(self) -> bool:
        if self.job is None:
            return True
        if not self.window.prompter.confirm("Stop learning?", "The model is still learning from this photo. "
                                            "Stop it and close?", ok="Stop and close"):
            return False
        job = self.job
        job.cancel()
        job.process.waitForFinished(5000)
        return True


def _new_session() -> Path:
    """A fresh session folder; folders left by sessions that ended badly long ago are removed."""
    root = sessions_dir()
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > STALE_SESSION_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    path = root / f"{os.getpid()}-{int(now * 1000)}"
    path.mkdir()
    return path


def _kind(device) -> str:
    return "cuda" if str(device or "").startswith("cuda") else "cpu"


def _duration(seconds: float) -> str:
    seconds = int(round(float(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def install(window) -> LearnFromPhoto:
    return LearnFromPhoto(window)
