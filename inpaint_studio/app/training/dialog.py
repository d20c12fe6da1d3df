"""The fine-tune dialog (non-modal): on the left the runs (a new one, then recent runs found in
the runs folder, running or finished), on the right the form for a new run or the live view of
the chosen one. Closing it hides it; training goes on."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QIcon
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QStackedWidget, QVBoxLayout)

from ...paths import runs_dir
from ..ui.theme import icon
from .form import SetupForm
from .job import TrainingJob
from ...contracts.runs import RUNNING, STATUS_LABELS
from .runs import list_runs
from .view import RunView

STATUS_ICONS = {"running": "mdi6.progress-clock", "completed": "mdi6.check-circle-outline",
                "stopped": "mdi6.pause-circle-outline", "failed": "mdi6.alert-circle-outline",
                "interrupted": "mdi6.alert-circle-outline"}
NEW = ""  # item data of the "new fine-tune" entry
DIALOG_STYLE = """
QLabel#dialogTitle { font-size: 17px; font-weight: 600; }
QListWidget::item { padding: 6px 4px; }
QPlainTextEdit { background: #1a1d21; border: 1px solid #353a42; border-radius: 6px; font-family: monospace; }
QComboBox, QSpinBox { padding: 3px 6px; }
"""


def open_url(url: QUrl) -> bool:
    """Open a folder or file with the desktop's handler (replaced in tests)."""
    return QDesktopServices.openUrl(url)


class TrainingDialog(QDialog):
    def __init__(self, feature, parent=None):
        super().__init__(parent)
        self.feature = feature
        self.window_ = feature.window
        self._viewed: dict[str, TrainingJob] = {}   # finished runs opened here (not the active job)
        self._followed: TrainingJob | None = None   # the active job whose list entry is kept current
        self.setWindowTitle("Fine-Tune a Model")
        self.setObjectName("trainingDialog")
        self.resize(1120, 760)
        self.setModal(False)
        self.setStyleSheet(DIALOG_STYLE)

        side = QVBoxLayout()
        side.setContentsMargins(12, 12, 0, 12)
        caption = QLabel("RUNS")
        caption.setObjectName("sectionTitle")
        self.runs_list = QListWidget()
        self.runs_list.setIconSize(QSize(18, 18))
        self.runs_list.setFixedWidth(270)
        self.runs_list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.runs_list.setTextElideMode(Qt.ElideRight)
        self.runs_list.setAccessibleName("Fine-tune runs")
        self.runs_list.currentItemChanged.connect(self._selected)
        caption.setBuddy(self.runs_list)
        side.addWidget(caption)
        side.addWidget(self.runs_list, 1)

        window = self.window_
        self.form = SetupForm(window.prompter, window.settings, list(window.inpainting.devices))
        self.form.start_requested.connect(self._start)
        self.view = RunView()
        self.view.stop_requested.connect(self._stop)
        self.view.resume_requested.connect(self._resume)
        self.view.use_requested.connect(self.feature.use_model)
        self.view.open_folder_requested.connect(
            lambda: open_url(QUrl.fromLocalFile(str(self.view.job.run_dir))) if self.view.job else None)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.form)
        self.stack.addWidget(self.view)

        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.hide)
        close = buttons.button(QDialogButtonBox.Close)
        close.setIcon(QIcon())
        close.setToolTip("Hide this window; training goes on")
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.stack, 1)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(16, 0, 16, 12)
        bottom.addWidget(buttons)
        right.addLayout(bottom)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(side)
        layout.addLayout(right, 1)

        feature.job_changed.connect(self._job_changed)
        self.refresh_runs()
        self._job_changed()

    # -- runs list --------------------------------------------------------------------------------
    def refresh_runs(self, select: str | None = None) -> None:
        current = select if select is not None else self._current_key()
        active = self.feature.job
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        item = QListWidgetItem(icon("mdi6.plus-circle-outline"), "New fine-tune")
        item.setData(Qt.UserRole, NEW)
        item.setToolTip("Set up a new fine-tune on a folder of photos")
        self.runs_list.addItem(item)
        for run in list_runs(runs_dir()):
            key = str(run.path)
            if active is not None and active.run_dir == run.path:
                state = active.state
                status = RUNNING if active.running else state.status
            else:
                state = run.state(run.recent_events(), alive=run.is_alive())
                status = state.status
            item = QListWidgetItem()
            item.setData(Qt.UserRole, key)
            item.setToolTip(key)
            self._describe_item(item, run.name, status, state.iteration, state.total, run.modified())
            self.runs_list.addItem(item)
        self.runs_list.blockSignals(False)
        self._select(current or NEW)

    @staticmethod
    def _describe_item(item, name: str, status: str, iteration: int, total: int, when: float,
                       with_icon: bool = True) -> None:
        stamp = time.strftime("%d %b %H:%M", time.localtime(when or time.time())).lstrip("0")
        label = STATUS_LABELS.get(status, status.title())
        if with_icon:
            item.setIcon(icon(STATUS_ICONS.get(status, "mdi6.help-circle-outline")))
        item.setText(f"{name}\n{label} · {iteration:,}/{total:,} · {stamp}")

    def _active_progress(self, event: dict) -> None:
        """Keep the running job's entry in the list current."""
        job = self.feature.job
        if job is None or event.get("event") not in ("start", "progress"):
            return
        for row in range(1, self.runs_list.count()):
            item = self.runs_list.item(row)
            if item.data(Qt.UserRole) == str(job.run_dir):
                self._describe_item(item, job.name, RUNNING, job.state.iteration, job.state.total, time.time(),
                                    with_icon=False)

    def _current_key(self) -> str | None:
        item = self.runs_list.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    def _select(self, key: str) -> None:
        for row in range(self.runs_list.count()):
            if self.runs_list.item(row).data(Qt.UserRole) == key:
                self.runs_list.setCurrentRow(row)
                return
        self.runs_list.setCurrentRow(0)

    def _selected(self, item, _previous=None) -> None:
        key = item.data(Qt.UserRole) if item is not None else NEW
        if not key:
            self.form.reload_models()
            self.stack.setCurrentWidget(self.form)
            return
        self.view.show_job(self._job_for(Path(key)))
        self.stack.setCurrentWidget(self.view)

    def _job_for(self, run_dir: Path) -> TrainingJob:
        active = self.feature.job
        if active is not None and active.run_dir == run_dir:
            return active
        job = self._viewed.get(str(run_dir))
        if job is None or (not job.running and job.folder.is_alive()):  # new, or resumed elsewhere
            job = TrainingJob(run_dir, self).attach()
            self._viewed[str(run_dir)] = job
        return job

    # -- public -------------------------------------------------------------------------------------
    def show_new(self) -> None:
        self._select(NEW)

    def show_run(self, run_dir: Path) -> None:
        self.refresh_runs(select=str(run_dir))

    def shutdown(self) -> None:
        self.form.shutdown()

    # -- actions --------------------------------------------------------------------------------
    def _start(self, values: dict) -> None:
        job = self.feature.start(values)
        if job is not None:
            self.show_run(job.run_dir)

    def _stop(self) -> None:
        job = self.view.job
        if job is None or not job.running:
            return
        if self.window_.prompter.confirm("Stop fine-tuning?",
                                         f"Stop “{job.name}” after the current iteration? A checkpoint is saved, "
                                         f"and Resume continues from it later.", ok="Stop Training"):
            job.stop()

    def _resume(self, iterations: int) -> None:
        job = self.view.job
        if job is not None and self.feature.resume(job, iterations):
            self._viewed.pop(str(job.run_dir), None)
            self.show_run(job.run_dir)

    def _job_changed(self) -> None:
        active = self.feature.job
        if self._followed is not None and self._followed is not active:
            self._followed.event.disconnect(self._active_progress)
            self._followed = None
        if active is not None and self._followed is None:
            active.event.connect(self._active_progress)
            self._followed = active
        shown = self.view.job
        if shown is not None and shown is not active:   # a job that just ended stays on view as it is
            self._viewed[str(shown.run_dir)] = shown
        busy = f"“{active.name}” is training: one fine-tune runs at a time." if active is not None else ""
        self.form.set_busy(busy)
        self.view.can_resume = active is None
        self.view.refresh()
        if self.isVisible():
            self.refresh_runs()

    def showEvent(self, event) -> None:
        self.refresh_runs()
        super().showEvent(event)
