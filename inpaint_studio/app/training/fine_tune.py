"""Fine-tuning from the editor (the fine_tune feature): the Model menu's "Fine-Tune a Model…",
one job at a time per app, the close guard (stop the job, or let it finish in the background), and
on start the runs left running or finished while the editor was closed."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

from ...engine import clear_engine_cache
from ...engine.registry import ModelRegistry
from ...paths import runs_dir
from . import speed as training_speed
from ..ui.theme import icon
from .job import TrainingJob
from .model_manager import accepts_far_behind
from ...contracts.runs import COMPLETED, FAILED, INTERRUPTED
from .runs import list_runs, new_run_dir


MENU_RANK = 30     # in the Model menu: after learn from this photo and the model manager


class FineTuneFeature(QObject):
    job_changed = Signal()          # a job started or ended

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.job: TrainingJob | None = None   # the running job (one at a time)
        self.dialog = None
        self.action = QAction(icon("mdi6.school-outline"), "&Fine-Tune a Model…", window)
        self.action.setStatusTip("Train a model on a folder of your photos")
        self.action.triggered.connect(lambda: self.show_dialog())
        window.add_model_action(self.action, MENU_RANK)
        window.actions["fine_tune"] = self.action
        window.add_close_guard(self.close_guard)
        self._pick_up_runs()

    # -- dialog ---------------------------------------------------------------------------------
    def show_dialog(self, run_dir: Path | None = None):
        from .dialog import TrainingDialog

        if self.dialog is None:
            self.dialog = TrainingDialog(self, self.window)
        if run_dir is not None:
            self.dialog.show_run(run_dir)
        elif self.job is not None:
            self.dialog.show_run(self.job.run_dir)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    # -- jobs -----------------------------------------------------------------------------------
    def start(self, values: dict) -> TrainingJob | None:
        """Launch a new run with the form's values; None (and a message) when it cannot start."""
        if self.job is not None:
            self._tell("A fine-tune is already running; one runs at a time.")
            return None
        try:
            job = TrainingJob(new_run_dir(runs_dir(), values["name"]), self)
            job.run_dir.mkdir(parents=True)
        except OSError as exc:
            self._tell(f"Could not create the run folder: {exc}")
            return None
        self._adopt(job)
        try:
            job.launch(values)   # a process that cannot start ends the job at once, with its message
        except OSError as exc:
            job.fail(f"Could not write to the run folder: {exc}")
        return job

    def resume(self, job: TrainingJob, iterations: int | None = None) -> bool:
        if self.job is not None:
            self._tell("A fine-tune is already running; one runs at a time.")
            return False
        job.setParent(self)
        self._adopt(job)
        try:
            return job.resume(iterations)
        except OSError as exc:
            job.fail(f"Could not write to the run folder: {exc}")
            return False

    def _tell(self, message: str) -> None:
        """A problem with starting a job: in the dialog when it is open, else in the window."""
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.form.banner.show_message(message)
        else:
            self.window.banner.show_message(message)

    def _adopt(self, job: TrainingJob) -> None:
        self.job = job
        job.finished.connect(self._finished)
        self.job_changed.emit()

    def _finished(self, state) -> None:
        job = self.sender()
        if job is not self.job:
            return
        job.finished.disconnect(self._finished)
        self.job = None
        if job.last_speed is not None:
            training_speed.record(self.window.settings, *job.last_speed)
        self._report(job, state)
        job.mark_reported()
        self.job_changed.emit()

    def _report(self, job: TrainingJob, state, while_closed: bool = False) -> None:
        later = " while Inpaint Studio was closed" if while_closed else ""
        if state.status == COMPLETED and state.model_id:
            clear_engine_cache()
            self.window.inpainting.refresh_engines()
            self.window.banner.show_message(f"Fine-tune “{job.name}” finished{later}: model “{state.model_name}” is "
                                            f"now in the model list.", "info")
        elif state.status == COMPLETED:
            self.window.banner.show_message(f"Fine-tune “{job.name}” finished{later}.", "info")
        elif state.status in (FAILED, INTERRUPTED):
            first = (state.message or "it ended unexpectedly").split("\n\n")[0]
            self.window.banner.show_message(f"Fine-tune “{job.name}” failed{later}: {first} "
                                            f"(Model ▸ Fine-Tune a Model… shows its log).", "warning")

    def use_model(self, model_id: str) -> None:
        inpainting = self.window.inpainting
        inpainting.refresh_engines()
        if inpainting.engine_combo.findData(model_id) < 0:
            self.window.banner.show_message("That model is no longer installed.", "warning")
            return
        if not accepts_far_behind(self.window, ModelRegistry(), model_id, "the editor's model"):
            return
        inpainting.set_engine(model_id)
        self.window.banner.show_message(f"Inpainting now uses “{inpainting.engine_label(model_id)}”.", "info")

    def _pick_up_runs(self) -> None:
        """At start: follow a run still training (from an earlier session), and report runs that
        ended while the editor was closed."""
        for run in list_runs(runs_dir()):
            job_info = run.job
            if not job_info:
                continue
            if self.job is None and run.is_alive():
                job = TrainingJob(run.path, self).attach()
                self._adopt(job)
                self.window.banner.show_message(
                    f"Fine-tune “{job.name}” is still training in the background "
                    f"(iteration {job.state.iteration:,} of {job.state.total:,}): Model ▸ Fine-Tune a Model… "
                    f"shows its progress.", "info")
            elif job_info.get("reported") is False and not run.is_alive():
                job = TrainingJob(run.path, self).attach()
                self._report(job, job.state, while_closed=True)
                job.mark_reported()
                job.deleteLater()

    # -- closing --------------------------------------------------------------------------------
    def close_guard(self) -> bool:
        job = self.job
        if job is None or not job.running:
            return True
        if job.stopping:
            return True
        state = job.state
        answer = self.window.prompter.choose(
            "Fine-tuning is running",
            f"“{job.name}” is still training (iteration {state.iteration:,} of {state.total:,}).\n\n"
            f"Let it finish in the background (its model appears in the model list when it is done), "
            f"or stop it now (a checkpoint is saved; resume it later from Model ▸ Fine-Tune a Model…)?",
            {"background": "Finish in Background", "stop": "Stop Training"}, default="background")
        if answer is None:
            return False
        if answer == "stop":
            job.stop()
        return True


def install(window) -> FineTuneFeature:
    return FineTuneFeature(window)
