"""The "new fine-tune" form: photo folder (with a live count of usable and unreadable images),
base model, name, iterations (with a time estimate), batch size, learning rate, mask style,
device, and a few more options. Defaults (contracts.training) make a quick first run: the default
model as the base, a short run, the batch size that suits the device, mixed masks, the name of
the folder."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from ...contracts import devices as devices_contract
from ...contracts.training import DEFAULT, FINETUNE, FORM_ITERATIONS, MASK_KINDS, SCRATCH, batch_size_for
from ...engine.registry import ModelRegistry, RegistryError
from ..ui.banner import MessageBanner
from .folder_scan import FolderCount, FolderScanner
from ..ui.theme import icon
from .speed import estimate, format_duration

MASK_LABELS = {"mixed": "Mixed (recommended)", "square": "Squares", "free": "Free-form strokes", "blob": "Blobs"}
DEVICE_NAMES = {"auto": "Automatic", "cpu": "CPU", "cuda": "CUDA GPU"}
CROP_SIZES = (64, 128, 192, 256, 320, 384, 448, 512)


def name_from_folder(folder: str) -> str:
    stem = Path(folder).name.replace("_", " ").replace("-", " ").strip()
    return " ".join(w[:1].upper() + w[1:] for w in stem.split()) or "My model"


def _label(text: str, buddy: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(buddy)
    return label


def _hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class SetupForm(QWidget):
    start_requested = Signal(dict)   # the settings, as fit_args takes them

    def __init__(self, prompter, settings, devices: list[str], parent=None):
        super().__init__(parent)
        self.prompter = prompter
        self.settings = settings
        self.devices = devices
        self.count: FolderCount | None = None
        self._scanner: FolderScanner | None = None     # the current count
        self._scanners: set[FolderScanner] = set()      # every thread still running
        self._touched: set[str] = set()   # fields the user changed (kept when defaults move)
        self._busy_reason = ""

        page = QVBoxLayout(self)
        page.setContentsMargins(0, 0, 0, 0)
        body = QWidget()
        body.setMaximumWidth(860)                       # a readable width on wide screens
        width = QHBoxLayout()
        width.addWidget(body, 10)
        width.addStretch(1)
        page.addLayout(width, 1)
        outer = QVBoxLayout(body)
        outer.setContentsMargins(16, 12, 16, 12)
        outer.setSpacing(10)
        heading = QLabel("New fine-tune")
        heading.setObjectName("dialogTitle")
        outer.addWidget(heading)
        outer.addWidget(_hint("Teach a model your kind of photos: it trains on crops of the folder's images with "
                              "random holes, in a separate process. The editor stays usable meanwhile."))
        self.banner = MessageBanner()
        outer.addWidget(self.banner)

        form = QFormLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)

        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("A folder of your photos (JPEG, PNG, WebP, TIFF, BMP; subfolders too)")
        self.folder_edit.setAccessibleName("Photo folder")
        browse = QPushButton(icon("mdi6.folder-open-outline"), "Bro&wse…")
        browse.clicked.connect(self._browse)
        self.scan_label = _hint("Choose a folder to see how many photos can be used.")
        self.scan_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        column = QVBoxLayout()
        column.setSpacing(4)
        column.addLayout(row)
        column.addWidget(self.scan_label)
        folder_label = _label("Photo &folder:", self.folder_edit)
        form.addRow(folder_label, column)
        form.setAlignment(folder_label, Qt.AlignRight | Qt.AlignTop)
        folder_label.setContentsMargins(0, 5, 0, 0)

        self.base_combo = QComboBox()
        self.base_combo.setAccessibleName("Base model")
        form.addRow(_label("&Base model:", self.base_combo), self.base_combo)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Shown in the model list")
        self.name_edit.setAccessibleName("Name of the new model")
        form.addRow(_label("&Name:", self.name_edit), self.name_edit)

        self.iterations_spin = QSpinBox()
        self.iterations_spin.setRange(1, 1_000_000)
        self.iterations_spin.setSingleStep(500)
        self.iterations_spin.setGroupSeparatorShown(True)
        self.iterations_spin.setValue(FORM_ITERATIONS)
        self.iterations_spin.setAccessibleName("Iterations")
        self.iterations_spin.setMinimumWidth(110)
        self.estimate_label = _hint()
        row = QHBoxLayout()
        row.addWidget(self.iterations_spin)
        row.addWidget(self.estimate_label, 1)
        form.addRow(_label("&Iterations:", self.iterations_spin), row)

        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 256)
        self.batch_spin.setAccessibleName("Batch size")
        self.batch_spin.setMinimumWidth(110)
        self.batch_spin.setToolTip(f"Photos per step: more uses more memory ({batch_size_for('cuda')} suits a GPU, "
                                   f"{batch_size_for('cpu')} a CPU)")
        self.lr_edit = QLineEdit()
        self.lr_edit.setValidator(QDoubleValidator(1e-9, 1.0, 9, self))
        self.lr_edit.setMaximumWidth(110)
        self.lr_edit.setToolTip(f"How far each step moves the weights: {FINETUNE['lr']:g} suits fine-tuning, "
                                f"{SCRATCH['lr']:g} a new model")
        self.lr_edit.setAccessibleName("Learning rate")
        row = QHBoxLayout()
        row.addWidget(self.batch_spin)
        row.addSpacing(16)
        row.addWidget(_label("&Learning rate:", self.lr_edit))
        row.addWidget(self.lr_edit)
        row.addStretch(1)
        form.addRow(_label("Batch si&ze:", self.batch_spin), row)

        self.masks_combo = QComboBox()
        for key in sorted(MASK_KINDS, key=lambda k: k != DEFAULT.masks):   # the default first
            self.masks_combo.addItem(MASK_LABELS.get(key, key), key)
        self.device_combo = QComboBox()
        for key in [k for k in devices_contract.DEVICES[devices_contract.TRAINING] if k in ("auto", "cpu") or k in devices]:
            self.device_combo.addItem(DEVICE_NAMES[key], key)
        row = QHBoxLayout()
        row.addWidget(self.masks_combo)
        row.addSpacing(16)
        row.addWidget(_label("&Device:", self.device_combo))
        row.addWidget(self.device_combo)
        row.addStretch(1)
        form.addRow(_label("&Mask style:", self.masks_combo), row)
        outer.addLayout(form)

        self.more_button = QToolButton()
        self.more_button.setText("More o&ptions")
        self.more_button.setCheckable(True)
        self.more_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.more_button.setArrowType(Qt.RightArrow)
        self.more_button.setFocusPolicy(Qt.StrongFocus)
        self.more_button.toggled.connect(self._toggle_more)
        outer.addWidget(self.more_button)
        self.more = QWidget()
        more = QFormLayout(self.more)
        more.setContentsMargins(0, 0, 0, 0)
        more.setHorizontalSpacing(12)
        more.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.size_combo = QComboBox()
        for side in CROP_SIZES:
            self.size_combo.addItem(f"{side} px" + ("  (the model's native size)" if side == DEFAULT.size else ""), side)
        self.size_combo.setCurrentIndex(self.size_combo.findData(DEFAULT.size))
        more.addRow(_label("&Crop size:", self.size_combo), self.size_combo)
        self.val_spin = QSpinBox()
        self.val_spin.setRange(1, 1_000_000)
        self.val_spin.setValue(FINETUNE["val_every"])
        self.ckpt_spin = QSpinBox()
        self.ckpt_spin.setRange(1, 1_000_000)
        self.ckpt_spin.setValue(DEFAULT.checkpoint_every)
        row = QHBoxLayout()
        row.addWidget(self.val_spin)
        row.addSpacing(16)
        row.addWidget(_label("Checkpoint e&very:", self.ckpt_spin))
        row.addWidget(self.ckpt_spin)
        row.addSpacing(4)
        row.addWidget(QLabel("iterations"))
        row.addStretch(1)
        more.addRow(_label("Valida&te every:", self.val_spin), row)
        self.val_edit = QLineEdit()
        self.val_edit.setPlaceholderText("Optional: a separate folder (default: 5 % of the photos are held out)")
        val_browse = QPushButton("B&rowse…")
        val_browse.clicked.connect(self._browse_val)
        row = QHBoxLayout()
        row.addWidget(self.val_edit, 1)
        row.addWidget(val_browse)
        more.addRow(_label("Validation f&older:", self.val_edit), row)
        self.more.setVisible(False)
        outer.addWidget(self.more)
        outer.addStretch(1)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(16, 0, 16, 4)
        self.busy_label = _hint()
        buttons.addWidget(self.busy_label, 1)
        self.start_button = QPushButton(icon("mdi6.play", "#ffffff"), "  &Start Fine-Tuning")
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self._start)
        buttons.addWidget(self.start_button)
        page.addLayout(buttons)

        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(250)
        self._estimate_timer.timeout.connect(self._rescan)
        self.folder_edit.editingFinished.connect(self._folder_changed)
        self.folder_edit.textChanged.connect(lambda _t: self._estimate_timer.start())
        self.base_combo.currentIndexChanged.connect(self._base_changed)
        self.device_combo.currentIndexChanged.connect(self._device_changed)
        self.name_edit.textEdited.connect(lambda _t: self._touched.add("name"))
        self.lr_edit.textEdited.connect(lambda _t: self._touched.add("lr"))
        self.batch_spin.valueChanged.connect(lambda _v: self._update_estimate())
        self.batch_spin.editingFinished.connect(lambda: self._touched.add("batch"))
        self.iterations_spin.valueChanged.connect(lambda _v: self._update_estimate())
        self.size_combo.currentIndexChanged.connect(lambda _i: (self._show_count(), self._update_estimate()))
        self.lr_edit.textChanged.connect(lambda _t: self._update_start())
        self.name_edit.textChanged.connect(lambda _t: self._update_start())

        q = settings.qsettings
        self.masks_combo.setCurrentIndex(max(0, self.masks_combo.findData(q.value("training/masks", DEFAULT.masks))))
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(q.value("training/device", DEFAULT.device))))
        self.reload_models()
        self._device_changed()
        self._update_start()

    # -- values ---------------------------------------------------------------------------------
    @property
    def device_kind(self) -> str:
        return devices_contract.device_kind(self.device_combo.currentData(), self.devices, devices_contract.TRAINING)

    def values(self) -> dict:
        try:
            lr = float(self.lr_edit.text().replace(",", "."))
        except ValueError:
            lr = 0.0
        return {"data": self.folder_edit.text().strip(), "name": self.name_edit.text().strip(),
                "base": self.base_combo.currentData() or None, "iterations": self.iterations_spin.value(),
                "batch_size": self.batch_spin.value(), "lr": lr, "masks": self.masks_combo.currentData(),
                "device": self.device_combo.currentData(), "size": self.size_combo.currentData(),
                "val_every": self.val_spin.value(), "checkpoint_every": self.ckpt_spin.value(),
                "val": self.val_edit.text().strip() or None}

    def set_folder(self, folder: str) -> None:
        """Choose `folder` and count its photos again."""
        self.count = None
        self.folder_edit.setText(folder)
        self._folder_changed()

    def set_busy(self, reason: str) -> None:
        """Another job runs ("" when none): Start waits for it."""
        self._busy_reason = reason
        self._update_start()

    def reload_models(self) -> None:
        keep = self.base_combo.currentData() if self.base_combo.count() else ...
        self.base_combo.blockSignals(True)
        self.base_combo.clear()
        try:
            registry = ModelRegistry()
            models, default = registry.models(), registry.default_id()
        except (RegistryError, OSError):
            models, default = [], None
        models.sort(key=lambda m: m.id != default)
        for info in models:
            self.base_combo.addItem(icon("mdi6.brain"), info.name + ("  (default)" if info.id == default else ""), info.id)
        self.base_combo.addItem(icon("mdi6.creation"), "None: train from scratch", None)
        wanted = default if keep is ... else keep
        index = self.base_combo.findData(wanted) if wanted else self.base_combo.count() - 1
        self.base_combo.setCurrentIndex(max(0, index))
        self.base_combo.blockSignals(False)
        self._base_changed()

    def _unique_name(self, name: str) -> str:
        """`name`, or `name 2`, `name 3`... when a model already has it."""
        try:
            taken = {m.name.lower() for m in ModelRegistry().models()}
        except (RegistryError, OSError):
            taken = set()
        candidate, n = name, 2
        while candidate.lower() in taken:
            candidate, n = f"{name} {n}", n + 1
        return candidate

    # -- reactions ------------------------------------------------------------------------------
    def _browse(self) -> None:
        start = self.folder_edit.text() or self.settings.qsettings.value("training/last_folder", str(Path.home()))
        chosen = self.prompter.folder(str(start), "Choose the folder of photos to train on")
        if chosen:
            self.set_folder(chosen)

    def _browse_val(self) -> None:
        chosen = self.prompter.folder(self.val_edit.text() or self.folder_edit.text() or str(Path.home()),
                                      "Choose a folder of validation photos")
        if chosen:
            self.val_edit.setText(chosen)

    def _toggle_more(self, on: bool) -> None:
        self.more.setVisible(on)
        self.more_button.setArrowType(Qt.DownArrow if on else Qt.RightArrow)

    def _folder_changed(self) -> None:
        self._estimate_timer.stop()
        self._rescan()

    def _rescan(self) -> None:
        folder = self.folder_edit.text().strip()
        if self.count is not None and self.count.folder == folder:
            return
        if self._scanner is not None:
            self._scanner.cancel()
            self._scanner.counted.disconnect(self._counted)
            self._scanner = None
        self.count = None
        if not folder:
            self.scan_label.setText("Choose a folder to see how many photos can be used.")
            self._update_start()
            return
        if "name" not in self._touched:
            self.name_edit.setText(self._unique_name(name_from_folder(folder)))
        self.count = FolderCount(folder)
        self.scan_label.setText("Scanning…")
        scanner = FolderScanner(folder)
        scanner.counted.connect(self._counted)
        self._scanner = scanner
        self._scanners.add(scanner)
        scanner.finished.connect(lambda: self._scanners.discard(scanner))
        scanner.start()
        self._update_start()

    def _counted(self, count: FolderCount) -> None:
        if self.count is None or count.folder != self.count.folder:
            return
        self.count = count
        if count.done:
            self._scanner = None
            if count.usable(DEFAULT.size) and not count.error:
                self.settings.qsettings.setValue("training/last_folder", count.folder)
        self._show_count()

    def _show_count(self) -> None:
        if self.count is not None:
            self.scan_label.setText(self.count.describe(self.size_combo.currentData()))
        self._update_start()

    def _base_changed(self) -> None:
        base = self.base_combo.currentData()
        if "lr" not in self._touched:
            self.lr_edit.setText(f"{(FINETUNE if base else SCRATCH)['lr']:g}")
        self.base_combo.setToolTip("" if base else "From scratch a model needs about 200 000 iterations to be "
                                                   "useful; fine-tuning an installed model needs a few thousand.")
        self._update_estimate()

    def _device_changed(self) -> None:
        if "batch" not in self._touched:
            self.batch_spin.setValue(batch_size_for(self.device_kind))
        self._update_estimate()

    def _update_estimate(self) -> None:
        seconds, measured = estimate(self.settings, self.device_kind, self.size_combo.currentData(),
                                     self.batch_spin.value(), self.iterations_spin.value())
        where = "GPU" if self.device_kind == "cuda" else "CPU"
        how = "from earlier runs on this computer" if measured else "rough estimate until a first run measures it"
        self.estimate_label.setText(f"≈ {format_duration(seconds)} on the {where} ({how})")
        self.estimate_label.setToolTip("An estimate: the time per training sample on this device, times the "
                                       "iterations and the batch size. Validation and checkpoints add a little.")

    def _problem(self) -> str:
        values = self.values()
        if self._busy_reason:
            return self._busy_reason
        if not values["data"]:
            return "Choose a folder of photos."
        count = self.count
        if count is None or count.error:
            return count.error if count else "Choose a folder of photos."
        if not count.usable(values["size"]):
            return "Scanning the folder…" if not count.done else "The folder has no usable photos."
        if not values["name"]:
            return "Give the new model a name."
        if not values["lr"] > 0:
            return "The learning rate must be a positive number, e.g. 2e-5."
        return ""

    def _update_start(self) -> None:
        problem = self._problem()
        self.start_button.setEnabled(not problem)
        self.busy_label.setText(problem)

    def _start(self) -> None:
        problem = self._problem()
        if problem:
            self.banner.show_message(problem, "info")
            return
        values = self.values()
        if values["val"] and not Path(values["val"]).is_dir():
            self.banner.show_message(f"{values['val']}: the validation folder does not exist.")
            return
        q = self.settings.qsettings
        q.setValue("training/masks", values["masks"])
        q.setValue("training/device", values["device"])
        self.banner.dismiss()
        self.start_requested.emit(values)

    def shutdown(self) -> None:
        """Stop counting (before the form goes away)."""
        for scanner in list(self._scanners):
            scanner.cancel()
        self._scanners.clear()
        self._scanner = None
