"""`python -m trainer auto-rule`: measure every engine on many hole regions of held-out photos and
fit Auto's rule (engine/auto.py) to the measurements.

Regions: on each photo of one half of a folder (evaluate.half_of: `--half tune`, so that the other
half stays unseen for the figures that are reported), at each crop size, a fixed set of seeded
masks: the centred square, two random squares, free-form strokes of three widths and of the usual
mix of widths, and two blobs.
Every engine (the model in fp32, as `evaluate` runs it, and the installed classical engines)
fills each mask; each hole region (regions.hole_groups, as Auto splits a mask) gets its
features (auto.region_features) and, per engine, the PSNR, L1 and SSIM of the fill inside it.

The rule: a small decision tree whose tests are "feature < threshold" (thresholds at rounded 5 %
quantiles), grown greedily so that it falls behind the best single engine on no kind of hole
(evaluate's centre squares and free-form strokes, other squares, other strokes, blobs) and no
metric (`fit` says exactly how); a split needs --min-leaf regions on each side and must gain
--min-gain. Each leaf names its engine first, then the others
by their mean region PSNR there: where an engine is missing (no model, no PatchMatch), Auto takes
the next one.
"""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np

from ..evaluate import auto_engine, load_named_crops
from ..fit.masks import MaskGenerator

FEATURES = ("radius", "area", "elongation", "texture", "contrast")
METRICS = ("psnr", "l1", "ssim")
# (family, mask kind, stroke width as a share of the short side)
# (the centred square and the free-form strokes are also `evaluate`'s two mask kinds)
TUNING_MASKS = (("centre", "center", None), ("square", "square", None), ("square", "square", None),
                ("stroke-thin", "free", (0.01, 0.03)), ("stroke-medium", "free", (0.03, 0.06)),
                ("stroke-wide", "free", (0.06, 0.12)), ("blob", "blob", None), ("blob", "blob", None),
                ("free-form", "free", None))
SIZES = (256, 512)
DEPTH, MIN_LEAF, MIN_GAIN = 3, 20, 0.005  # tree depth, regions on each side of a split, objective gain per split
SURPLUS = 0.1  # what a lead over the best single engine is worth in `fit`'s objective, against a shortfall


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
# kinds of hole, each held to the best single engine on its own; `evaluate`'s two mask kinds
# (the centred square, the free-form mix) are kinds of their own, judged as the issue judges them
GROUPS = {"centre": "centre", "free-form": "free-form", "square": "squares", "blob": "blobs"}
OTHER_GROUP = "strokes"  # every other family (the stroke widths)


def group_of(family: str) -> str:
    return GROUPS.get(family, OTHER_GROUP)


def scores(records: list[dict], engines: list[str]) -> dict[str, np.ndarray]:
    """Per region and engine, what it adds to `evaluate`'s whole-image figures, higher is better:
    the region's PSNR (an image's PSNR moves with it), and its L1 (negated) and SSIM weighted by
    the region's share of the image (their image means move by that share)."""
    share = np.array([r["features"]["area"] / r["size"] ** 2 for r in records])[:, None]
    get = lambda m: np.array([[r["errors"][e][m] for e in engines] for r in records], dtype=float)  # noqa: E731
    ssim = get("ssim")
    ssim = np.where(np.isnan(ssim), 0.0, ssim)  # a region with no whole window in the image: no difference
    return {"psnr": get("psnr"), "l1": -get("l1") * share, "ssim": ssim * share}


