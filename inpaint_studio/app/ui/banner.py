"""A non-modal message strip above the canvas: errors and notices never block the editor (or
a test). `messages` keeps everything shown, newest last."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

from .theme import icon

ICONS = {"error": "mdi6.alert-circle-outline", "warning": "mdi6.alert-outline", "info": "mdi6.information-outline"}


class MessageBanner(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.level = ""
        self.messages: list[tuple[str, str]] = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self._icon = QLabel()
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QToolButton()
        close.setIcon(icon("mdi6.close", "#ffffff"))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout.addWidget(self._icon)
        layout.addWidget(self._label, 1)
        layout.addWidget(close, 0, Qt.AlignTop)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.hide()

    def show_message(self, text: str, level: str = "error", timeout_ms: int | None = None) -> None:
        """Errors stay until dismissed; notices go after `timeout_ms` (default 6 s)."""
        self.level = level
        self.messages.append((level, text))
        self._label.setText(text)
        self._icon.setPixmap(icon(ICONS.get(level, ICONS["info"]), "#ffffff").pixmap(18, 18))
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()
        if timeout_ms is None and level != "error":
            timeout_ms = 6000
        if timeout_ms:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    def text(self) -> str:
        return self._label.text() if self.isVisibleTo(self.parentWidget()) else ""

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()
