"""Tool options: brush size and hardness (shown for the tools that paint with the brush), mask
colour and opacity."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox,
                               QWidget)

MAX_BRUSH = 2000


def _slider(lo: int, hi: int) -> QSlider:
    slider = QSlider(Qt.Horizontal)
    slider.setRange(lo, hi)
    return slider


class ToolOptionsPanel(QWidget):
    brush_size_changed = Signal(int)
    hardness_changed = Signal(float)       # 0..1
    mask_opacity_changed = Signal(float)   # 0..1
    mask_color_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(10, 8, 10, 10)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignLeft | Qt.AlignVCenter)

        self.size_slider = _slider(1, 500)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        self.size_spin.setFixedWidth(78)
        self.size_slider.valueChanged.connect(lambda v: self._set_size(v))
        self.size_spin.valueChanged.connect(lambda v: self._set_size(v))
        self.size_row = self._pair(self.size_slider, self.size_spin)
        form.addRow("Size", self.size_row)

        self.hardness_slider = _slider(0, 100)
        self.hardness_label = QLabel()
        self.hardness_label.setFixedWidth(78)
        self.hardness_slider.valueChanged.connect(self._hardness_moved)
        self.hardness_row = self._pair(self.hardness_slider, self.hardness_label)
        form.addRow("Hardness", self.hardness_row)
        self.form = form

        self.opacity_slider = _slider(10, 100)
        self.opacity_label = QLabel()
        self.opacity_label.setFixedWidth(78)
        self.opacity_slider.valueChanged.connect(self._opacity_moved)
        form.addRow("Mask opacity", self._pair(self.opacity_slider, self.opacity_label))

        self.color_button = QPushButton()
        self.color_button.setToolTip("Colour of the mask overlay")
        self.color_button.setFixedSize(44, 22)
        self.color_button.clicked.connect(self.mask_color_requested)
        form.addRow("Mask colour", self.color_button)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)

    @staticmethod
    def _pair(a: QWidget, b: QWidget) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(a, 1)
        row.addWidget(b)
        return box

    # -- in -----------------------------------------------------------------------------------
    def show_brush_options(self, shown: bool) -> None:
        """Size and hardness only for the tools that paint with the brush (not rectangle, lasso)."""
        for row in (self.size_row, self.hardness_row):
            self.form.setRowVisible(row, shown)

    def brush_options_shown(self) -> bool:
        return self.form.isRowVisible(self.size_row)

    def set_brush_size(self, size: int) -> None:
        for widget in (self.size_slider, self.size_spin):
            widget.blockSignals(True)
        self.size_slider.setValue(min(size, self.size_slider.maximum()))
        self.size_spin.setValue(size)
        for widget in (self.size_slider, self.size_spin):
            widget.blockSignals(False)

    def set_hardness(self, hardness: float) -> None:
        self.hardness_slider.blockSignals(True)
        self.hardness_slider.setValue(round(hardness * 100))
        self.hardness_slider.blockSignals(False)
        self.hardness_label.setText(f"{round(hardness * 100)} %")

    def set_mask_look(self, color: tuple[int, int, int], opacity: float) -> None:
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_slider.blockSignals(False)
        self.opacity_label.setText(f"{round(opacity * 100)} %")
        self.color_button.setStyleSheet(
            f"QPushButton {{ background: {QColor(*color).name()}; border: 1px solid #5a6069; border-radius: 4px; }}")

    # -- out ----------------------------------------------------------------------------------
    def _set_size(self, value: int) -> None:
        self.set_brush_size(value)
        self.brush_size_changed.emit(value)

    def _hardness_moved(self, value: int) -> None:
        self.hardness_label.setText(f"{value} %")
        self.hardness_changed.emit(value / 100.0)

    def _opacity_moved(self, value: int) -> None:
        self.opacity_label.setText(f"{value} %")
        self.mask_opacity_changed.emit(value / 100.0)
