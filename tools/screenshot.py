"""Screenshot of the editor with a photo loaded and a mask painted (for docs and visual checks),
or of the first start (--welcome).

    python tools/screenshot.py [--image PHOTO] [--out docs/screenshot-editor.png]
    python tools/screenshot.py --welcome --out docs/screenshot-welcome.png

Without a display it starts its own Xvfb (apt-get install xvfb) and uses Qt's xcb platform, so
the real window, fonts and style are drawn. Strokes are given in fractions of the image size:
"x,y x,y ...", several separated by "|". --first-fill paints those strokes and inpaints them
before the final mask is painted, so the layers panel shows a result layer. Settings and models
come from a temporary INPAINT_STUDIO_HOME; nothing of the user's is touched.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_STROKES = "0.64,0.26 0.67,0.44 0.70,0.60 0.72,0.71"


def synthetic_photo(width=1200, height=800):
    """A landscape-like test picture: sky, sun, hills, a lake and a pole to remove."""
    import cv2
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([90 + 80 * y / height, 140 + 60 * y / height, 230 - 40 * y / height], axis=2)
    img = sky.copy()
    cv2.circle(img, (int(width * 0.78), int(height * 0.22)), int(height * 0.07), (255, 236, 180), -1, cv2.LINE_AA)
    hills = height * (0.58 + 0.06 * np.sin(x / width * 7.0) + 0.03 * np.sin(x / width * 19.0))
    img[y > hills] = (60, 110, 60)
    lake = y > height * 0.78
    img[lake] = np.stack([40 + 30 * (y / height), 90 + 20 * (y / height), 140 + 30 * (y / height)], axis=2)[lake]
    rng = np.random.default_rng(3)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    cv2.line(img, (int(width * 0.64), int(height * 0.25)), (int(width * 0.72), int(height * 0.72)),
             (40, 35, 30), max(4, width // 150), cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def parse_strokes(text: str):
    strokes = []
    for part in filter(None, (p.strip() for p in text.split("|"))):
        strokes.append([tuple(float(v) for v in pt.split(",")) for pt in part.split()])
    return strokes


def start_xvfb(width: int, height: int):
    """Start Xvfb on a free display number; returns the process (ours to stop)."""
    if shutil.which("Xvfb") is None:
        sys.exit("No display and no Xvfb: apt-get install xvfb")
    for number in range(90, 120):
        if not Path(f"/tmp/.X{number}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{width + 100}x{height + 100}x24",
                                     "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            if proc.poll() is None:
                os.environ["DISPLAY"] = f":{number}"
                return proc
    sys.exit("Could not start Xvfb")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", help="photo to load (default: a synthetic landscape)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshot-editor.png"))
    ap.add_argument("--size", default="1440x900")
    ap.add_argument("--strokes", default=DEFAULT_STROKES, help="final mask strokes (fractions)")
    ap.add_argument("--first-fill", default="", help="strokes to inpaint first (fractions)")
    ap.add_argument("--brush", type=int, default=0, help="brush diameter in image pixels (default: 3%% of width)")
    ap.add_argument("--first-brush", type=int, default=0, help="brush diameter for --first-fill")
    ap.add_argument("--engine", default="telea")
    ap.add_argument("--cursor", default="", help="x,y fraction where the brush outline is shown")
    ap.add_argument("--welcome", action="store_true",
                    help="the first start instead: the welcome panel on the empty canvas (docs/screenshot-welcome.png)")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))

    xvfb = None
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM", "xcb") == "xcb":
        xvfb = start_xvfb(width, height)
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ["INPAINT_STUDIO_HOME"] = tempfile.mkdtemp(prefix="inpaint-shot-")
    try:
        return _shoot(args, width, height)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


def _shoot(args, width, height) -> int:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from inpaint_studio.app.editor.main_window import MainWindow
    from inpaint_studio.app.ui.theme import app_icon, apply_dark_theme
    from inpaint_studio.imaging import write_image

    app = QApplication.instance() or QApplication(["inpaint-studio"])
    app.setWindowIcon(app_icon())
    apply_dark_theme(app)
    window = MainWindow(autosave=False)
    window.resize(width, height)
    window.show()
    if args.welcome:
        from PySide6.QtGui import QCursor

        QCursor.setPos(window.mapToGlobal(window.rect().bottomLeft()))   # no button under the pointer
        return _grab(app, window, Path(args.out))
    path = Path(args.image) if args.image else Path(os.environ["INPAINT_STUDIO_HOME"]) / "landscape.jpg"
    if not args.image:
        write_image(path, synthetic_photo(), quality=92)
    if not window.files.open_path(path):
        print(window.banner.text(), file=sys.stderr)
        return 1
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    window.canvas.fit()
    doc = window.document
    window.set_tool("brush")
    window.brush_size = args.brush or max(8, doc.width // 33)
    window.inpainting.set_engine(args.engine)

    def paint(strokes):
        viewport = window.canvas.viewport()
        for stroke in strokes:
            pts = [window.canvas.mapFromScene(QPointF(fx * doc.width, fy * doc.height)) for fx, fy in stroke]
            QTest.mousePress(viewport, Qt.LeftButton, Qt.NoModifier, pts[0])
            for a, b in zip(pts, pts[1:]):
                for i in range(1, 9):  # a smooth drag, like a hand
                    QTest.mouseMove(viewport, a + (b - a) * (i / 8))
            QTest.mouseRelease(viewport, Qt.LeftButton, Qt.NoModifier, pts[-1])

    if args.first_fill:
        final_size = window.brush_size
        window.brush_size = args.first_brush or final_size
        paint(parse_strokes(args.first_fill))
        window.brush_size = final_size
        window.inpainting.inpaint()
        deadline = time.time() + 120
        while window.inpainting.job is not None and time.time() < deadline:
            app.processEvents()
            time.sleep(0.02)
    paint(parse_strokes(args.strokes))
    if args.cursor:
        fx, fy = (float(v) for v in args.cursor.split(","))
        QTest.mouseMove(window.canvas.viewport(), window.canvas.mapFromScene(QPointF(fx * doc.width, fy * doc.height)))
    window.document.mark_saved()
    return _grab(app, window, Path(args.out))


def _grab(app, window, out: Path) -> int:
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(f"wrote {out} ({window.width()}x{window.height()})")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
