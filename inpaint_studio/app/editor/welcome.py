"""The welcome panel: what the empty canvas shows (first start, or no document open): open a
photo, the recent files, and sample photos with a ready mask, so Inpaint can be pressed at once.

It sits over the canvas's viewport, centred, and only asks: the window connects its signals to
the file controller."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QImageReader, QPixmap
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

from ... import resources
from ..ui.theme import app_icon, icon

MAX_RECENT_SHOWN = 5
THUMB = QSize(132, 88)


def thumbnail(path: Path, size: QSize = THUMB) -> QPixmap:
    """A photo scaled (while decoding) to fit `size`."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid():
        reader.setScaledSize(full.scaled(size, Qt.KeepAspectRatio))
    return QPixmap.fromImage(reader.read())


class WelcomePanel(QFrame):
    open_requested = Signal()
    recent_requested = Signal(str)      # a path from the recent files
    sample_requested = Signal(str)      # a sample's id

    def __init__(self, viewport: QWidget):
        super().__init__(viewport)
        self.setObjectName("welcome")
        self.setAttribute(Qt.WA_StyledBackground, True)
        try:
            self.samples = resources.samples()
        except resources.ResourceError as exc:   # a broken install: the rest of the panel still works
            self.samples = []
            self.samples_error = str(exc)
        else:
            self.samples_error = ""

        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(72, 72))
        logo.setAlignment(Qt.AlignCenter)
        title = QLabel("Inpaint Studio")
        title.setObjectName("welcomeTitle")
        title.setAlignment(Qt.AlignCenter)
        lead = QLabel("Paint over what should go, press Inpaint, and it is filled with what fits around it.")
        lead.setObjectName("hint")
        lead.setAlignment(Qt.AlignCenter)
        lead.setWordWrap(True)

        self.open_button = QPushButton(icon("mdi6.folder-open-outline", "#ffffff"), "  Open a Photo…")
        self.open_button.setObjectName("primary")
        self.open_button.setToolTip("Open a photo or an .ora project (Ctrl+O); or drop one on the window")
        self.open_button.clicked.connect(self.open_requested)
        self.sample_button = QPushButton(icon("mdi6.image-auto-adjust"), "  Try a Sample")
        self.sample_button.setToolTip(self.samples[0].task if self.samples else self.samples_error)
        self.sample_button.setEnabled(bool(self.samples))
        self.sample_button.clicked.connect(lambda: self.sample_requested.emit(self.samples[0].id))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_button)
        buttons.addStretch(1)

        self.recent_box = QVBoxLayout()
        self.recent_box.setSpacing(2)
        self.recent_buttons: list[QPushButton] = []
        self.no_recent = QLabel("No recent files yet.")
        self.no_recent.setObjectName("hint")

        self.sample_buttons: dict[str, QToolButton] = {}
        samples_row = QHBoxLayout()
        samples_row.setSpacing(8)
        for sample in self.samples:
            button = QToolButton()
            button.setObjectName("sampleButton")
            button.setToolButtonStyle(Qt.ToolButtonTextUnderIcon)
            button.setIcon(thumbnail(sample.photo))
            button.setIconSize(THUMB)
            button.setText(sample.title)
            button.setToolTip(f"{sample.task}\n{sample.origin} · {sample.licence}")
            button.clicked.connect(lambda checked=False, s=sample.id: self.sample_requested.emit(s))
            self.sample_buttons[sample.id] = button
            samples_row.addWidget(button)
        samples_row.addStretch(1)

        columns = QGridLayout()
        columns.setHorizontalSpacing(28)
        columns.setVerticalSpacing(6)
        columns.addWidget(_caption("RECENT"), 0, 0)
        columns.addWidget(_caption("SAMPLES, WITH A READY MASK"), 0, 1)
        recent = QVBoxLayout()
        recent.addLayout(self.recent_box)
        recent.addWidget(self.no_recent)
        recent.addStretch(1)
        columns.addLayout(recent, 1, 0)
        columns.addLayout(samples_row, 1, 1)
        columns.setColumnMinimumWidth(0, 220)

        drop = QLabel("You can also drop a photo anywhere in this window.")
        drop.setObjectName("hint")
        drop.setAlignment(Qt.AlignCenter)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 26, 32, 22)
        layout.setSpacing(10)
        layout.addWidget(logo)
        layout.addWidget(title)
        layout.addWidget(lead)
        layout.addSpacing(6)
        layout.addLayout(buttons)
        layout.addSpacing(12)
        layout.addLayout(columns)
        layout.addSpacing(6)
        layout.addWidget(drop)

        self._viewport = viewport
        self._follower = _CentreOnResize(self)
        viewport.installEventFilter(self._follower)
        self.set_recent([])

    def set_recent(self, paths: list[str]) -> None:
        """Show the recent files that still exist (the newest first)."""
        for button in self.recent_buttons:
            self.recent_box.removeWidget(button)
            button.deleteLater()
        self.recent_buttons = []
        for path in [p for p in paths if Path(p).exists()][:MAX_RECENT_SHOWN]:
            button = QPushButton(icon("mdi6.image-outline"), f"  {Path(path).name}")
            button.setObjectName("recentButton")
            button.setFlat(True)
            button.setToolTip(path)
            button.clicked.connect(lambda checked=False, p=path: self.recent_requested.emit(p))
            self.recent_box.addWidget(button)
            self.recent_buttons.append(button)
        self.no_recent.setVisible(not self.recent_buttons)
        self.centre()

    def centre(self) -> None:
        self.adjustSize()
        self._move_to_centre()

    def _move_to_centre(self) -> None:
        area = self._viewport.rect()
        self.move(max(0, (area.width() - self.width()) // 2), max(0, (area.height() - self.height()) // 2))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._move_to_centre()      # its size can change after it was placed (fonts, style, shown later)


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label


class _CentreOnResize(QObject):
    def __init__(self, panel: WelcomePanel):
        super().__init__(panel)
        self.panel = panel

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Resize:
            self.panel.centre()
        return False
