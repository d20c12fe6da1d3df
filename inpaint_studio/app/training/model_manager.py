"""The model manager (an extension): bundled and user models (PEN-Net, DeepFill v1) with their cards; set the
default, rename or delete a user model, import a released checkpoint (.pth) or a safetensors file,
show a model's folder. The editor's model picker is refreshed after every change."""
from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QIcon
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QTextBrowser, QVBoxLayout)

from ...engine import clear_engine_cache
from ...engine.registry import ModelInfo, ModelRegistry, RegistryError
from ..ui.banner import MessageBanner
from ..ui.theme import BASE, BORDER, icon

IMPORT_FILTER = "PEN-Net weights (*.pth *.pt *.safetensors);;All files (*)"
METRIC_NAMES = {"val_psnr": ("PSNR", "{:.2f} dB"), "psnr": ("PSNR", "{:.2f} dB"), "val_ssim": ("SSIM", "{:.3f}"),
                "ssim": ("SSIM", "{:.3f}"), "val_l1": ("L1", "{:.4f}"), "l1": ("L1", "{:.4f}")}


# what the figures of a quality check mean, in words (the model manager and the run view)
QUALITY_HELP = ("Measured on photos it did not train on, with holes filled and compared to the originals: "
                "PSNR (dB) says how close the fill is, higher is better, 1 dB is a visible step; SSIM says how "
                "well structure and texture match, 1 = identical.")


def open_url(url: QUrl) -> bool:
    """Open a folder with the desktop's file manager (replaced in tests)."""
    return QDesktopServices.openUrl(url)


