"""Shared helpers for the GUI tests (no tests here): a scripted Prompter, a window fixture,
a synthetic photo and mouse helpers that paint on the canvas in image coordinates."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest


class ScriptedPrompter:
    """Answers every modal question from attributes; records what was asked."""

    def __init__(self):
        self.asked: list[tuple] = []
        self.open_answer = None
        self.save_answer = None
        self.unsaved_answer = "discard"
        self.confirm_answer = False
        self.restore_answer = True
        self.integer_answer = None
        self.color_answer = None
        self.folder_answer = None
        self.choose_answer = None
        self.text_answer = None

    def open_path(self, start_dir, title="", filter=""):
        self.asked.append(("open_path", title))
        return self.open_answer

    def folder(self, start_dir, title=""):
        self.asked.append(("folder", title))
        return self.folder_answer

    def choose(self, title, text, choices, default=None):
        self.asked.append(("choose", title))
        return self.choose_answer

    def text(self, title, label, value=""):
        self.asked.append(("text", title))
        return self.text_answer

    def save_path(self, suggested, filters=None, title=""):
        self.asked.append(("save_path", suggested))
        return self.save_answer

    def unsaved_changes(self, title):
        self.asked.append(("unsaved_changes", title))
        return self.unsaved_answer

    def confirm(self, title, text, ok="OK"):
        self.asked.append(("confirm", title))
        return self.confirm_answer

    def restore(self, title, saved_at):
        self.asked.append(("restore", title))
        return self.restore_answer

    def integer(self, title, label, value, lo, hi):
        self.asked.append(("integer", title))
        return self.integer_answer if self.integer_answer is not None else value

    def color(self, current):
        self.asked.append(("color",))
        return self.color_answer

    def show_text(self, title, html):
        self.asked.append(("show_text", title))

    def kinds(self) -> list[str]:
        return [a[0] for a in self.asked]


def photo(width: int = 160, height: int = 120) -> np.ndarray:
    """A deterministic, textured RGB test image."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                    ((x // 8 + y // 8) % 2) * 120 + 60], axis=2)
    return rgb.astype(np.uint8)


def make_window(qtbot, autosave=False, **kwargs):
    from inpaint_studio.app.editor.main_window import MainWindow

    prompter = ScriptedPrompter()
    window = MainWindow(prompter=prompter, autosave=autosave, **kwargs)
    qtbot.addWidget(window)
    window.resize(1100, 760)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def window(qtbot):
    return make_window(qtbot)


@pytest.fixture
def photo_path(tmp_path):
    from inpaint_studio.imaging import write_image

    return write_image(tmp_path / "photo.png", photo())


def view_point(window, x: float, y: float):
    """Viewport position of image point (x, y)."""
    return window.canvas.mapFromScene(QPointF(x, y))


def drag(window, points, button=Qt.LeftButton, modifiers=Qt.NoModifier):
    """Press at the first image point, move through the rest, release at the last."""
    vp = window.canvas.viewport()
    pts = [view_point(window, x, y) for x, y in points]
    QTest.mousePress(vp, button, modifiers, pts[0])
    for p in pts[1:]:
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, button, modifiers, pts[-1])


def click(window, x, y, button=Qt.LeftButton, modifiers=Qt.NoModifier):
    QTest.mouseClick(window.canvas.viewport(), button, modifiers, view_point(window, x, y))


def answer_each_with_escape(calls) -> tuple[list, list]:
    """Run each modal question in `calls`, backing out of the dialog it opens (reject/close);
    returns (names of the dialogs that opened, the answers)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialog

    opened, answers = [], []

    def dismiss():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, dismiss)
            return
        opened.append(type(dialog).__name__)
        dialog.reject() if isinstance(dialog, QDialog) else dialog.close()

    for call in calls:
        QTimer.singleShot(20, dismiss)
        answers.append(call())
    return opened, answers
