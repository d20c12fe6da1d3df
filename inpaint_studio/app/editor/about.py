"""Help ▸ About: the version and the software it runs on, the bundled models with their cards, and
the licences (the app's, the sample photos', the components')."""
from __future__ import annotations

import html
import importlib.metadata as metadata
import platform
import sys

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QTabWidget, QTextBrowser,
                               QVBoxLayout)

from ... import __version__, resources
from ...paths import resources_dir, user_data_root
from ..ui.theme import BASE, BORDER, MUTED, app_icon

APP_LICENCE = "MIT"
# (distribution, what it does here); licences are read from each one's installed metadata
COMPONENTS = (("PySide6-Essentials", "Qt for Python: the user interface"), ("torch", "PyTorch: PEN-Net"),
              ("opencv-python-headless", "OpenCV: Telea and Navier-Stokes, image operations"),
              ("PyPatchMatch", "PatchMatch"), ("numpy", "NumPy"), ("pillow", "Pillow: image files"),
              ("safetensors", "model weights"), ("qtawesome", "icons (Material Design Icons font: Apache-2.0)"),
              ("platformdirs", "user folders"))


def installed(distribution: str) -> tuple[str, str] | None:
    """(version, licence) of an installed distribution, from its metadata; None if absent."""
    try:
        meta = metadata.metadata(distribution)
    except metadata.PackageNotFoundError:
        return None
    licence = meta.get("License-Expression") or ""
    if not licence and meta.get("License") and len(meta["License"]) <= 80:
        licence = meta["License"]
    if not licence:
        classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
        licence = ", ".join(classifiers) or "see its metadata"
    return meta["Version"], licence


def _table(rows) -> str:
    cells = "".join(f"<tr><td style='color:{MUTED}; padding-right:14px' valign='top'>{html.escape(a)}</td>"
                    f"<td>{b}</td></tr>" for a, b in rows)
    return f"<table cellspacing='0' cellpadding='3'>{cells}</table>"


def about_html() -> str:
    import cv2
    import numpy
    import torch

    pyside = installed("PySide6-Essentials") or ("?", "")
    rows = [("Version", html.escape(__version__)),
            ("Python", html.escape(f"{platform.python_version()} ({sys.executable})")),
            ("Qt", html.escape(f"{qVersion()} (PySide6 {pyside[0]})")),
            ("PyTorch", html.escape(torch.__version__)), ("OpenCV", html.escape(cv2.__version__)),
            ("NumPy", html.escape(numpy.__version__)),
            ("Your settings and models", html.escape(str(user_data_root()))),
            ("Resources", html.escape(str(resources_dir())))]
    return ("<p>Paint over what should go in a photo, press Inpaint, and it is filled with content that fits: "
            "<b>PEN-Net</b> (Zeng et al., CVPR 2019) and <b>DeepFill v1</b> (Yu et al., CVPR 2018) in PyTorch, "
            "with OpenCV's Telea and Navier-Stokes methods "
            "and PatchMatch as classical engines.</p>" + _table(rows))