def fit(records: list[dict], engines: list[str], depth: int = DEPTH, min_leaf: int = MIN_LEAF,
        min_gain: float = MIN_GAIN) -> dict:
    """The rule (engine/auto.py's format), grown greedily. Its terms: for each kind of hole
    (`GROUPS`) and each metric (`scores`), the rule's mean minus the best single engine's mean
    there, over the spread between the best and the worst single engine. The objective is the
    sum of the terms that fall short (below 0), plus SURPLUS times the sum of all terms: being
    behind the best single engine anywhere costs far more than a lead elsewhere earns, and every
    shortfall counts, not only the largest (a max-min objective stalls on the kind of hole that
    bounds it while the others could still be lifted). Each step turns the leaf, feature,
    threshold and pair of engines that raise the objective most into a split; growth stops at
    `depth` or when no split gains `min_gain`. Leaves list their engine, then the others by mean
    region PSNR there."""
    from inpaint_studio.engine.auto import with_derived

    feats = [with_derived(r["features"]) for r in records]
    values = {f: np.array([x[f] for x in feats], dtype=float) for f in FEATURES}
    mats = scores(records, engines)
    groups = np.array([group_of(r["family"]) for r in records])
    objective = _objective(mats, groups)
    n = len(records)
    single = [objective(np.full(n, e)) for e in range(len(engines))]
    leaves = [{"mask": np.ones(n, bool), "engine": int(np.argmax(single)), "path": []}]
    current = max(single)
    while True:
        choice = np.zeros(n, int)
        for leaf in leaves:
            choice[leaf["mask"]] = leaf["engine"]
        best = None
        for i, leaf in enumerate(leaves):
            if len(leaf["path"]) >= depth:
                continue
            for name in FEATURES:
                for threshold in _thresholds(values[name][leaf["mask"]]):
                    below = leaf["mask"] & (values[name] < threshold)
                    above = leaf["mask"] & ~below
                    if below.sum() < min_leaf or above.sum() < min_leaf:
                        continue
                    for eb in range(len(engines)):
                        for ea in range(len(engines)):
                            if eb == ea:
                                continue
                            trial = choice.copy()
                            trial[below], trial[above] = eb, ea
                            value = objective(trial)
                            if best is None or value > best[0] + 1e-12:
                                best = (value, i, name, threshold, below, above, eb, ea)
        if best is None or best[0] - current < min_gain:
            break
        current, i, name, threshold, below, above, eb, ea = best
        leaf = leaves.pop(i)
        leaves += [{"mask": below, "engine": eb, "path": leaf["path"] + [(name, threshold, True)]},
                   {"mask": above, "engine": ea, "path": leaf["path"] + [(name, threshold, False)]}]
    for leaf in leaves:
        means = mats["psnr"][leaf["mask"]].mean(0)
        rest = [e for e in np.argsort(-means, kind="stable") if e != leaf["engine"]]
        leaf["engines"] = [engines[leaf["engine"]]] + [engines[e] for e in rest]
    return _build(leaves, 0)


def _objective(mats: dict, groups: np.ndarray):
    """choice (engine index per region) -> `fit`'s objective."""
    refs = []
    for g in sorted(set(groups)):
        sel = groups == g
        for m, a in mats.items():
            means = a[sel].mean(0)
            refs.append((sel, a, means.max(), max(means.max() - means.min(), 1e-12)))
    rows = np.arange(len(groups))

    def value(choice: np.ndarray) -> float:
        terms = np.array([(a[rows[sel], choice[sel]].mean() - best) / spread for sel, a, best, spread in refs])
        return float(np.minimum(terms, 0).sum() + SURPLUS * terms.sum())
    return value


