"""`python -m trainer figure`: a picture of results on held-out photos (for the README).

One row per photo, columns: the input with its hole tinted, the model's fill (pasted as the app
pastes it, colour adaptation on), OpenCV Telea's fill and the original. The first half of the
rows use centred squares, the rest free-form strokes (seeded, as in `evaluate`); the photos are
spread evenly over the folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..evaluate import load_crops, run_model
from ..fit.masks import fixed_masks
from ..fit.validation import HOLE_TINT

COLUMNS = ("input", "PEN-Net", "OpenCV Telea", "original")
GAP, HEADER = 4, 22


def results_figure(model_id: str, data: str | Path, out: str | Path, rows: int = 4, size: int = 256,
                   seed: int = 0, device: str = "auto") -> Path:
    from inpaint_studio.engine import create_engine

    crops = load_crops(data, size)
    if rows < 1:
        raise ValueError("--rows must be at least 1")
    picked = [crops[i] for i in np.linspace(0, len(crops) - 1, min(rows, len(crops))).round().astype(int)]
    kinds = ["center"] * ((len(picked) + 1) // 2) + ["free"] * (len(picked) // 2)
    holes = [fixed_masks(kind, 1, size, seed=seed + i)[0] for i, kind in enumerate(kinds)]
    filled, _ = run_model(model_id, picked, holes, device)
    telea = create_engine("telea")
    width = len(COLUMNS) * size + (len(COLUMNS) - 1) * GAP
    sheet = Image.new("RGB", (width, HEADER + len(picked) * (size + GAP) - GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(COLUMNS):
        draw.text((c * (size + GAP) + 6, 5), title, fill="black")
    for r, (crop, hole, ours) in enumerate(zip(picked, holes, filled)):
        shown = crop.astype(np.float32) / 255
        shown[hole > 0] = shown[hole > 0] * 0.35 + HOLE_TINT * 0.65
        cells = [(shown * 255).round().astype(np.uint8), ours, telea.inpaint(crop, hole).image, crop]
        for c, cell in enumerate(cells):
            sheet.paste(Image.fromarray(cell), (c * (size + GAP), HEADER + r * (size + GAP)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def register(subparsers) -> None:
    parser = subparsers.add_parser("figure", help="a picture of a model's results on held-out photos")
    parser.add_argument("--model", required=True, help="registry model id")
    parser.add_argument("--data", required=True, help="folder of held-out photos")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--rows", type=int, default=4, help="photos shown (default 4: 2 squares, 2 free-form)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0, help="mask seed")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    print(results_figure(args.model, args.data, args.out, args.rows, args.size, args.seed, args.device))
    return 0
