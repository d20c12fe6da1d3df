"""The Inpaint Studio desktop editor (PySide6). `main(argv)` starts it; see editor/main_window.py for
the window's API. The same command line works as `inpaint-studio`, `python main.py` and
`python -m inpaint_studio.app`."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="inpaint-studio", description="Inpaint Studio: paint over what should go in a photo and fill it.",
        epilog="Options Qt understands (-platform, -style, ...) are passed on to it.")
    parser.add_argument("path", nargs="?", help="a photo or an .ora project to open")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    desktop = parser.add_mutually_exclusive_group()
    desktop.add_argument("--install-desktop-entry", action="store_true",
                         help="add Inpaint Studio to this user's application launcher and to 'Open with' for "
                              "images and .ora projects (files under $XDG_DATA_HOME, no root), then exit")
    desktop.add_argument("--uninstall-desktop-entry", action="store_true",
                         help="remove what --install-desktop-entry added, then exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Start the editor: `inpaint-studio [IMAGE_OR_PROJECT]`. Returns the exit code."""
    argv = list(sys.argv if argv is None else argv)
    args, qt_args = build_parser().parse_known_args(argv[1:])
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        from .desktop import entry
        return entry.run("install" if args.install_desktop_entry else "uninstall")
    from .desktop.platform_check import check

    problem = check()            # before Qt: it would abort with a misleading message
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ..resources import APP_ID
    from .ui.theme import app_icon, apply_dark_theme

    app = QApplication.instance() or QApplication(argv[:1] + qt_args)
    app.setApplicationName("Inpaint Studio")
    app.setOrganizationName("InpaintStudio")
    app.setDesktopFileName(APP_ID)     # the desktop entry's name: taskbars match the window to it
    app.setWindowIcon(app_icon())
    apply_dark_theme(app)
    from .editor.main_window import MainWindow

    window = MainWindow()
    window.show()

    def start():
        restored = window.files.offer_recovery()
        if args.path and not restored:
            window.files.open_path(args.path)

    QTimer.singleShot(0, start)
    return app.exec()


__all__ = ["main"]
