"""`python -m trainer figure`: a picture of results on held-out photos (for the README).

One row per photo, columns: the input with its hole tinted, the model's fill (pasted as the app
pastes it, colour adaptation on), Auto's fill (the engine it chose is written on it), the
classical engines' fills (PatchMatch when installed, OpenCV Telea) and the original. The first
half of the rows use centred squares, the rest free-form strokes (each photo's mask as `evaluate`
draws it); the photos are spread evenly over the folder (or over one half of it, --half).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..evaluate import auto_engine, load_named_crops, run_model
from ..fit.masks import named_masks
from ..fit.validation import HOLE_TINT

GAP, HEADER = 4, 22


def columns() -> list[tuple[str, str]]:
    """(title, engine id) of the columns; "" for the input and the original, "model" and "auto"."""
    from inpaint_studio.engine import CLASSICAL

    classical = [(t, e) for t, e in (("PatchMatch", "patchmatch"), ("OpenCV Telea", "telea")) if e in CLASSICAL]
    return [("input", ""), ("PEN-Net", "model"), ("Auto", "auto"), *classical, ("original", "")]


def results_figure(model_id: str, data: str | Path, out: str | Path, rows: int = 4, size: int = 256,
                   seed: int = 0, device: str = "auto", half: str | None = None) -> Path:
    from inpaint_studio.engine import create_engine
    from inpaint_studio.engine.auto import short_summary

    names, crops = load_named_crops(data, size, half=half)
    if rows < 1:
        raise ValueError("--rows must be at least 1")
    chosen = np.linspace(0, len(crops) - 1, min(rows, len(crops))).round().astype(int)
    picked = [crops[i] for i in chosen]
    kinds = ["center"] * ((len(picked) + 1) // 2) + ["free"] * (len(picked) // 2)
    holes = [named_masks(kind, [names[i]], size, seed=seed)[0] for i, kind in zip(chosen, kinds)]
    filled, _ = run_model(model_id, picked, holes, device)
    auto = auto_engine(model_id, device)
    cols = columns()
    width = len(cols) * size + (len(cols) - 1) * GAP
    sheet = Image.new("RGB", (width, HEADER + len(picked) * (size + GAP) - GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (title, _) in enumerate(cols):
        draw.text((c * (size + GAP) + 6, 5), title, fill="black")
    for r, (crop, hole, ours) in enumerate(zip(picked, holes, filled)):
        shown = crop.astype(np.float32) / 255
        shown[hole > 0] = shown[hole > 0] * 0.35 + HOLE_TINT * 0.65
        top = HEADER + r * (size + GAP)
        for c, (title, engine) in enumerate(cols):
            caption = ""
            if c == 0:
                cell = (shown * 255).round().astype(np.uint8)
            elif engine == "model":
                cell = ours
            elif engine == "auto":
                result = auto.inpaint(crop, hole)
                cell, caption = result.image, short_summary(result.fills).replace("×", "x")  # the default font lacks ×
            elif engine:
                cell = create_engine(engine).inpaint(crop, hole).image
            else:
                cell = crop
            x = c * (size + GAP)
            sheet.paste(Image.fromarray(cell), (x, top))
            if caption:
                box = draw.textbbox((x + 4, top + 4), caption)
                draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill="black")
                draw.text((x + 4, top + 4), caption, fill="white")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    return out


def register(subparsers) -> None:
    from ..evaluate import HALVES

    parser = subparsers.add_parser("figure", help="a picture of a model's results on held-out photos")
    parser.add_argument("--model", required=True, help="registry model id")
    parser.add_argument("--data", required=True, help="folder of held-out photos")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--rows", type=int, default=4, help="photos shown (default 4: 2 squares, 2 free-form)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0, help="mask seed")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--half", choices=HALVES, help="only photos of this half (report: never seen by Auto's fitting)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    print(results_figure(args.model, args.data, args.out, args.rows, args.size, args.seed, args.device, args.half))
    return 0
