"""`spot-heal-bench`: how well and how fast the spot healing brush works.

Quality: dust specks with halos (restore_eval.synthesize_defects) over the photos of --photos,
each dabbed once at its centre with a brush 0.6 to 2.5 times its size; the PSNR of the crop
around it against the clean photo, when the hole is the brush footprint or the healing mask
(restoration/spot_heal.py), per engine, and the milliseconds of mask + fill.

Speed: a --megapixels photo in the real editor (offscreen window, the real tool, mouse events on
the canvas) at "fit" zoom and at 100 %: milliseconds from the button's release to the healed
pixels in the document (the first dab, which adds the retouching layer, apart), and a clone stamp
stroke. Medians; Qt is imported only when this command runs.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

BRUSH_RATIOS = (0.6, 1.0, 1.5, 2.5)


def register(subparsers) -> None:
    p = subparsers.add_parser("spot-heal-bench", help="the spot healing brush: quality per engine, ms per dab on a large photo",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("--photos", type=Path, required=True, help="folder of photos (*.jpg, *.png), e.g. the corpus' held-out val/")
    p.add_argument("--engines", nargs="+", default=None, help="fill engines (default: the classical ones installed)")
    p.add_argument("--specks", type=int, default=12, help="specks per photo")
    p.add_argument("--max-photos", type=int, default=12, help="photos used from --photos (sorted by name)")
    p.add_argument("--megapixels", type=float, default=24.0, help="size of the photo the editor is timed on")
    p.add_argument("--dabs", type=int, default=15, help="timed dabs per zoom")
    p.add_argument("--skip-editor", action="store_true", help="quality only")
    p.set_defaults(func=run)


def run(args) -> int:
    from ...restoration.restore_eval import load_photos

    photos = load_photos(args.photos)[:args.max_photos]
    if not photos:
        raise ValueError(f"{args.photos}: no photos (*.jpg, *.png) here.")
    quality(photos, args.engines, args.specks)
    if not args.skip_editor:
        editor_speed(photos[0][1], args.megapixels, args.dabs)
    return 0


def quality(photos, engines, specks: int, out=print) -> dict:
    import cv2
    import numpy as np

    from ...engine import CLASSICAL, create_engine
    from ...restoration import spot_heal as healing
    from ...restoration.restore_eval import HALO, psnr, squared_error, synthesize_defects

    engines = list(engines or CLASSICAL)
    fillers = {e: create_engine(e) for e in engines}
    cells: dict = {}
    rng = np.random.default_rng(0)
    count = 0
    for name, img in photos:
        damaged, truth = synthesize_defects(img, 1, n_scratches=0, n_dust=specks, halo=HALO)
        n, labels, stats, centres = cv2.connectedComponentsWithStats((truth > 0).astype(np.uint8), connectivity=8)
        for k in range(1, n):
            if stats[k, cv2.CC_STAT_AREA] < 4:
                continue
            x, y, w, h = (int(v) for v in stats[k, :4])
            extent = max(w, h)
            for ratio in BRUSH_RATIOS:
                size = ratio * extent
                jitter = rng.uniform(-0.15, 0.15, 2) * extent     # a hand is not exact
                x0, y0, x1, y1 = healing.crop_box((x, y, w, h), size, img.shape)
                crop, clean = damaged[y0:y1, x0:x1], img[y0:y1, x0:x1]
                dab = healing.footprint_disk(crop.shape[:2], (centres[k][0] - x0 + jitter[0],
                                                              centres[k][1] - y0 + jitter[1]), size)
                t0 = time.perf_counter()
                healed = healing.defect_mask(crop, dab, size)
                t_mask = time.perf_counter() - t0
                for e, engine in fillers.items():
                    for mode, hole, extra in (("footprint", dab, 0.0), ("heal", healed, t_mask),
                                              ("heal+dab", healed | dab, t_mask)):
                        t0 = time.perf_counter()
                        filled = engine.inpaint(crop, hole.astype(np.uint8) * 255).image
                        cell = cells.setdefault((e, mode, ratio), [0.0, 0, []])
                        sse, values = squared_error(clean, filled)
                        cell[0] += sse
                        cell[1] += values
                        cell[2].append(1000 * (time.perf_counter() - t0 + extra))
            count += 1
    out(f"Spot healing: {count} dust specks with halos over {len(photos)} photos, each dabbed once "
        f"near its centre with a brush {', '.join(f'{r:g}' for r in BRUSH_RATIOS)} x its size.")
    out("PSNR (dB) of the crop around the speck against the clean photo; ms: mask + fill, median.")
    out(f"{'engine':<12} {'hole':<10}" + "".join(f" {f'{r:g}x PSNR':>9} {'ms':>6}" for r in BRUSH_RATIOS))
    table = {}
    for e in engines:
        for mode in ("footprint", "heal", "heal+dab"):
            row = [cells[(e, mode, r)] for r in BRUSH_RATIOS]
            out(f"{e:<12} {mode:<10}" + "".join(f" {psnr(c[0], c[1]):>9.2f} {statistics.median(c[2]):>6.1f}" for c in row))
            table[(e, mode)] = [psnr(c[0], c[1]) for c in row]
    return table


def editor_speed(photo, megapixels: float, dabs: int, out=print) -> dict:
    """Time dabs and a clone stroke in an offscreen editor on a photo scaled to `megapixels`."""
    import cv2
    import numpy as np

    h, w = photo.shape[:2]
    f = (megapixels * 1e6 / (h * w)) ** 0.5
    big = cv2.resize(photo, (round(w * f), round(h * f)), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(1)
    spots = [(int(rng.uniform(0.1, 0.9) * big.shape[1]), int(rng.uniform(0.1, 0.9) * big.shape[0]))
             for _ in range(2 * dabs + 1)]
    for x, y in spots:                                       # a white speck under every dab
        cv2.circle(big, (x, y), 4, (250, 250, 250), -1)
    with tempfile.TemporaryDirectory() as home:
        os.environ["INPAINT_STUDIO_HOME"] = home              # the user's settings stay as they are
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        return _time_editor(big, spots, dabs, out)


def _time_editor(big, spots, dabs: int, out) -> dict:
    from PySide6.QtCore import QEventLoop, QPointF, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from ..editor.document import Document
    from ..editor.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(autosave=False)
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    window.set_document(Document.from_image(big))
    window.set_tool("heal")
    window.brush_size = 20
    tool, canvas = window.tools["heal"], window.canvas
    done_at: list[float] = []
    tool.healer.done.connect(lambda _s: done_at.append(time.perf_counter()))

    def dab(x, y) -> float:
        canvas.centerOn(x, y)
        app.processEvents()
        at = canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
        done_at.clear()
        t0 = time.perf_counter()
        QTest.mouseClick(canvas.viewport(), Qt.LeftButton, Qt.NoModifier, at)
        loop = QEventLoop()
        tool.healer.done.connect(loop.quit)
        QTimer.singleShot(30_000, loop.quit)
        if not done_at:
            loop.exec()
        tool.healer.done.disconnect(loop.quit)
        app.processEvents()                                   # the canvas repaints the dab
        return 1000 * (time.perf_counter() - t0)

    rows = {}
    first = dab(*spots[0])
    for label, zoom in (("fit", None), ("100 %", 1.0)):
        if zoom is None:
            canvas.fit()
        else:
            canvas.set_zoom(zoom)
        times = [dab(*spots[1 + i + (dabs if zoom else 0)]) for i in range(dabs)]
        rows[label] = statistics.median(times)
    # a clone stamp stroke of 200 px with the brush at 40 px, at 100 %
    window.set_tool("clone")
    window.brush_size = 40
    x, y = spots[-1]
    canvas.centerOn(x, y)
    app.processEvents()
    clone = window.tools["clone"]
    clone.press(QPointF(x - 300, y), Qt.LeftButton, Qt.AltModifier)
    t0 = time.perf_counter()
    clone.press(QPointF(x, y), Qt.LeftButton, Qt.NoModifier)
    for step in range(1, 41):
        clone.move(QPointF(x + 5 * step, y), Qt.LeftButton, Qt.NoModifier)
        app.processEvents()
    clone.release(QPointF(x + 200, y), Qt.LeftButton, Qt.NoModifier)
    app.processEvents()
    stroke = 1000 * (time.perf_counter() - t0)
    doc = window.document
    out(f"\nIn the editor, a {doc.width}x{doc.height} photo ({doc.width * doc.height / 1e6:.1f} MP), brush 20 px, "
        f"engine {tool.healer.engine_id()}: ms from the release to the healed pixels on the canvas, median of {dabs}.")
    out(f"{'first dab (adds the retouching layer)':<40} {first:>8.0f} ms")
    for label, ms in rows.items():
        out(f"{'dab at ' + label + ' zoom':<40} {ms:>8.0f} ms")
    out(f"{'clone stamp, 200 px stroke of 41 moves':<40} {stroke:>8.0f} ms ({stroke / 41:.1f} ms per move)")
    doc.mark_saved()                                          # nothing to ask about on closing
    window.close()
    return {"first": first, **rows, "clone": stroke}
