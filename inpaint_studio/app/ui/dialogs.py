"""Every modal question the editor asks goes through a Prompter, so tests (and scripts) replace
one object, or one method, instead of fighting modal dialogs. Errors are not asked: they go to
the window's message banner."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QColorDialog, QDialog, QDialogButtonBox, QFileDialog, QInputDialog,
                               QLabel, QMessageBox, QVBoxLayout, QWidget)

from ...imaging import SUPPORTED_SUFFIXES

IMAGE_FILTER = "Images ({})".format(" ".join(f"*{s}" for s in SUPPORTED_SUFFIXES))
OPEN_FILTER = f"Images and projects ({' '.join(f'*{s}' for s in SUPPORTED_SUFFIXES)} *.ora);;" \
              f"{IMAGE_FILTER};;OpenRaster project (*.ora);;All files (*)"
SAVE_FILTERS = {
    "OpenRaster project, keeps layers (*.ora)": ".ora",
    "PNG image (*.png)": ".png",
    "JPEG image (*.jpg *.jpeg)": ".jpg",
    "WebP image (*.webp)": ".webp",
    "TIFF image (*.tif *.tiff)": ".tif",
}
EXPORT_FILTERS = {k: v for k, v in SAVE_FILTERS.items() if v != ".ora"}
MASK_FILTER = "Mask image (*.png *.bmp *.tif *.tiff *.webp *.jpg);;All files (*)"


class Prompter:
    """Modal questions. Return values: None (or False / "cancel") when the user backs out."""

    def __init__(self, parent: QWidget):
        self.parent = parent

    # files
    def open_path(self, start_dir: str, title: str = "Open image or project", filter: str = OPEN_FILTER) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, title, start_dir, filter)
        return path or None

    def folder(self, start_dir: str, title: str = "Choose a folder") -> str | None:
        path = QFileDialog.getExistingDirectory(self.parent, title, start_dir)
        return path or None

    def save_path(self, suggested: str, filters: dict[str, str] = SAVE_FILTERS,
                  title: str = "Save as") -> str | None:
        names = ";;".join(filters)
        path, chosen = QFileDialog.getSaveFileName(self.parent, title, suggested, names)
        if not path:
            return None
        suffix = filters.get(chosen)
        if suffix and not Path(path).suffix:
            path += suffix
        return path

    # questions
    def unsaved_changes(self, title: str) -> str:
        """'save' | 'discard' | 'cancel'"""
        box = QMessageBox(QMessageBox.Warning, "Unsaved changes",
                          f"“{title}” has changes that are not saved.", parent=self.parent)
        box.setInformativeText("Save them before closing?")
        box.setStandardButtons(QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel)
        box.setDefaultButton(QMessageBox.Save)
        answer = box.exec()
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def confirm(self, title: str, text: str, ok: str = "OK") -> bool:
        box = QMessageBox(QMessageBox.Question, title, text, parent=self.parent)
        yes = box.addButton(ok, QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        box.exec()
        return box.clickedButton() is yes

    def restore(self, title: str, saved_at: str) -> bool:
        return self.confirm("Restore unsaved work?",
                            f"Inpaint Studio did not close properly last time. An autosaved copy of "
                            f"“{title}” from {saved_at} is available.\n\nRestore it? "
                            f"(Otherwise it is discarded.)", ok="Restore")

    def choose(self, title: str, text: str, choices: dict[str, str], default: str | None = None) -> str | None:
        """One of several answers: `choices` maps a key to its button text (in order). Returns the
        key, or None when the user closes the box (Escape), which always means "do nothing"."""
        box = QMessageBox(QMessageBox.Question, title, text, parent=self.parent)
        buttons = {box.addButton(label, QMessageBox.AcceptRole): key for key, label in choices.items()}
        box.addButton(QMessageBox.Cancel)
        for button, key in buttons.items():
            if key == default:
                box.setDefaultButton(button)
        box.exec()
        return buttons.get(box.clickedButton())

    def text(self, title: str, label: str, value: str = "") -> str | None:
        answer, ok = QInputDialog.getText(self.parent, title, label, text=value)
        return answer if ok else None

    def integer(self, title: str, label: str, value: int, lo: int, hi: int) -> int | None:
        number, ok = QInputDialog.getInt(self.parent, title, label, value, lo, hi)
        return number if ok else None

    def color(self, current: tuple[int, int, int]) -> tuple[int, int, int] | None:
        chosen = QColorDialog.getColor(QColor(*current), self.parent, "Mask colour")
        return (chosen.red(), chosen.green(), chosen.blue()) if chosen.isValid() else None

    def show_text(self, title: str, html: str) -> None:
        dialog = QDialog(self.parent)
        dialog.setWindowTitle(title)
        layout = QVBoxLayout(dialog)
        label = QLabel(html)
        label.setTextFormat(Qt.RichText)
        label.setMinimumWidth(min(label.sizeHint().width(), 900))   # tables keep their lines whole
        label.setWordWrap(True)
        layout.addWidget(label)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(dialog.reject)
        layout.addWidget(buttons)
        dialog.exec()
