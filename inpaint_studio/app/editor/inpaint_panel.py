"""Inpainting options (strategy, feather, colour matching, device) and the running job's progress."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..ui.theme import icon

STRATEGY_LABELS = {
    "crop": ("Crop around holes", "Fill each hole from a crop around it at full resolution (best detail)."),
    "resize": ("Resize whole image", "Shrink the image to the model's working size, fill, and paste the hole back."),
    "original": ("Original size", "Run the model on the whole image at full size (slow on big photos)."),
}
DEVICE_LABELS = {"auto": "Automatic", "cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}


class InpaintPanel(QWidget):
    READY = "Ready"           # the state line when no job has run on the open photo
    strategy_changed = Signal(str)
    feather_changed = Signal(int)
    colour_adaptation_changed = Signal(bool)
    device_changed = Signal(str)
    cancel_requested = Signal()

    def __init__(self, devices: list[str], parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 8, 10, 10)
        outer.setSpacing(8)
        form = QFormLayout()
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(8)
        outer.addLayout(form)

        self.strategy = QComboBox()
        for key, (label, tip) in STRATEGY_LABELS.items():
            self.strategy.addItem(label, key)
            self.strategy.setItemData(self.strategy.count() - 1, tip, Qt.ToolTipRole)
        self.strategy.currentIndexChanged.connect(lambda _: self.strategy_changed.emit(self.strategy.currentData()))
        form.addRow("Strategy", self.strategy)

        self.feather = QSpinBox()
        self.feather.setRange(0, 64)
        self.feather.setSuffix(" px")
        self.feather.setToolTip("Blend the fill into a band this wide around the hole (0 = hard edge).")
        self.feather.valueChanged.connect(self.feather_changed)
        form.addRow("Feather", self.feather)

        self.colour_adaptation = QCheckBox("Match colours")
        self.colour_adaptation.setToolTip(
            "Models: shift the fill's colours smoothly so that it meets the photo around the hole, "
            "with no visible edge (the band a feather would blend then already matches).")
        self.colour_adaptation.toggled.connect(self.colour_adaptation_changed)
        form.addRow("", self.colour_adaptation)

        self.device = QComboBox()
        for key in ["auto"] + [d for d in devices if d != "auto"]:
            self.device.addItem(DEVICE_LABELS.get(key, key), key)
        self.device.setToolTip("Where the models (PEN-Net, DeepFill v1) run (OpenCV engines always use the CPU).")
        self.device.currentIndexChanged.connect(lambda _: self.device_changed.emit(self.device.currentData()))
        form.addRow("Device", self.device)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.cancel = QPushButton(icon("mdi6.stop-circle-outline"), "Cancel")
        self.cancel.setToolTip("Stop the running job (Esc)")
        self.cancel.clicked.connect(self.cancel_requested)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel)
        outer.addLayout(row)
        self.state = QLabel(self.READY)
        self.state.setObjectName("hint")
        self.state.setWordWrap(True)
        outer.addWidget(self.state)
        outer.addStretch(1)
        self.set_busy(False)

    def set_choice(self, combo: QComboBox, key) -> None:
        index = combo.findData(key)
        if index >= 0:
            combo.blockSignals(True)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)

    def set_busy(self, busy: bool) -> None:
        self.cancel.setEnabled(busy)
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)
        if busy:
            self.progress.setValue(0)

    def set_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.state.setText(message)
