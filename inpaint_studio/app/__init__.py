"""The Inpaint Studio desktop editor (PySide6). `main(argv)` starts it; see editor/main_window.py for
the window's API."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Start the editor: `inpaint-studio [IMAGE_OR_PROJECT]`. Returns the exit code."""
    argv = list(sys.argv if argv is None else argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .ui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("Inpaint Studio")
    app.setOrganizationName("InpaintStudio")
    apply_dark_theme(app)
    from .editor.main_window import MainWindow

    window = MainWindow()
    window.show()
    paths = [a for a in argv[1:] if not a.startswith("-")]

    def start():
        restored = window.files.offer_recovery()
        if paths and not restored:
            window.files.open_path(paths[0])

    QTimer.singleShot(0, start)
    return app.exec()


__all__ = ["main"]