def human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def card_rows(info: ModelInfo, names: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(label, text) rows describing a model's card, in reading order; `names` maps model ids
    to names (for the model it was fine-tuned from)."""
    card, arch, training = info.card, info.architecture, info.card.training
    variant = "" if arch.affinity == "release" else f", {arch.affinity} attention"  # the usual one goes unsaid
    rows = [("Architecture", f"{arch.label}, {arch.cnum} base channels, trained at {arch.input_size} px{variant}")]
    data = training.data
    if isinstance(data, dict) and (data.get("path") or data.get("images")):
        text = f"{data.get('images', '?')} images"
        if data.get("megapixels"):
            text += f" ({data['megapixels']} megapixels)"
        if data.get("path"):
            text += f" from {data['path']}"
        rows.append(("Training data", text))
    elif isinstance(data, str):
        rows.append(("Training data", data))
    elif training.imported_from:
        rows.append(("Training data", f"imported from {training.imported_from}"))
    if training.iterations is not None:
        rows.append(("Iterations", f"{training.iterations:,}"))
    if training.base:
        rows.append(("Fine-tuned from", (names or {}).get(training.base, training.base)))
    if training.hardware:
        rows.append(("Trained on", training.hardware))
    metrics = card.metrics.to_dict()     # the validation metrics, or an imported card's own
    shown = []
    for key in METRIC_NAMES:   # PSNR, SSIM, L1, whatever order the card has
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            label, fmt = METRIC_NAMES[key]
            shown.append(f"{label} {fmt.format(value)}")
    if shown:
        at = card.metrics.val_iteration
        rows.append(("Quality check", " · ".join(shown) + (f" (at step {at:,})" if at is not None else "")
                     + f"\n{QUALITY_HELP}"))
    rows.append(("Size on disk", human_size(info.size_bytes)))
    rows.append(("Licence", card.licence or "not stated"))
    if card.created:
        try:
            created = datetime.fromisoformat(card.created).astimezone().strftime("%d %b %Y %H:%M")
        except ValueError:
            created = card.created
        rows.append(("Created", created))
    rows.append(("File", str(info.weights_path)))
    return rows


def accepts_far_behind(window, registry, model_id: str, making: str) -> bool:
    """Before a model becomes what the editor (or the command line) fills with: when its own
    figures put it far behind the bundled model or the classical engines (contracts.card's rule),
    ask; True to go ahead."""
    try:
        info, reasons = registry.get(model_id), registry.far_behind(model_id)
    except RegistryError:
        return True                    # gone meanwhile: the action itself reports it
    if not reasons:
        return True
    return window.prompter.confirm(
        "This model is far behind",
        f"“{info.name}” fills worse than what you have: {'; '.join(reasons)}.\n\nIts fills will look blurry or "
        f"wrong. Make it {making} anyway?", ok="Use It Anyway")


def card_html(info: ModelInfo, default: bool, names: dict[str, str] | None = None) -> str:
    tags = ["bundled, read-only" if info.bundled else "user model"] + (["default"] if default else [])
    parts = [f"<h2 style='margin:0'>{html.escape(info.name)}</h2>",
             f"<p style='color:#8b929c; margin-top:2px'>{html.escape(info.id)} · {' · '.join(tags)}</p>"]
    if info.card.description:
        parts.append(f"<p>{html.escape(info.card.description)}</p>")
    parts.append("<table cellspacing='0' cellpadding='4'>")
    for label, text in card_rows(info, names):
        parts.append(f"<tr><td style='color:#8b929c; padding-right:14px' valign='top'>{html.escape(label)}</td>"
                     f"<td>{html.escape(text)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class ModelManagerDialog(QDialog):
    def __init__(self, window, registry_factory=ModelRegistry):
        super().__init__(window)
        self.window_ = window
        self.registry_factory = registry_factory
        self.models: list[ModelInfo] = []
        self.default_id: str | None = None
        self.setWindowTitle("Models")
        self.resize(880, 560)

        self.banner = MessageBanner()
        self.list = QListWidget()
        self.list.setIconSize(QSize(18, 18))
        self.list.setFixedWidth(270)
        self.list.setAccessibleName("Installed models")
        self.list.currentRowChanged.connect(self._show_current)
        self.card = QTextBrowser()
        self.card.setOpenLinks(False)
        self.card.setAccessibleName("Model card")
        self.card.setStyleSheet(f"QTextBrowser {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 6px; "
                                f"padding: 10px; }}")

        self.default_button = QPushButton(icon("mdi6.star-outline"), "Set as &Default")
        self.default_button.setToolTip("Fine-tunes start from the default model, and the editor lists it first")
        self.rename_button = QPushButton(icon("mdi6.pencil-outline"), "&Rename…")
        self.delete_button = QPushButton(icon("mdi6.delete-outline"), "De&lete…")
        self.reveal_button = QPushButton(icon("mdi6.folder-outline"), "Show in &File Manager")
        self.use_button = QPushButton(icon("mdi6.check-circle-outline"), "&Use in Editor")
        self.import_button = QPushButton(icon("mdi6.tray-arrow-down"), "&Import…")
        self.import_button.setToolTip("Add a released PEN-Net checkpoint (.pth) or a .safetensors file")
        self.default_button.clicked.connect(self.set_default)
        self.rename_button.clicked.connect(lambda: self.rename())
        self.delete_button.clicked.connect(self.delete)
        self.reveal_button.clicked.connect(self.reveal)
        self.use_button.clicked.connect(self.use)
        self.import_button.clicked.connect(lambda: self.import_model())

        empty = QLabel("No model is installed yet: import one, or fine-tune one from a folder of photos.")
        empty.setObjectName("hint")
        empty.setWordWrap(True)
        self.empty_label = empty
        caption = QLabel("&MODELS")
        caption.setObjectName("sectionTitle")
        caption.setBuddy(self.list)
        side = QVBoxLayout()
        side.addWidget(caption)
        side.addWidget(self.list, 1)
        side.addWidget(self.import_button)
        right = QVBoxLayout()
        right.addSpacing(caption.sizeHint().height() + right.spacing())
        right.addWidget(self.empty_label)
        right.addWidget(self.card, 1)
        row = QHBoxLayout()
        for button in (self.use_button, self.default_button, self.rename_button, self.delete_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.reveal_button)
        right.addLayout(row)
        body = QHBoxLayout()
        body.addLayout(side)
        body.addLayout(right, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.Close).setIcon(QIcon())
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)
        layout.addWidget(buttons)
        self.reload()

    # -- listing --------------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        current = select or (self.selected().id if self.selected() else None)
        try:
            registry = self.registry_factory()
            self.models, self.default_id = registry.models(), registry.default_id()
        except (RegistryError, OSError) as exc:
            self.models, self.default_id = [], None
            self.banner.show_message(f"Could not list the models: {exc}")
        self.list.blockSignals(True)
        self.list.clear()
        for info in self.models:
            tags = ["bundled" if info.bundled else "user"] + (["default"] if info.id == self.default_id else [])
            glyph = "mdi6.star" if info.id == self.default_id else ("mdi6.lock-outline" if info.bundled else "mdi6.brain")
            item = QListWidgetItem(icon(glyph), f"{info.name}\n{' · '.join(tags)} · {human_size(info.size_bytes)}")
            item.setData(Qt.UserRole, info.id)
            item.setToolTip(info.id)
            self.list.addItem(item)
        self.list.blockSignals(False)
        ids = [m.id for m in self.models]
        self.list.setCurrentRow(ids.index(current) if current in ids else (0 if ids else -1))
        self._show_current()

    def selected(self) -> ModelInfo | None:
        row = self.list.currentRow() if hasattr(self, "list") else -1
        return self.models[row] if 0 <= row < len(self.models) else None

    def _show_current(self, *_):
        info = self.selected()
        has = info is not None
        self.empty_label.setVisible(not self.models)
        self.card.setVisible(bool(self.models))
        names = {m.id: m.name for m in self.models}
        self.card.setHtml(card_html(info, info.id == self.default_id, names) if has else "")
        user = has and not info.bundled
        self.default_button.setEnabled(has and info.id != self.default_id)
        for button in (self.rename_button, self.delete_button):
            button.setEnabled(user)
            button.setToolTip("" if user or not has else "Bundled models are read-only")
        self.reveal_button.setEnabled(has)
        self.use_button.setEnabled(has)

    # -- changes --------------------------------------------------------------------------------
    def _changed(self, select: str | None = None, clear_cache: bool = False) -> None:
        if clear_cache:
            clear_engine_cache()
        self.reload(select)
        self.window_.inpainting.refresh_engines()

    def set_default(self) -> None:
        info = self.selected()
        if info is None:
            return
        registry = self.registry_factory()
        if not accepts_far_behind(self.window_, registry, info.id, "the default model"):
            return
        try:
            registry.set_default(info.id)
        except RegistryError as exc:
            self.banner.show_message(str(exc))
            return
        self._changed(info.id)
        self.banner.show_message(f"“{info.name}” is now the default model.", "info")

    def rename(self, new_name: str | None = None) -> None:
        info = self.selected()
        if info is None:
            return
        if new_name is None:
            new_name = self.window_.prompter.text("Rename model", "New name:", info.name)
        if new_name is None or new_name.strip() == info.name:
            return
        try:
            self.registry_factory().rename(info.id, new_name)
        except RegistryError as exc:
            self.banner.show_message(str(exc))
            return
        self._changed(info.id)

    def delete(self) -> None:
        info = self.selected()
        if info is None:
            return
        if not self.window_.prompter.confirm(
                "Delete model?", f"Delete “{info.name}”? Its weights ({human_size(info.size_bytes)}) and card are "
                                 f"removed from disk; this cannot be undone.", ok="Delete"):
            return
        try:
            self.registry_factory().delete(info.id)
        except (RegistryError, OSError) as exc:
            self.banner.show_message(str(exc))
            return
        self._changed(clear_cache=True)
        self.banner.show_message(f"Deleted “{info.name}”.", "info")

    def import_model(self, path: str | None = None, name: str | None = None) -> ModelInfo | None:
        prompter = self.window_.prompter
        if path is None:
            path = prompter.open_path(str(self.window_.settings.last_dir), "Import a PEN-Net model", IMPORT_FILTER)
            if not path:
                return None
        if name is None:
            name = prompter.text("Import model", "Name shown in the model list:", Path(path).stem)
            if name is None:
                return None
        if not name.strip():
            self.banner.show_message("A model name cannot be empty.")
            return None
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            info = self.registry_factory().import_checkpoint(path, name.strip())
        except RegistryError as exc:
            self.banner.show_message(f"Could not import the model: {exc}")
            return None
        except OSError as exc:
            self.banner.show_message(f"Could not import the model: {path}: {exc.strerror or exc}")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self.window_.settings.last_dir = str(Path(path).parent)
        self._changed(info.id)
        self.banner.show_message(f"Imported “{info.name}”.", "info")
        return info

    def reveal(self) -> None:
        info = self.selected()
        if info is not None and not open_url(QUrl.fromLocalFile(str(info.weights_path.parent))):
            self.banner.show_message(f"Could not open {info.weights_path.parent}.", "warning")

    def use(self) -> None:
        info = self.selected()
        if info is not None:
            if not accepts_far_behind(self.window_, self.registry_factory(), info.id, "the editor's model"):
                return
            self.window_.inpainting.refresh_engines()
            self.window_.inpainting.set_engine(info.id)
            self.banner.show_message(f"The editor now inpaints with “{info.name}”.", "info")


MENU_RANK = 20     # in the Model menu: after learn from this photo, before fine-tuning


class ModelManager:
    """The Model menu's "Manage Models…" entry and its (non-modal) dialog."""

    def __init__(self, window):
        self.window = window
        self.dialog: ModelManagerDialog | None = None
        self.action = QAction(icon("mdi6.database-cog-outline"), "&Manage Models…", window)
        self.action.setStatusTip("List, import, rename, delete and choose the default model")
        self.action.triggered.connect(lambda: self.show_dialog())
        window.add_model_action(self.action, MENU_RANK)
        window.actions["manage_models"] = self.action
        window.engines_changed.connect(self._engines_changed)

    def _engines_changed(self) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.reload()

    def show_dialog(self) -> ModelManagerDialog:
        if self.dialog is None:
            self.dialog = ModelManagerDialog(self.window)
        else:
            self.dialog.reload()
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog


def install(window) -> ModelManager:
    return ModelManager(window)
