"""A fine-tune job: one run folder and, while it trains, its detached trainer process.

The trainer is started through launcher.py with QProcess.startDetached, so it is not a
child of the editor: a crash or an out-of-memory kill in training cannot take the editor down, and
the editor may close while the run finishes. The job follows the run by tailing its events file
(new complete lines, polled on a timer) and by checking the launcher's pid and exit file; a job
made for an existing folder (attach) replays its events and follows it if it still runs.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from ...contracts.events import EventTail
from ...contracts.runs import EVENTS_FILE, EXIT_FILE, FAILED, JOB_FILE, PROCESS_FILE, RUNNING, STOP_FILE
from ...contracts.training import DEFAULT, FINETUNE
from ...paths import PACKAGE_ROOT
from .runs import RunFolder, RunState, write_json

LAUNCHER = Path(__file__).with_name("launcher.py")
CODE_ROOT = PACKAGE_ROOT.parent  # holds inpaint_studio/ and trainer/
LIVENESS_SECONDS = 1.5           # how often the launcher's pid is checked (the exit file every poll)


def fit_args(settings: dict, run_dir: Path) -> list[str]:
    """`python -m trainer fit` arguments for the settings of the fine-tune form (left out:
    the contract's defaults, contracts.training)."""
    iterations = int(settings["iterations"])
    args = ["fit", "--data", str(settings["data"]), "--out", str(run_dir),
            "--events", str(Path(run_dir) / EVENTS_FILE),
            "--iterations", str(iterations), "--masks", settings.get("masks", DEFAULT.masks),
            "--device", settings.get("device", DEFAULT.device), "--size", str(int(settings.get("size", DEFAULT.size))),
            "--val-every", str(int(settings.get("val_every", FINETUNE["val_every"]))),
            "--checkpoint-every", str(int(settings.get("checkpoint_every", DEFAULT.checkpoint_every))),
            "--log-every", str(max(1, min(10, iterations // 100))),
            "--export-name", settings["name"]]
    if settings.get("batch_given", True):     # False: the form's value is the trainer's own default
        args += ["--batch-size", str(int(settings["batch_size"]))]
    if settings.get("lr_given", True):
        args += ["--lr", f"{float(settings['lr']):g}"]
    if settings.get("max_minutes"):
        args += ["--max-minutes", f"{float(settings['max_minutes']):g}"]
    if settings.get("base"):
        args += ["--base", settings["base"]]
    if settings.get("val"):
        args += ["--val", str(settings["val"])]
    return args


class TrainingJob(QObject):
    event = Signal(dict)          # each trainer event, in order
    state_changed = Signal()      # running / stopping / ended changed
    finished = Signal(object)     # RunState, once the process has ended

    def __init__(self, run_dir: Path, parent: QObject | None = None, poll_ms: int = 300):
        super().__init__(parent)
        self.folder = RunFolder(run_dir)
        self.events: list[dict] = []
        self.state = RunState()
        self.running = False
        self.stopping = False
        self.last_speed: tuple[str, int, float] | None = None   # (device kind, size, samples/s)
        self._device, self._size = "cpu", 256                      # from the latest `start`
        self._tail = EventTail(self.folder.events_path)
        self._next_liveness = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    @property
    def name(self) -> str:
        return self.folder.name

    # -- starting -------------------------------------------------------------------------------
    def launch(self, settings: dict) -> bool:
        """Start a new run with the fine-tune form's settings; False (and a failed state with a
        message) when the process could not be started."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        args = fit_args(settings, self.run_dir)
        write_json(self.run_dir / JOB_FILE, {
            "name": settings["name"], "data": str(settings["data"]), "base": settings.get("base"),
            "iterations": int(settings["iterations"]), "device": settings.get("device", DEFAULT.device),
            "created": time.time(), "args": args, "reported": False})
        self.state = RunState(total=int(settings["iterations"]))
        return self._spawn(args)

    def resume(self, iterations: int | None = None) -> bool:
        """Continue this stopped (or failed, or completed) run from its newest checkpoint, to
        `iterations` in all when given."""
        if self.running:
            return False
        for name in (EXIT_FILE, PROCESS_FILE, STOP_FILE):
            (self.run_dir / name).unlink(missing_ok=True)
        args = ["fit", "--resume", "--out", str(self.run_dir), "--events", str(self.folder.events_path)]
        if iterations:
            args += ["--iterations", str(int(iterations))]
        self._update_job(stop_requested=False, reported=False, **({"iterations": int(iterations)} if iterations else {}))
        self.state.ended, self.state.message = False, ""
        return self._spawn(args)

    def _spawn(self, fit: list[str]) -> bool:
        command = [sys.executable, "-m", "trainer", *fit]
        ok, pid = QProcess.startDetached(sys.executable, [str(LAUNCHER), str(self.run_dir), str(CODE_ROOT), "--",
                                                          *command], str(self.run_dir))
        if not ok:
            self.fail(f"Could not start the trainer process ({sys.executable}).")
            return False
        self._update_job(launcher_pid=int(pid), launched=time.time())
        self.running, self.stopping = True, False
        self.state.status = RUNNING
        self._next_liveness = time.monotonic() + LIVENESS_SECONDS
        self._timer.start()
        self.state_changed.emit()
        return True

    def attach(self) -> "TrainingJob":
        """Load an existing run folder: replay its events and follow it if it still trains."""
        self.state = RunState(total=int(self.folder.job.get("iterations") or 0))
        self.events.clear()
        self._tail = EventTail(self.folder.events_path)
        self._take(self._tail.read(), emit=False)
        self.running = self.folder.is_alive()
        self.stopping = self.running and bool(self.folder.job.get("stop_requested"))
        if self.running:
            self.state.status = RUNNING
            self._next_liveness = time.monotonic() + LIVENESS_SECONDS
            self._timer.start()
        else:
            self.folder.settle(self.state)
        return self

    # -- stopping -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the trainer to save a checkpoint and end (`done` with status "stopped"): a STOP file
        in the run folder (every platform) and SIGTERM to the launcher, which passes it on."""
        if not self.running or self.stopping:
            return
        self.stopping = True
        try:
            (self.run_dir / STOP_FILE).touch()
        except OSError:
            pass
        self._update_job(stop_requested=True)
        pid = self.folder.process.get("launcher_pid") or self.folder.job.get("launcher_pid")
        if os.name == "posix" and pid and self.folder.is_alive():
            try:
                os.kill(int(pid), signal.SIGTERM)
            except OSError:
                pass
        self.state_changed.emit()

    def fail(self, message: str) -> None:
        """End a job that could not start."""
        self._timer.stop()
        self.running = self.stopping = False
        self.state.status, self.state.ended, self.state.message = FAILED, True, message
        self.state_changed.emit()
        self.finished.emit(self.state)

    def mark_reported(self) -> None:
        self._update_job(reported=True)

    # -- following ------------------------------------------------------------------------------
    def poll(self) -> None:
        self._take(self._tail.read())
        if not self.running:
            return
        ended = (self.run_dir / EXIT_FILE).exists()
        if not ended and time.monotonic() >= self._next_liveness:
            self._next_liveness = time.monotonic() + LIVENESS_SECONDS
            ended = not self.folder.is_alive()
        if ended:
            self._take(self._tail.read())   # whatever came in before the process ended
            self._timer.stop()
            self.running, self.stopping = False, False
            self.folder.settle(self.state)
            self.state_changed.emit()
            self.finished.emit(self.state)

    def _take(self, events: list[dict], emit: bool = True) -> None:
        for event in events:
            self.state.apply(event)
            self.events.append(event)
            kind = event.get("event")
            if kind == "start":
                self._device = str(event.get("device") or "cpu").split(":")[0]
                self._size = int((event.get("config") or {}).get("size") or DEFAULT.size)
            elif kind == "progress" and event.get("samples_per_s"):
                self.last_speed = (self._device, self._size, float(event["samples_per_s"]))
            if emit:
                self.event.emit(event)

    def _update_job(self, **values) -> None:
        path = self.run_dir / JOB_FILE
        write_json(path, {**self.folder.job, **values})
