"""`python -m trainer auto-rule`: measure every engine on many hole regions of held-out photos and
fit Auto's rule (engine/auto.py) to the measurements.

Regions: on each photo of one half of a folder (evaluate.half_of: `--half tune`, so that the other
half stays unseen for the figures that are reported), at each crop size, a fixed set of seeded
masks: the centred square, two random squares, free-form strokes of three widths and two blobs.
Every engine (the model in fp32, as `evaluate` runs it, and the installed classical engines)
fills each mask; each hole region (regions.hole_groups, as Auto splits a mask) gets its
features (auto.region_features) and, per engine, the PSNR, L1 and SSIM of the fill inside it.

The rule: a decision tree of depth <= 2 whose tests are "feature < threshold" and whose leaves
rank the engines by their mean region PSNR there. Each split is the one (feature, threshold at a
5 % quantile, rounded) that raises the mean region PSNR of the engines chosen most; a split is
kept only if it gains at least --min-gain dB and leaves --min-leaf regions on each side.
"""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np

from .evaluate import auto_engine, load_named_crops
from .masks import MaskGenerator

FEATURES = ("radius", "area", "texture", "contrast")
METRICS = ("psnr", "l1", "ssim")
# (family, mask kind, stroke width as a share of the short side)
TUNING_MASKS = (("centre", "center", None), ("square", "square", None), ("square", "square", None),
                ("stroke-thin", "free", (0.01, 0.03)), ("stroke-medium", "free", (0.03, 0.06)),
                ("stroke-wide", "free", (0.06, 0.12)), ("blob", "blob", None), ("blob", "blob", None))
SIZES = (256, 512)
DEPTH, MIN_LEAF, MIN_GAIN = 2, 30, 0.05  # tree depth, regions on each side of a split, dB a split must gain


# -- measuring ------------------------------------------------------------------------------------
def measure(model_id: str, data: str | Path, half: str | None = "tune", sizes=SIZES, seed: int = 0,
            device: str = "auto", limit: int | None = None, say=print) -> list[dict]:
    """One record per hole region: {"photo", "size", "family", "features", "errors": {engine:
    {"psnr", "l1", "ssim"}}}."""
    from inpaint_studio.engine.auto import MODEL, grey, region_features
    from inpaint_studio.engine.regions import hole_groups

    auto = auto_engine(model_id, device)
    engines = {MODEL: auto.model, **auto.classical}
    records = []
    for size in sizes:
        names, crops = load_named_crops(data, size, limit, half)
        for n, (name, crop) in enumerate(zip(names, crops), start=1):
            say(f"{size} px: photo {n} of {len(names)}: {name}")
            g = grey(crop)
            for j, (family, kind, width) in enumerate(TUNING_MASKS):
                options = {"stroke_width": width} if width else {}
                mask = MaskGenerator(kind, seed=[seed, zlib.crc32(name.encode()), size, j], **options)(size)
                hole = mask > 0
                labels, boxes = hole_groups(hole)
                filled = {e: engine.inpaint(crop, mask).image for e, engine in engines.items()}
                maps = {e: _ssim_map(out, crop) for e, out in filled.items()}
                for k, box in enumerate(boxes, start=1):
                    region = labels == k
                    records.append({
                        "photo": name, "size": size, "family": family,
                        "features": region_features(g, hole, labels, k, box),
                        "errors": {e: region_errors(out, crop, region, maps[e]) for e, out in filled.items()},
                    })
    return records


def _ssim_map(result: np.ndarray, truth: np.ndarray, window: int = 11, sigma: float = 1.5) -> np.ndarray:
    """metrics.ssim_map averaged over the channels, (H-10)x(W-10), with separable blurs in numpy
    (float64 grouped convolutions are slow in torch on the CPU; a test checks they agree)."""
    import cv2

    x, y = result.astype(np.float64) / 255, truth.astype(np.float64) / 255
    cut = window // 2

    def blur(a):
        return cv2.GaussianBlur(a, (window, window), sigma, borderType=cv2.BORDER_REFLECT)[cut:-cut, cut:-cut]

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x ** 2, blur(y * y) - mu_y ** 2, blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return value.mean(axis=2)


