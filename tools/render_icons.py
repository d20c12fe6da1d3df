"""Render the app icon's PNG sizes from its SVG with Qt's SVG renderer.

    python tools/render_icons.py

Writes resources/icons/inpaint-studio-<size>.png for every size in inpaint_studio.resources
(commit them: the app, the wheel and the desktop entry use the PNGs). tests/test_resources.py
checks that the committed PNGs still match the SVG.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def render(svg: Path, size: int):
    """The SVG drawn into a transparent size x size QImage (ARGB32)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not an SVG that Qt can draw")
    image = QImage(size, size, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setRenderHint(QPainter.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    from inpaint_studio import resources

    _app = QGuiApplication.instance() or QGuiApplication([])  # Qt's painters need one
    svg = resources.icon_svg()
    for size in resources.ICON_SIZES:
        out = svg.with_name(f"{resources.APP_ID}-{size}.png")
        tmp = out.with_name(f".{out.name}.tmp")
        if not render(svg, size).save(str(tmp), "PNG"):
            raise OSError(f"could not write {tmp}")
        os.replace(tmp, out)
        print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
