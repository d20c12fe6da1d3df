"""numpy <-> Qt image conversion and thumbnails."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap

from ..document.layers import thumbnail


def to_qimage(rgb: np.ndarray, alpha: np.ndarray | None = None) -> QImage:
    """A QImage that owns a copy of the pixels (RGB888, or RGBA8888 with alpha)."""
    h, w = rgb.shape[:2]
    if alpha is None:
        data = np.ascontiguousarray(rgb)
        return QImage(data.data, w, h, 3 * w, QImage.Format_RGB888).copy()
    data = np.empty((h, w, 4), np.uint8)
    data[..., :3] = rgb
    data[..., 3] = alpha
    return QImage(data.data, w, h, 4 * w, QImage.Format_RGBA8888).copy()


def to_pixmap(rgb: np.ndarray, alpha: np.ndarray | None = None) -> QPixmap:
    return QPixmap.fromImage(to_qimage(rgb, alpha))


def thumbnail_pixmap(rgb: np.ndarray, alpha: np.ndarray | None, size: int) -> QPixmap:
    rgba = thumbnail(rgb, alpha, size)
    return to_pixmap(rgba[..., :3], rgba[..., 3])


def mask_qimage(mask: np.ndarray, color: tuple[int, int, int], opacity: float) -> QImage:
    """An Indexed8 QImage that *shares* the mask's memory: painting into the numpy array shows up
    without any conversion. The caller keeps `mask` alive as long as the image."""
    h, w = mask.shape
    image = QImage(mask.data, w, h, mask.strides[0], QImage.Format_Indexed8)
    r, g, b = color
    table = [0] + [((int(v * opacity) & 0xFF) << 24) | (r << 16) | (g << 8) | b for v in range(1, 256)]
    image.setColorTable(table)
    return image
