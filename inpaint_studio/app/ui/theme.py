"""Dark theme (Fusion + palette + a short style sheet) and the icon helper."""
from __future__ import annotations

import qtawesome as qta
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#4c8dff"
TEXT = "#dcdfe4"
MUTED = "#8b929c"
BG = "#1e2126"
PANEL = "#262a30"
BASE = "#1a1d21"
CANVAS = "#15171a"
BORDER = "#353a42"

STYLE = f"""
QMainWindow, QDialog {{ background: {BG}; }}
QToolBar {{ background: {PANEL}; border: none; padding: 3px; spacing: 2px; }}
QToolBar::separator {{ background: {BORDER}; width: 1px; margin: 4px 6px; }}
QToolButton {{ border: 1px solid transparent; border-radius: 5px; padding: 4px; color: {TEXT}; }}
QToolButton:hover {{ background: #323842; }}
QToolButton:checked {{ background: #2d4266; border-color: {ACCENT}; }}
QToolButton:disabled {{ color: #5a6069; }}
QDockWidget {{ color: {TEXT}; font-weight: 600; titlebar-close-icon: none; }}
QDockWidget::title {{ background: {PANEL}; padding: 6px 8px; border-bottom: 1px solid {BORDER}; }}
QDockWidget > QWidget {{ background: {PANEL}; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 6px; margin-top: 14px; padding: 8px 6px 6px 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {MUTED}; }}
QListWidget {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 6px; outline: none; }}
QListWidget::item {{ padding: 4px 2px; border-radius: 4px; }}
QListWidget::item:selected {{ background: #2d4266; color: white; }}
QPushButton {{ background: #323842; border: 1px solid {BORDER}; border-radius: 5px; padding: 5px 12px; color: {TEXT}; }}
QPushButton:hover {{ background: #3a414c; }}
QPushButton:disabled {{ color: #5a6069; }}
QPushButton#primary {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; padding: 7px 12px; }}
QPushButton#primary:hover {{ background: #6a9fff; }}
QPushButton#primary:disabled {{ background: #33405a; border-color: #33405a; color: #8892a6; }}
QLineEdit {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 5px; padding: 3px 6px; color: {TEXT}; }}
QSlider::groove:horizontal {{ height: 4px; background: #3a404a; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: #e8ebef; width: 12px; margin: -5px 0; border-radius: 6px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; border-top: 1px solid {BORDER}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 6px; }}
QProgressBar {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 4px; text-align: center; color: {TEXT}; max-height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QMenuBar {{ background: {PANEL}; color: {TEXT}; }}
QMenuBar::item:selected {{ background: #323842; }}
QMenu {{ background: {PANEL}; color: {TEXT}; border: 1px solid {BORDER}; }}
QMenu::item:selected {{ background: #2d4266; }}
QMenu::separator {{ height: 1px; background: {BORDER}; margin: 4px 8px; }}
QGraphicsView {{ background: {CANVAS}; border: none; }}
QLabel#hint {{ color: {MUTED}; }}
QLabel#sectionTitle {{ color: {MUTED}; font-size: 11px; font-weight: 600; letter-spacing: 1px; }}
QFrame#banner {{ border-radius: 6px; }}
QFrame#banner[level="error"] {{ background: #5c2328; border: 1px solid #a4434b; }}
QFrame#banner[level="warning"] {{ background: #5a4620; border: 1px solid #a7822f; }}
QFrame#banner[level="info"] {{ background: #22395e; border: 1px solid #3e64a3; }}
QFrame#banner QLabel {{ color: white; }}
QToolTip {{ background: {PANEL}; color: {TEXT}; border: 1px solid {BORDER}; }}
"""


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
    app.setStyleSheet(STYLE)


def icon(name: str, color: str = TEXT) -> QIcon:
    """A qtawesome icon (mdi6 names) in the theme's colours."""
    return qta.icon(name, color=color, color_active="#ffffff", color_disabled="#5a6069")