def region_errors(result: np.ndarray, truth: np.ndarray, region: np.ndarray, smap: np.ndarray) -> dict:
    """PSNR and L1 over the region's pixels ([0, 1] range), SSIM over the windows centred in it."""
    diff = (result[region].astype(np.float64) - truth[region]) / 255.0
    mse = float((diff ** 2).mean())
    half = (region.shape[0] - smap.shape[0]) // 2
    centres = region[half:half + smap.shape[0], half:half + smap.shape[1]]
    return {"psnr": 10 * math.log10(1.0 / max(mse, 1e-10)), "l1": float(np.abs(diff).mean()),
            "ssim": float(smap[centres].mean()) if centres.any() else float("nan")}


# -- fitting --------------------------------------------------------------------------------------
def fit(records: list[dict], engines: list[str], depth: int = DEPTH, min_leaf: int = MIN_LEAF,
        min_gain: float = MIN_GAIN) -> dict:
    """The rule (engine/auto.py's format) that maximises the mean region PSNR of its choices."""
    psnr = np.array([[r["errors"][e]["psnr"] for e in engines] for r in records])
    feats = {f: np.array([r["features"][f] for r in records], dtype=float) for f in FEATURES}
    return _node(np.arange(len(records)), psnr, feats, engines, depth, min_leaf, min_gain)


def _node(idx, psnr, feats, engines, depth, min_leaf, min_gain) -> dict:
    means = psnr[idx].mean(0)
    leaf = {"engines": [engines[i] for i in np.argsort(-means, kind="stable")]}
    if depth == 0 or len(idx) < 2 * min_leaf:
        return leaf
    best, base = None, means.max()
    for name in FEATURES:
        values = feats[name][idx]
        for threshold in _thresholds(values):
            below = values < threshold
            if below.sum() < min_leaf or (~below).sum() < min_leaf:
                continue
            # the mean region PSNR when each side takes its own best engine
            score = (psnr[idx[below]].mean(0).max() * below.sum()
                     + psnr[idx[~below]].mean(0).max() * (~below).sum()) / len(idx)
            if best is None or score > best[0] + 1e-9:
                best = (score, name, threshold, below)
    if best is None or best[0] - base < min_gain:
        return leaf
    _, name, threshold, below = best
    children = [_node(idx[side], psnr, feats, engines, depth - 1, min_leaf, min_gain) for side in (below, ~below)]
    if children[0] == children[1]:
        return children[0]
    return {"feature": name, "threshold": threshold, "below": children[0], "at_or_above": children[1]}


def _thresholds(values: np.ndarray) -> list[float]:
    """Candidate thresholds: the 5 % .. 95 % quantiles rounded to two significant digits."""
    out = set()
    for q in np.quantile(values, np.linspace(0.05, 0.95, 19)):
        if q > 0:
            digits = 1 - int(math.floor(math.log10(abs(q))))
            out.add(round(float(q), digits) if digits > 0 else float(round(q, digits)))
    return sorted(out)


# -- reporting ------------------------------------------------------------------------------------
def summarise(records: list[dict], rule: dict, engines: list[str]) -> dict:
    """Per leaf and per mask family: regions, each engine's mean region PSNR / L1 / SSIM, the
    rule's and the best possible (oracle) choice; and the same over all regions."""
    from inpaint_studio.engine.auto import choose, leaf

    def table(group: list[dict]) -> dict:
        row = {"regions": len(group)}
        for e in engines + ["rule", "oracle"]:
            row[e] = {m: _mean([_pick(r, e, rule, engines, choose)[m] for r in group]) for m in METRICS}
        return row

    by_leaf: dict[str, list[dict]] = {}
    for r in records:
        by_leaf.setdefault(", ".join(leaf(r["features"], rule, values=False)[1]) or "every region", []).append(r)
    by_family: dict[str, list[dict]] = {}
    for r in records:
        by_family.setdefault(f"{r['family']} {r['size']}", []).append(r)
    chosen: dict[str, int] = {}
    for r in records:
        e = choose(r["features"], set(engines), rule)[0]
        chosen[e] = chosen.get(e, 0) + 1
    return {"all": table(records), "chosen": chosen,
            "leaves": {k: {**table(v), "engines": leaf(v[0]["features"], rule)[0]} for k, v in by_leaf.items()},
            "families": {k: table(v) for k, v in sorted(by_family.items())}}


def _pick(record, e, rule, engines, choose) -> dict:
    errors = record["errors"]
    if e == "rule":
        return errors[choose(record["features"], set(engines), rule)[0]]
    if e == "oracle":
        return errors[max(engines, key=lambda x: errors[x]["psnr"])]
    return errors[e]


