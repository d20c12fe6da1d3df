"""Dark theme (Fusion + palette + the style sheet resources/styles/dark.qss), the app icon and
the icon helper."""
from __future__ import annotations

import sys
from string import Template

import qtawesome as qta
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from ... import resources

ACCENT = "#4c8dff"
TEXT = "#dcdfe4"
MUTED = "#8b929c"
BG = "#1e2126"
PANEL = "#262a30"
BASE = "#1a1d21"
CANVAS = "#15171a"
BORDER = "#353a42"
COLOURS = {"accent": ACCENT, "text": TEXT, "muted": MUTED, "bg": BG, "panel": PANEL, "base": BASE,
           "canvas": CANVAS, "border": BORDER}     # the style sheet's $names


def stylesheet(name: str = "dark") -> str:
    """The style sheet resources/styles/<name>.qss with the theme's colours filled in."""
    return Template(resources.stylesheet(name).read_text(encoding="utf-8")).substitute(COLOURS)


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.Window: BG, QPalette.WindowText: TEXT, QPalette.Base: BASE,
        QPalette.AlternateBase: PANEL, QPalette.Text: TEXT, QPalette.Button: "#323842",
        QPalette.ButtonText: TEXT, QPalette.Highlight: ACCENT, QPalette.HighlightedText: "#ffffff",
        QPalette.ToolTipBase: PANEL, QPalette.ToolTipText: TEXT, QPalette.PlaceholderText: MUTED,
        QPalette.Link: ACCENT, QPalette.Mid: BORDER, QPalette.Dark: "#121417",
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        pal.setColor(QPalette.Disabled, role, QColor("#5a6069"))
    app.setPalette(pal)
    try:
        app.setStyleSheet(stylesheet())
    except resources.ResourceError as exc:   # a broken install: plain Fusion still works
        print(f"inpaint-studio: {exc}; starting without the style sheet", file=sys.stderr)


_APP_ICON: list[QIcon] = []


def app_icon() -> QIcon:
    """Inpaint Studio's icon, from the PNG sizes rendered from its SVG (Qt picks the nearest
    size); an empty icon if the resources are missing."""
    if not _APP_ICON:
        found = QIcon()
        try:
            for size in resources.ICON_SIZES:
                found.addFile(str(resources.icon_png(size)), QSize(size, size))
        except resources.ResourceError as exc:
            print(f"inpaint-studio: {exc}", file=sys.stderr)
        _APP_ICON.append(found)
    return _APP_ICON[0]


def icon(name: str, color: str = TEXT) -> QIcon:
    """A qtawesome icon (mdi6 names) in the theme's colours."""
    return qta.icon(name, color=color, color_active="#ffffff", color_disabled="#5a6069")