def _build(leaves: list[dict], level: int) -> dict:
    if len(leaves) == 1 and len(leaves[0]["path"]) == level:
        return {"engines": leaves[0]["engines"]}
    name, threshold, _ = leaves[0]["path"][level]
    below = [leaf for leaf in leaves if leaf["path"][level][2]]
    above = [leaf for leaf in leaves if not leaf["path"][level][2]]
    return {"feature": name, "threshold": threshold, "below": _build(below, level + 1),
            "at_or_above": _build(above, level + 1)}


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
    picks = np.array([engines.index(choose(r["features"], set(engines), rule)[0]) for r in records])
    for e in picks:
        chosen[engines[e]] = chosen.get(engines[e], 0) + 1
    # the fitting's objective, term by term: per kind of hole and metric, each engine's mean score
    # (`scores`), the rule's, and the rule's gain over the best single engine in units of their spread
    mats, groups = scores(records, engines), np.array([group_of(r["family"]) for r in records])
    objective = {}
    for g in sorted(set(groups)):
        sel = np.flatnonzero(groups == g)
        for m, a in mats.items():
            means = a[sel].mean(0)
            ours = float(a[sel, picks[sel]].mean())
            spread = max(means.max() - means.min(), 1e-12)
            objective[f"{g} {m}"] = {"regions": len(sel), **{e: float(v) for e, v in zip(engines, means)},
                                     "rule": ours, "gain": (ours - float(means.max())) / spread}
    return {"all": table(records), "chosen": chosen, "objective": objective,
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
        lines.append(f"{title:<60}{'n':>5}{head}")
        for name, row in tables.items():
            lines.append(f"{name[:59]:<60}{row['regions']:>5}" + "".join(f"{row[c]['psnr']:>13.2f}" for c in cols))
        lines.append("")

    block("leaf", result["summary"]["leaves"])
    block("mask family, size", result["summary"]["families"])
    lines.append("the objective: per kind of hole and metric, mean scores (PSNR dB; L1 and SSIM x 1000, weighted "
                 "by the region's share of the image) and the rule's gain over the best single engine / spread")
    lines.append(f"{'kind, metric':<60}{'n':>5}" + "".join(f"{SHORT.get(c, c)[:12]:>13}" for c in engines + ["rule"])
                 + f"{'gain':>9}")
    for name, row in result["summary"]["objective"].items():
        k = 1 if name.endswith("psnr") else 1000
        lines.append(f"{name:<60}{row['regions']:>5}" + "".join(f"{row[c] * k:>13.3f}" for c in engines + ["rule"])
                     + f"{row['gain']:>9.3f}")
    lines.append("")
    everything = result["summary"]["all"]
    for m in METRICS:
        lines.append(f"{'all regions, ' + m:<60}{everything['regions']:>5}"
                     + "".join(f"{everything[c][m]:>13.4f}" for c in cols))
    used = ", ".join(f"{SHORT.get(e, e)} {n}" for e, n in sorted(result["summary"]["chosen"].items(), key=lambda kv: -kv[1]))
    lines.append(f"the rule picks: {used}")
    return "\n".join(lines)


def run(model_id: str, data: str, half: str | None, sizes, seed: int, device: str, limit: int | None,
        records_in: str | None = None, records_out: str | None = None, depth: int = DEPTH,
        min_leaf: int = MIN_LEAF, min_gain: float = MIN_GAIN, say=print) -> dict:
    from inpaint_studio.engine.auto import MODEL, with_derived

    if records_in:
        saved = json.loads(Path(records_in).read_text())
        records, meta = saved["records"], saved["meta"]
    else:
        records = measure(model_id, data, half, sizes, seed, device, limit, say)
        meta = {"model": model_id, "data": str(data), "half": half, "sizes": list(sizes), "seed": seed}
        if records_out:
            Path(records_out).write_text(json.dumps({"meta": meta, "records": records}))
    for r in records:  # features computed from the measured ones (records written before they existed too)
        r["features"] = with_derived(r["features"])
    engines = [e for e in [MODEL, "patchmatch", "telea", "ns"] if e in records[0]["errors"]]
    rule = fit(records, engines, depth, min_leaf, min_gain)
    return {**meta, "photos": len({r["photo"] for r in records}), "regions": len(records), "engines": engines,
            "fit": {"depth": depth, "min_leaf": min_leaf, "min_gain": min_gain,
                    "surplus": SURPLUS,
                    "objective": "per kind of hole (" + ", ".join(sorted(set(GROUPS.values()) | {OTHER_GROUP}))
                                 + ") and metric (region PSNR; L1 and SSIM weighted by the region's share of the "
                                 "image), the gain over the best single engine in units of the spread between the "
                                 "single engines; maximised: the sum of the shortfalls plus the surplus weight "
                                 "times the sum of the gains"},
            "masks": [f"{family}: {kind}" + (f", stroke width {w[0]:.0%}-{w[1]:.0%} of the short side" if w else "")
                      for family, kind, w in TUNING_MASKS if family in {r["family"] for r in records}],
            "rule": rule, "summary": summarise(records, rule, engines)}


def register(subparsers) -> None:
    from ..evaluate import HALVES

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