def _mean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def format_tables(result: dict) -> str:
    from inpaint_studio.engine.auto import SHORT, describe_rule

    engines = result["engines"]
    cols = engines + ["rule", "oracle"]
    head = "".join(f"{SHORT.get(c, c)[:12]:>13}" for c in cols)
    lines = [f"{result['regions']} regions on {result['photos']} photos ({result['data']}, {result['half'] or 'all'} "
             f"half; sizes {', '.join(map(str, result['sizes']))}); region PSNR dB (higher is better), "
             "then L1 and SSIM over all regions", "", "rule:", describe_rule(result["rule"]), ""]

    def block(title, tables):
        lines.append(f"{title:<44}{'n':>5}{head}")
        for name, row in tables.items():
            lines.append(f"{name[:43]:<44}{row['regions']:>5}" + "".join(f"{row[c]['psnr']:>13.2f}" for c in cols))
        lines.append("")

    block("leaf", result["summary"]["leaves"])
    block("mask family, size", result["summary"]["families"])
    everything = result["summary"]["all"]
    for m in METRICS:
        lines.append(f"{'all regions, ' + m:<44}{everything['regions']:>5}"
                     + "".join(f"{everything[c][m]:>13.4f}" for c in cols))
    used = ", ".join(f"{SHORT.get(e, e)} {n}" for e, n in sorted(result["summary"]["chosen"].items(), key=lambda kv: -kv[1]))
    lines.append(f"the rule picks: {used}")
    return "\n".join(lines)


def run(model_id: str, data: str, half: str | None, sizes, seed: int, device: str, limit: int | None,
        records_in: str | None = None, records_out: str | None = None, depth: int = DEPTH,
        min_leaf: int = MIN_LEAF, min_gain: float = MIN_GAIN, say=print) -> dict:
    from inpaint_studio.engine.auto import MODEL

    if records_in:
        saved = json.loads(Path(records_in).read_text())
        records, meta = saved["records"], saved["meta"]
    else:
        records = measure(model_id, data, half, sizes, seed, device, limit, say)
        meta = {"model": model_id, "data": str(data), "half": half, "sizes": list(sizes), "seed": seed}
        if records_out:
            Path(records_out).write_text(json.dumps({"meta": meta, "records": records}))
    engines = [e for e in [MODEL, "patchmatch", "telea", "ns"] if e in records[0]["errors"]]
    rule = fit(records, engines, depth, min_leaf, min_gain)
    return {**meta, "photos": len({r["photo"] for r in records}), "regions": len(records), "engines": engines,
            "fit": {"depth": depth, "min_leaf": min_leaf, "min_gain_db": min_gain, "objective": "mean region PSNR"},
            "masks": [f"{family}: {kind}" + (f", stroke width {w[0]:.0%}-{w[1]:.0%} of the short side" if w else "")
                      for family, kind, w in TUNING_MASKS],
            "rule": rule, "summary": summarise(records, rule, engines)}


def register(subparsers) -> None:
    from .evaluate import HALVES

    parser = subparsers.add_parser(
        "auto-rule", help="measure every engine per hole region on held-out photos and fit Auto's rule",
        description="Run the model and the classical engines on many seeded hole regions of one half of a "
                    "folder of held-out photos, record each region's features and errors, and fit the "
                    "decision tree Auto uses (paste it into inpaint_studio/engine/auto.py as RULE).")
    parser.add_argument("--model", required=True, help="registry model id")
    parser.add_argument("--data", required=True, help="folder of held-out photos (the corpus val split)")
    parser.add_argument("--half", choices=HALVES, default="tune",
                        help="which fixed half of the photos to fit on (default %(default)s; evaluate reports on the other)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="crop sizes (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="at most this many photos per size")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--depth", type=int, default=DEPTH, help="tree depth (default %(default)s)")
    parser.add_argument("--min-leaf", type=int, default=MIN_LEAF, help="regions on each side of a split (default %(default)s)")
    parser.add_argument("--min-gain", type=float, default=MIN_GAIN, help="dB a split must gain (default %(default)s)")
    parser.add_argument("--records", metavar="FILE", help="write the per-region measurements here (JSON)")
    parser.add_argument("--from-records", metavar="FILE", help="fit on measurements written by --records")
    parser.add_argument("--json", metavar="FILE", help="write the rule and its tables here (for `bundle --auto-rule`)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    import sys

    result = run(args.model, args.data, args.half, args.sizes, args.seed, args.device, args.limit,
                 args.from_records, args.records, args.depth, args.min_leaf, args.min_gain,
                 say=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(format_tables(result))
    print("\nRULE = " + json.dumps(result["rule"]))
    return 0
