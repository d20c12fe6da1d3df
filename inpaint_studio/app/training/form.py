"""The "new fine-tune" form: photo folder (with a live count of usable and unreadable images),
base model, name, how long it may train (a time budget, with the steps it buys at this computer's
pace), device, and more options (batch size, learning rate, masks, crop size, a step limit,
validation). Defaults (contracts.training) make a quick first run: the default model as the base,
the fine-tuning recipe, a short time budget, the batch size that suits the device, the name of the
folder. Every labelled field is a row of its own, so the labels line up."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from ...contracts import devices as devices_contract
from ...contracts.training import DEFAULT, FINETUNE, FORM_MINUTES, MASK_KINDS, SCRATCH, batch_size_for
from ...engine.registry import ModelRegistry, RegistryError
from ..ui.banner import MessageBanner
from .folder_scan import FolderCount, FolderScanner
from ..ui.theme import icon
from .speed import START_AND_SAVE, estimate, format_duration, steps_in

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


def _left(widget: QWidget) -> QHBoxLayout:
    """A field at its natural width, at the left of its row."""
    row = QHBoxLayout()
    row.addWidget(widget)
    row.addStretch(1)
    return row


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
        form.addRow(_label("Photo &folder:", self.folder_edit), column)

        self.base_combo = QComboBox()
        self.base_combo.setAccessibleName("Base model")
        form.addRow(_label("&Base model:", self.base_combo), self.base_combo)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Shown in the model list")
        self.name_edit.setAccessibleName("Name of the new model")
        form.addRow(_label("&Name:", self.name_edit), self.name_edit)

        self.minutes_spin = QSpinBox()
        self.minutes_spin.setRange(1, 7 * 24 * 60)
        self.minutes_spin.setSingleStep(5)
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setGroupSeparatorShown(True)
        self.minutes_spin.setValue(FORM_MINUTES)
        self.minutes_spin.setAccessibleName("How long it may train, in minutes")
        self.minutes_spin.setToolTip("Training stops at this time, saves the model and adds it to the model list. "
                                     "Longer usually means better fills for photos like these.")
        self.minutes_spin.setMinimumWidth(110)
        self.estimate_label = _hint()
        row = QHBoxLayout()
        row.addWidget(self.minutes_spin)
        row.addWidget(self.estimate_label, 1)
        form.addRow(_label("How &long may it train?", self.minutes_spin), row)

        self.device_combo = QComboBox()
        for key in [k for k in devices_contract.DEVICES[devices_contract.TRAINING] if k in ("auto", "cpu") or k in devices]:
            self.device_combo.addItem(DEVICE_NAMES[key], key)
        form.addRow(_label("&Device:", self.device_combo), self.device_combo)
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
        more.setVerticalSpacing(8)
        more.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)

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
        more.addRow(_label("Batch si&ze:", self.batch_spin), _left(self.batch_spin))
        more.addRow(_label("&Learning rate:", self.lr_edit), _left(self.lr_edit))

        self.masks_combo = QComboBox()
        for key in sorted(MASK_KINDS, key=lambda k: k != DEFAULT.masks):   # the default first
            self.masks_combo.addItem(MASK_LABELS.get(key, key), key)
        self.masks_combo.setToolTip("The shapes of the holes it practises on")
        more.addRow(_label("&Hole shapes:", self.masks_combo), _left(self.masks_combo))
        self.size_combo = QComboBox()
        for side in CROP_SIZES:
            self.size_combo.addItem(f"{side} px" + ("  (the model's native size)" if side == DEFAULT.size else ""), side)
        self.size_combo.setCurrentIndex(self.size_combo.findData(DEFAULT.size))
        more.addRow(_label("&Crop size:", self.size_combo), _left(self.size_combo))
        self.iterations_spin = QSpinBox()
        self.iterations_spin.setRange(1, 10_000_000)
        self.iterations_spin.setSingleStep(500)
        self.iterations_spin.setGroupSeparatorShown(True)
        self.iterations_spin.setSuffix(" steps")
        self.iterations_spin.setAccessibleName("Step limit")
        self.iterations_spin.setToolTip("Training also stops after this many steps, if that comes before the time")
        self.iterations_spin.setMinimumWidth(110)
        more.addRow(_label("&Stop after at most:", self.iterations_spin), _left(self.iterations_spin))
        self.val_spin = QSpinBox()
        self.val_spin.setRange(1, 1_000_000)
        self.val_spin.setSuffix(" steps")
        self.val_spin.setValue(FINETUNE["val_every"])
        self.val_spin.setToolTip("How often it measures its fills on photos it does not train on")
        self.ckpt_spin = QSpinBox()
        self.ckpt_spin.setRange(1, 1_000_000)
        self.ckpt_spin.setSuffix(" steps")
        self.ckpt_spin.setValue(DEFAULT.checkpoint_every)
        self.ckpt_spin.setToolTip("How often it saves its progress, to resume after a stop")
        more.addRow(_label("Check &quality every:", self.val_spin), _left(self.val_spin))
        more.addRow(_label("Sa&ve progress every:", self.ckpt_spin), _left(self.ckpt_spin))
        self.val_edit = QLineEdit()
        self.val_edit.setPlaceholderText("Optional: a separate folder (default: 5 % of the photos are held out)")
        val_browse = QPushButton("B&rowse…")
        val_browse.clicked.connect(self._browse_val)
        row = QHBoxLayout()
        row.addWidget(self.val_edit, 1)
        row.addWidget(val_browse)
        more.addRow(_label("Quality-check f&older:", self.val_edit), row)
        self.more.setVisible(False)
        outer.addWidget(self.more)
        # the two forms share one label column: as wide as the widest label, labels to its right
        labels = [item.widget() for f in (form, more) for r in range(f.rowCount())
                  if (item := f.itemAt(r, QFormLayout.LabelRole)) is not None and item.widget() is not None]
        width = max(label.sizeHint().width() for label in labels)
        for label in labels:
            label.setMinimumWidth(width)
            label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
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
        self.iterations_spin.editingFinished.connect(lambda: self._touched.add("iterations"))
        self.minutes_spin.valueChanged.connect(lambda _v: self._update_estimate())
        self.size_combo.currentIndexChanged.connect(lambda _i: (self._show_count(), self._update_estimate()))
        self.size_combo.activated.connect(lambda _i: self._touched.add("size"))
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
                "max_minutes": self.minutes_spin.value(),
                "batch_size": self.batch_spin.value(), "lr": lr, "masks": self.masks_combo.currentData(),
                "device": self.device_combo.currentData(), "size": self.size_combo.currentData(),
                "val_every": self.val_spin.value(), "checkpoint_every": self.ckpt_spin.value(),
                "val": self.val_edit.text().strip() or None,
                # left to the trainer unless changed here: on a GPU its rules cap the batch by the
                # GPU's memory and scale the rate with the batch (contracts.training)
                "batch_given": "batch" in self._touched, "lr_given": "lr" in self._touched}

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
        self.base_combo.addItem(icon("mdi6.creation"), "None: a new model from scratch (takes days)", None)
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
        if "iterations" not in self._touched:
            self.iterations_spin.setValue((FINETUNE if base else SCRATCH)["iterations"])
        if "size" not in self._touched:
            self.size_combo.setCurrentIndex(self.size_combo.findData(FINETUNE["size"] if base else DEFAULT.size))
        if "batch" not in self._touched:
            self.batch_spin.setValue(batch_size_for(self.device_kind, finetune=bool(base)))
        self.base_combo.setToolTip("" if base else "From scratch a model needs about 200 000 iterations to be "
                                                   "useful; fine-tuning an installed model needs a few thousand.")
        self._update_estimate()

    def _device_changed(self) -> None:
        if "batch" not in self._touched:
            self.batch_spin.setValue(batch_size_for(self.device_kind, finetune=bool(self.base_combo.currentData())))
        self._update_estimate()

    def _update_estimate(self) -> None:
        """The budget is kept to the second; what it buys (steps) is the estimate. When the step
        limit comes first, the run is that much shorter."""
        kind, size, batch = self.device_kind, self.size_combo.currentData(), self.batch_spin.value()
        budget = self.minutes_spin.value() * 60
        limit = self.iterations_spin.value()
        seconds, measured = estimate(self.settings, kind, size, batch, limit)
        steps, _ = steps_in(self.settings, kind, size, batch, budget)
        how = "at the pace measured on this computer" if measured else "a rough guess until a first run measures it"
        where = "GPU" if kind == "cuda" else "CPU"
        if seconds < budget:
            text = f"ends after ≈ {format_duration(seconds)}: the {limit:,}-step limit comes first ({how})"
        else:
            text = f"≈ {min(steps, limit):,} training steps on the {where} ({how})"
        self.estimate_label.setText(text)
        self.estimate_label.setToolTip(f"Training stops on time; starting and saving the model add about "
                                       f"{format_duration(START_AND_SAVE.get(kind, START_AND_SAVE['cpu']))}.")

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