def models_html(models, error: str = "") -> str:
    """The bundled models' cards (`models`: registry ModelInfo objects) and the classical engines."""
    parts = [f"<p>Could not list the models: {html.escape(error)}</p>"] if error else []
    bundled = [m for m in models if m.bundled]
    if not bundled:
        parts.append("<p>No model is bundled with this installation: the classical engines fill holes, "
                     "and Model ▸ Manage Models imports a released model.</p>")
    for info in bundled:
        card = info.card
        rows = [("Model id", html.escape(info.id))]
        if card.description:
            rows.append(("About", html.escape(card.description)))
        arch = card.architecture
        rows.append(("Architecture", html.escape(f"{arch.name}, {arch.cnum} base channels, {arch.input_size} px")))
        if card.training.iterations is not None:
            rows.append(("Training", html.escape(f"{card.training.iterations:,} iterations"
                                                 + (f" on {card.training.hardware}" if card.training.hardware else ""))))
        figures = [f"PSNR {card.metrics.val_psnr:.2f} dB" if card.metrics.val_psnr is not None else "",
                   f"SSIM {card.metrics.val_ssim:.3f}" if card.metrics.val_ssim is not None else "",
                   f"L1 {card.metrics.val_l1:.4f}" if card.metrics.val_l1 is not None else ""]
        if any(figures):
            rows.append(("Validation", html.escape(" · ".join(f for f in figures if f))))
        for masks, result in (card.metrics.held_out or {}).items():
            beats = result.get("beats_classical") if isinstance(result, dict) else None
            if isinstance(beats, dict) and beats:
                won = [m for m, ok in beats.items() if ok]
                rows.append((f"Held out, {masks} holes",
                             html.escape(f"better than every classical engine in {', '.join(won)}" if won
                                         else "not better than the classical engines")))
        rows.append(("Licence", html.escape(card.licence or "not stated")))
        parts.append(f"<h3 style='margin-bottom:2px'>{html.escape(info.name)}</h3>" + _table(rows))
    users = sum(1 for m in models if not m.bundled)
    parts.append("<h3 style='margin-bottom:2px'>Classical engines</h3>" + _table([
        ("OpenCV Telea, Navier-Stokes", "cv2.inpaint (OpenCV)"), ("PatchMatch", "PyPatchMatch")]))
    if users:
        parts.append(f"<p>{users} model{'s' * (users != 1)} of your own: Model ▸ Manage Models.</p>")
    return "".join(parts)


def licences_html() -> str:
    parts = [f"<p><b>Inpaint Studio</b> {html.escape(__version__)}: {APP_LICENCE} licence. Its icon is drawn for "
             f"it ({APP_LICENCE}). The bundled model's licence is on the Models tab.</p>"]
    try:
        samples = resources.samples()
    except resources.ResourceError as exc:
        samples = []
        parts.append(f"<p>Sample photos: {html.escape(str(exc))}</p>")
    if samples:
        parts.append("<h3 style='margin-bottom:2px'>Sample photos</h3>")
        parts.append(_table([(s.title, html.escape(f"{s.origin}. Licence: {s.licence}. Texts: ")
                              + ", ".join(f"<a href='{f.as_uri()}'>{html.escape(f.name)}</a>" for f in s.licence_files))
                             for s in samples]))
    rows = []
    for distribution, role in COMPONENTS:
        found = installed(distribution)
        if found:
            rows.append((distribution, html.escape(f"{found[0]} · {found[1]} · {role}")))
    parts.append("<h3 style='margin-bottom:2px'>Components</h3>" + _table(rows))
    return "".join(parts)


class AboutDialog(QDialog):
    """Tabs: About, Models, Licences. `models`: the registry's list (read when None)."""

    def __init__(self, parent=None, models=None):
        super().__init__(parent)
        self.setWindowTitle("About Inpaint Studio")
        self.resize(720, 560)
        error = ""
        if models is None:
            from ...engine.registry import ModelRegistry, RegistryError

            try:
                models = ModelRegistry().models()
            except (RegistryError, OSError) as exc:
                models, error = [], str(exc)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        name = QLabel(f"<span style='font-size:18px; font-weight:600'>Inpaint Studio</span><br>"
                      f"<span style='color:{MUTED}'>version {html.escape(__version__)} · {APP_LICENCE} licence</span>")
        name.setTextFormat(Qt.RichText)
        header = QHBoxLayout()
        header.addWidget(logo)
        header.addWidget(name, 1)
        self.tabs = QTabWidget()
        self.pages: dict[str, QTextBrowser] = {}
        for key, title, text in (("about", "About", about_html()), ("models", "Models", models_html(models, error)),
                                 ("licences", "Licences", licences_html())):
            page = QTextBrowser()
            page.setOpenExternalLinks(True)
            page.setStyleSheet(f"QTextBrowser {{ background: {BASE}; border: 1px solid {BORDER}; padding: 8px; }}")
            page.setHtml(text)
            self.pages[key] = page
            self.tabs.addTab(page, title)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
