"""The live view of one fine-tune run, fed by its trainer events: progress with samples/s and ETA,
loss and validation PSNR curves, the newest preview grid, a log, and Stop / Resume / Use."""
from __future__ import annotations

import time

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QSizePolicy,
                               QSpinBox, QSplitter, QVBoxLayout, QWidget)

from ..ui.banner import MessageBanner
from .curves import CurvePlot
from ..ui.theme import BASE, BORDER, MUTED, icon
from .job import TrainingJob
from ...contracts.runs import COMPLETED, FAILED, INTERRUPTED, RUNNING, STATUS_LABELS, STOPPED
from .model_manager import QUALITY_HELP
from .speed import format_duration

LOSS_SERIES = (("hole", "hole L1"), ("valid", "valid L1"), ("pyramid", "pyramid"), ("adversarial", "adversarial"),
               ("discriminator", "discriminator"))
STATUS_COLOURS = {RUNNING: "#4c8dff", COMPLETED: "#3ecf8e", STOPPED: "#f5a524", FAILED: "#ef5f6b",
                  INTERRUPTED: "#ef5f6b", "stopping": "#f5a524"}


class ImagePreview(QWidget):
    """A picture scaled to fit (sharp pixels when enlarged: previews are small)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pixmap = QPixmap()
        self.placeholder = "The first preview appears after the first validation."
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(300, 260)

    def set_image(self, path: str | None) -> bool:
        pixmap = QPixmap(path) if path else QPixmap()
        self.pixmap = pixmap
        self.update()
        return not pixmap.isNull()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setPen(QColor(BORDER))
        p.setBrush(QColor(BASE))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        if self.pixmap.isNull():
            p.setPen(QColor(MUTED))
            p.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            return
        area = self.rect().adjusted(8, 8, -8, -8)
        size = self.pixmap.size().scaled(area.size(), Qt.KeepAspectRatio)
        target = QRectF(area.x() + (area.width() - size.width()) / 2, area.y() + (area.height() - size.height()) / 2,
                        size.width(), size.height())
        p.setRenderHint(QPainter.SmoothPixmapTransform, size.width() < self.pixmap.width())
        p.drawPixmap(target, self.pixmap, QRectF(self.pixmap.rect()))


class RunView(QWidget):
    stop_requested = Signal()
    resume_requested = Signal(int)      # total iterations to continue to
    use_requested = Signal(str)         # model id
    open_folder_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.job: TrainingJob | None = None
        self.can_resume = True          # False while another job runs
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        outer.setSpacing(8)

        head = QHBoxLayout()
        self.title = QLabel()
        self.title.setObjectName("dialogTitle")
        self.status = QLabel()
        self.status.setObjectName("statusChip")
        self.folder_button = QPushButton(icon("mdi6.folder-outline"), "Open Run &Folder")
        self.folder_button.setToolTip("Show the run's checkpoints, previews and logs in the file manager")
        self.folder_button.clicked.connect(self.open_folder_requested)
        head.addWidget(self.title)
        head.addWidget(self.status)
        head.addStretch(1)
        head.addWidget(self.folder_button)
        outer.addLayout(head)
        self.subtitle = QLabel()
        self.subtitle.setObjectName("hint")
        self.subtitle.setWordWrap(True)
        outer.addWidget(self.subtitle)
        self.banner = MessageBanner()
        outer.addWidget(self.banner)

        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self._budget_s: float | None = None  # a run with a time budget shows the time, not the steps
        self.progress.setAccessibleName("Training progress")
        self.progress.setStyleSheet("QProgressBar { max-height: 18px; }")
        self.stats = QLabel("Starting…")
        self.stats.setObjectName("hint")
        self.stats.setTextInteractionFlags(Qt.TextSelectableByMouse)
        outer.addWidget(self.progress)
        outer.addWidget(self.stats)

        self.loss_plot = CurvePlot("Losses")
        for key, label in LOSS_SERIES:
            self.loss_plot.add_series(key, label)
        self.psnr_plot = CurvePlot("Fill quality on held-out photos (PSNR, higher is better)", "dB")
        self.psnr_plot.add_series("psnr", "PSNR", "#3ecf8e")
        self.psnr_plot.setToolTip(QUALITY_HELP)
        self.preview = ImagePreview()
        self.preview_caption = QLabel("Preview")
        self.preview_caption.setObjectName("hint")
        plots = QWidget()
        column = QVBoxLayout(plots)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.loss_plot, 3)
        column.addWidget(self.psnr_plot, 2)
        preview_box = QWidget()
        column = QVBoxLayout(preview_box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.preview_caption)
        column.addWidget(self.preview, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(plots)
        split.addWidget(preview_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(3000)
        self.log.setAccessibleName("Training log")
        self.log.setPlaceholderText("Messages from the trainer")
        vertical = QSplitter(Qt.Vertical)
        vertical.addWidget(split)
        vertical.addWidget(self.log)
        vertical.setStretchFactor(0, 4)
        vertical.setStretchFactor(1, 1)
        vertical.setSizes([520, 130])
        self.log.setMinimumHeight(80)
        vertical.setChildrenCollapsible(False)
        outer.addWidget(vertical, 1)

        actions = QHBoxLayout()
        self.stop_button = QPushButton(icon("mdi6.stop-circle-outline"), "S&top…")
        self.stop_button.setToolTip("Stop after the current iteration and save a checkpoint to resume from later")
        self.stop_button.clicked.connect(self.stop_requested)
        self.resume_spin = QSpinBox()
        self.resume_spin.setRange(1, 10_000_000)
        self.resume_spin.setGroupSeparatorShown(True)
        self.resume_spin.setPrefix("to ")
        self.resume_spin.setSuffix(" iterations")
        self.resume_spin.setAccessibleName("Continue to this many iterations")
        self.resume_button = QPushButton(icon("mdi6.play-circle-outline"), "&Resume")
        self.resume_button.setToolTip("Continue from the newest checkpoint")
        self.resume_button.clicked.connect(lambda: self.resume_requested.emit(self.resume_spin.value()))
        self.use_button = QPushButton(icon("mdi6.check-circle-outline", "#ffffff"), "  &Use This Model")
        self.use_button.setObjectName("primary")
        self.use_button.clicked.connect(lambda: self.use_requested.emit(self.job.state.model_id))
        actions.addWidget(self.stop_button)
        actions.addStretch(1)
        actions.addWidget(self.resume_spin)
        actions.addWidget(self.resume_button)
        actions.addWidget(self.use_button)
        outer.addLayout(actions)

    # -- binding --------------------------------------------------------------------------------
    def show_job(self, job: TrainingJob) -> None:
        if self.job is not None:
            self.job.event.disconnect(self._event)
            self.job.state_changed.disconnect(self.refresh)
            self.job.finished.disconnect(self._finished)
        self.job = job
        self.loss_plot.clear()
        self.psnr_plot.clear()
        self.preview.set_image(None)
        self.preview_caption.setText("Preview")
        self.log.clear()
        self.progress.setRange(0, max(1, job.state.total or 1))
        self.progress.setValue(0)
        self.stats.setText("Waiting for the trainer…" if job.running else "")
        self.title.setText(job.name)
        job_info = job.folder.job
        data = job_info.get("data") or (job.folder.run_info.get("config") or {}).get("data") or ""
        created = job_info.get("created")
        when = time.strftime("%d %b %Y %H:%M", time.localtime(created)) if created else ""
        parts = (f"Photos: {data}" if data else "", f"started {when}" if when else "", f"run {job.run_dir.name}")
        self.subtitle.setText(" · ".join(t for t in parts if t))
        self.subtitle.setToolTip(f"Run folder: {job.run_dir}")
        last_progress = None
        for event in job.events:   # replayed in bulk: one redraw, not one per event
            if event.get("event") == "progress":
                last_progress = event
                self.loss_plot.add_values(event.get("iteration") or 0, event.get("losses") or {}, redraw=False)
            else:
                self._event(event, replay=True)
        self.loss_plot.redraw()
        if last_progress is not None:
            self._show_progress(last_progress)
        if not job.running:
            self._finished(job.state)
        job.event.connect(self._event)
        job.state_changed.connect(self.refresh)
        job.finished.connect(self._finished)
        self.refresh()

    def _finished(self, state) -> None:
        """The process has ended: its failure (with the end of its stderr) goes to the log."""
        if state.message and state.status in (FAILED, INTERRUPTED) and "\n\n" in state.message:
            self.log.appendPlainText(state.message)

    def refresh(self) -> None:
        job = self.job
        if job is None:
            return
        state = job.state
        key = "stopping" if job.stopping else (RUNNING if job.running else state.status)
        text = "Stopping…" if job.stopping else STATUS_LABELS.get(key, key.title())
        colour = STATUS_COLOURS.get(key, MUTED)
        self.status.setText(text)
        self.status.setStyleSheet(f"QLabel {{ color: {colour}; border: 1px solid {colour}; border-radius: 9px; "
                                  f"padding: 1px 8px; font-weight: 600; }}")
        self.stop_button.setVisible(job.running)
        self.stop_button.setEnabled(job.running and not job.stopping)
        resumable = not job.running and job.folder.has_checkpoint()
        self.resume_button.setVisible(resumable)
        self.resume_spin.setVisible(resumable)
        self.resume_button.setEnabled(resumable and self.can_resume)
        self.resume_spin.setEnabled(resumable and self.can_resume)
        if resumable:
            self.resume_button.setText("Con&tinue Training" if state.status == COMPLETED else "&Resume")
            self.resume_button.setToolTip("Continue from the newest checkpoint" if self.can_resume
                                          else "Another fine-tune is running; one runs at a time.")
            total = state.total or 0
            wanted = total if state.status != COMPLETED else total + max(1000, total // 2)
            if not self.resume_spin.hasFocus():
                self.resume_spin.setMinimum(max(1, state.iteration + 1))
                self.resume_spin.setValue(max(wanted, state.iteration + 1))
        self.use_button.setVisible(bool(state.model_id) and not job.running)
        if job.running or state.status in (COMPLETED, STOPPED) and not state.message:
            self.banner.dismiss()
        elif state.message:
            self.banner.show_message(state.message.split("\n\n")[0], "error" if state.status in (FAILED, INTERRUPTED)
                                     else "info", timeout_ms=0)
        if not job.running and state.status == COMPLETED:
            self.progress.setValue(self.progress.maximum())   # a time budget may end it before its time
            self.stats.setText(f"Completed {state.iteration} iterations" +
                               (f" · model “{state.model_name}” added to the model list" if state.model_id else ""))
        elif not job.running and state.status == STOPPED:
            self.stats.setText(f"Stopped at iteration {state.iteration}: resume to continue from its checkpoint")

    # -- events ---------------------------------------------------------------------------------
    def _event(self, e: dict, replay: bool = False) -> None:
        kind = e.get("event")
        if kind == "start":
            minutes = (e.get("config") or {}).get("max_minutes")
            self._budget_s = float(minutes) * 60 if minutes else None
            self.progress.setFormat("%p % of the time" if self._budget_s else "%v / %m steps")
            self.progress.setRange(0, 1000 if self._budget_s else max(1, int(e.get("total") or 1)))
            self.progress.setValue(0 if self._budget_s else int(e.get("iteration") or 0))
            data = e.get("data") or {}
            base = (e.get("base") or {}).get("name")
            first = f"Resumed from iteration {e.get('iteration')}" if e.get("resumed_from") else "Started"
            limit = (f"{format_duration(self._budget_s)} (at most {e.get('total'):,} steps)" if self._budget_s
                     else f"{e.get('total')} steps")
            self._log(e, f"{first}: {limit} on {e.get('hardware') or e.get('device')}, batch "
                         f"{e.get('batch_size')}, {data.get('train_images', data.get('images', '?'))} training images"
                         + (f", fine-tuning “{base}”" if base else ", from scratch"))
            if not replay:
                self.stats.setText("Training…")
        elif kind == "progress":
            self._show_progress(e)
            self.loss_plot.add_values(e.get("iteration") or 0, e.get("losses") or {})
        elif kind == "validation":
            m = e.get("metrics") or {}
            self.psnr_plot.append("psnr", e.get("iteration") or 0, m.get("psnr"))
            self._log(e, f"Quality check at step {e.get('iteration')} on {e.get('images')} held-out photos: "
                         f"PSNR {_num(m.get('psnr'), '.2f')} dB (closeness, higher is better), "
                         f"SSIM {_num(m.get('ssim'), '.3f')} (structure, 1 = identical)")
        elif kind == "sample":
            if self.preview.set_image(e.get("path")):
                self.preview_caption.setText(f"Preview at iteration {e.get('iteration')}: "
                                             f"input (hole in magenta) · output · truth")
        elif kind == "checkpoint":
            size = e.get("size_bytes") or 0
            self._log(e, f"Checkpoint saved at iteration {e.get('iteration')} ({size / 2 ** 20:.0f} MB)")
        elif kind == "log":
            self._log(e, ("Warning: " if e.get("level") == "warning" else "") + str(e.get("message")))
        elif kind == "done":
            status = e.get("status")
            if status == "completed":
                self.progress.setValue(self.progress.maximum())
            text = f"Finished: {status} at iteration {e.get('iteration')}"
            if e.get("model_id"):
                text += f"; model “{e.get('model_name')}” exported (id {e.get('model_id')})"
            self._log(e, text)
        elif kind == "error":
            self._log(e, f"Error: {e.get('message')}")

    def _show_progress(self, e: dict) -> None:
        it, total = int(e.get("iteration") or 0), int(e.get("total") or 1)
        if self._budget_s:
            self.progress.setValue(min(1000, int(1000 * float(e.get("elapsed_s") or 0) / self._budget_s)))
        else:
            if self.progress.maximum() != max(1, total):
                self.progress.setRange(0, max(1, total))
            self.progress.setValue(it)
        speed = e.get("samples_per_s")
        parts = [f"Step {it:,}" if self._budget_s else f"Step {it:,} of {total:,}",
                 f"{speed:.2f} samples/s" if speed else "measuring speed…",
                 f"about {format_duration(e.get('eta_s'))} left" if e.get("eta_s") is not None else "",
                 f"{format_duration(e.get('elapsed_s'))} elapsed" if e.get("elapsed_s") is not None else ""]
        self.stats.setText(" · ".join(p for p in parts if p))

    def _log(self, e: dict, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(e.get("time") or time.time()))
        self.log.appendPlainText(f"{stamp}  {text}")


def _num(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "–"

