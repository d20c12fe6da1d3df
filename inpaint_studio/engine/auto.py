"""Auto: the best engine for each hole region, chosen by a measured rule.

The crop strategy's region finder (regions.hole_groups: connected holes, those closer than 32 px
joined) splits the mask into regions. Each region is described by a few numbers measured on the
photo around it (`region_features`), and a small decision tree (`RULE`) names the engines best
first for regions like it; the first one installed fills the whole region (one engine per region,
no blending). The tree was fitted on held-out photos by `python -m trainer auto-rule` (every
engine run on many regions, per-region errors recorded); the bundled model's card keeps the
measurement, and `python -m trainer evaluate` reports Auto beside each single engine.

Classical regions are filled first, every hole pixel counting as unknown; the model then fills its
regions with those classical fills in place (they are estimates, never the pixels under the
hole). A source region (guided fill) or a request for attention sources needs the model's
attention for every region, so then the model fills them all and the result says why.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .base import Engine, InpaintOptions, InpaintResult, check_cancel, report
from .regions import hole_groups

AUTO_ID = "auto"
MODEL = "pennet"  # the rule's name for "the PEN-Net model", whichever is the default
LABEL = "Auto (best per region)"
LABEL_CLASSICAL = "Auto (best classical engine per region)"
SHORT = {MODEL: "PEN-Net", "patchmatch": "PatchMatch", "telea": "Telea", "ns": "Navier-Stokes"}
RING = 8  # px of known photo around a region that its texture is measured on

# Fitted by `python -m trainer auto-rule --model pennet-open-photos --data CORPUS/val --half tune`
# (the corpus val photos whose name hashes to the "tune" half; see the bundled card's "auto" entry,
# which records this tree with the per-leaf measurements). Leaves list engines best first.
RULE: dict = {
    "feature": "elongation", "threshold": 1.1,
    "below": {
        "feature": "area", "threshold": 4900.0,
        "below": {"engines": ["patchmatch", "ns", "telea", MODEL]},
        "at_or_above": {
            "feature": "elongation", "threshold": 0.99,
            "below": {"engines": ["ns", "telea", MODEL, "patchmatch"]},
            "at_or_above": {"engines": ["telea", "ns", MODEL, "patchmatch"]}}},
    "at_or_above": {
        "feature": "texture", "threshold": 3.4,
        "below": {
            "feature": "radius", "threshold": 36.0,
            "below": {"engines": ["patchmatch", "ns", "telea", MODEL]},
            "at_or_above": {"engines": ["ns", "patchmatch", "telea", MODEL]}},
        "at_or_above": {"engines": ["ns", "telea", "patchmatch", MODEL]}}}

NOTE_ALL_MODEL_SOURCE = "A source region is set: PEN-Net filled every region (only its attention can follow one)."
NOTE_ALL_MODEL_FLOW = "Attention sources were asked for: PEN-Net filled every region (only it copies from patches)."


@dataclass
class RegionFill:
    """One region of an Auto fill: where it is, what filled it and why."""
    box: tuple[int, int, int, int]    # the region's hole box (x0, y0, x1, y1)
    engine: str                       # rule name: "pennet", "patchmatch", "telea" or "ns"
    label: str                        # e.g. "PatchMatch" or "PEN-Net (Open photos)"
    features: dict = field(default_factory=dict)
    reason: str = ""                  # the rule's path, e.g. "texture 3.1 < 4.5, radius 6 < 12"


# -- features -------------------------------------------------------------------------------------
def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def region_features(grey_image: np.ndarray, hole: np.ndarray, labels: np.ndarray, k: int,
                    hole_box: tuple[int, int, int, int]) -> dict[str, float]:
    """Numbers that tell engines apart for region `k` of `labels` (hole: every hole pixel):
      radius     the largest disc that fits in the hole (px, from a distance transform): its width / 2
      area       hole pixels in the region
      elongation area / (2 radius)^2: about 1 for a square or a disc, length / width for a stroke
      texture    mean gradient magnitude (grey levels per px, Sobel / 8) of the known photo in a
                 ring of RING px around the region
      contrast   standard deviation of the grey levels in that ring
    """
    h, w = hole.shape
    x0, y0, x1, y1 = hole_box
    pad = RING + 2
    bx0, by0, bx1, by1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    region = labels[by0:by1, bx0:bx1] == k
    known = ~hole[by0:by1, bx0:bx1]
    inside = cv2.distanceTransform(np.where(known, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    radius = float(inside[region].max()) if region.any() else 0.0
    near = cv2.distanceTransform(np.where(region, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    ring = known & (near <= RING)
    g = grey_image[by0:by1, bx0:bx1]
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    # only gradients whose 3x3 support is known: a hole's content must not leak into its features
    support = cv2.erode(known.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0
    measured = ring & support
    magnitude = np.sqrt(gx * gx + gy * gy) / 8.0
    texture = float(magnitude[measured].mean()) if measured.any() else 0.0
    contrast = float(g[ring].std()) if ring.any() else 0.0
    return with_derived({"radius": round(radius, 2), "area": int(region.sum()), "texture": round(texture, 3),
                         "contrast": round(contrast, 3)})


def with_derived(features: dict) -> dict:
    """The features computed from the others (elongation), added."""
    return {**features, "elongation": round(features["area"] / (2 * max(features["radius"], 0.5)) ** 2, 3)}


# -- the rule -------------------------------------------------------------------------------------
def leaf(features: dict, rule: dict = RULE, values: bool = True) -> tuple[list[str], list[str]]:
    """-> (the leaf's engines best first, the path taken as text: "texture 3.1 < 4.5", ...;
    without `values`: "texture < 4.5", the leaf's name)."""
    node, path = rule, []
    while "engines" not in node:
        name, threshold = node["feature"], node["threshold"]
        value = features[name]
        below = value < threshold
        node = node["below" if below else "at_or_above"]
        shown = f"{name} {_num(value)}" if values else name
        path.append(f"{shown} {'<' if below else '>='} {_num(threshold)}")
    return list(node["engines"]), path


def choose(features: dict, available, rule: dict = RULE) -> tuple[str, str]:
    """The first engine of the region's leaf that is available -> (engine, reason)."""
    engines, path = leaf(features, rule)
    for engine in engines:
        if engine in available:
            return engine, ", ".join(path) or "one engine for every region"
    raise ValueError(f"none of {engines} is available")


def rule_engines(rule: dict = RULE) -> set[str]:
    if "engines" in rule:
        return set(rule["engines"])
    return rule_engines(rule["below"]) | rule_engines(rule["at_or_above"])


def describe_rule(rule: dict = RULE, indent: str = "") -> str:
    """The tree as text, one test or leaf per line."""
    if "engines" in rule:
        return f"{indent}-> {' > '.join(SHORT.get(e, e) for e in rule['engines'])}"
    name, t = rule["feature"], _num(rule["threshold"])
    return "\n".join([f"{indent}if {name} < {t}:", describe_rule(rule["below"], indent + "    "),
                      f"{indent}else ({name} >= {t}):", describe_rule(rule["at_or_above"], indent + "    ")])


def _num(value: float) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# -- the engine -----------------------------------------------------------------------------------
class AutoEngine(Engine):
    """model: a PENNetEngine or None (then the best classical engine per region); classical:
    {"telea": engine, ...} of those installed."""
    id = AUTO_ID

    def __init__(self, model: Engine | None, classical: dict[str, Engine], rule: dict = RULE):
        self.model = model
        self.classical = dict(classical)
        self.rule = rule
        self.label = LABEL if model is not None else LABEL_CLASSICAL
        self.available = set(self.classical) | ({MODEL} if model is not None else set())

    def short_label(self, engine: str) -> str:
        if engine == MODEL and self.model is not None:
            return f"PEN-Net ({self.model.info.name})"
        return SHORT.get(engine, engine)

    def plan(self, image: np.ndarray, hole: np.ndarray, options: InpaintOptions, source=None):
        """-> (labels, [RegionFill]) without filling anything: what `inpaint` would do."""
        labels, boxes = hole_groups(hole)
        g = grey(image)
        forced = None
        if self.model is not None and source is not None:
            forced = NOTE_ALL_MODEL_SOURCE
        elif self.model is not None and options.return_flow:
            forced = NOTE_ALL_MODEL_FLOW
        fills = []
        for k, box in enumerate(boxes, start=1):
            features = region_features(g, hole, labels, k, box)
            if forced:
                engine, reason = MODEL, forced.split(":")[0]
            else:
                engine, reason = choose(features, self.available, self.rule)
            fills.append(RegionFill(tuple(int(v) for v in box), engine, self.short_label(engine), features, reason))
        return labels, fills, forced

    def inpaint(self, image, mask, options: InpaintOptions | None = None, progress=None, cancel=None) -> InpaintResult:
        start = time.perf_counter()
        image, hole, options, source = self.prepare(image, mask, options)
        if not hole.any():
            return self.nothing_to_fill(image)
        report(progress, 0.0, "Choosing an engine for each region")
        labels, fills, forced = self.plan(image, hole, options, source)
        result = image.copy()
        blended = np.zeros(hole.shape, bool) if options.feather else None
        classical = [(k, f) for k, f in enumerate(fills, start=1) if f.engine != MODEL]
        modelled = [k for k, f in enumerate(fills, start=1) if f.engine == MODEL]
        notes: list[str] = [forced] if forced else []
        share = len(classical) / len(fills)  # of the progress bar, by region count
        for n, (k, fill) in enumerate(classical, start=1):
            check_cancel(cancel)
            self.classical[fill.engine].fill_group(image, hole, labels, k, fill.box, result, options.feather, blended)
            report(progress, share * n / len(classical), f"Filled region {k} of {len(fills)} with {fill.label}")
        if classical and source is not None:
            notes.append("The source region is used only by PEN-Net models; it was ignored.")
        device = "cpu"
        flow = patch = None
        if modelled:
            check_cancel(cancel)
            sub_mask = np.isin(labels, modelled)
            sub = self.model.inpaint(
                result, sub_mask, replace(options, source=source),
                progress=lambda f, msg: report(progress, share + (1 - share) * f, f"PEN-Net: {msg}"),
                cancel=cancel)
            result, device, flow, patch = sub.image, sub.device, sub.flow, sub.flow_patch
            notes += [n for n in sub.notes if n not in notes]
        check_cancel(cancel)
        seconds = time.perf_counter() - start
        report(progress, 1.0, "Done")
        return InpaintResult(
            image=result,
            changed=not np.array_equal(result, image),
            message=f"{self.label}: {summary(fills)}" + (f" on {device}" if modelled else "")
                    + f" in {seconds:.1f} s.",
            regions=[f.box for f in fills],
            device=device,
            seconds=seconds,
            notes=notes,
            flow=flow,
            flow_patch=patch,
            fills=fills,
        )


def summary(fills: list[RegionFill]) -> str:
    """"2 regions: 1 with PEN-Net (Open photos), 1 with PatchMatch" (engines in order of use)."""
    counts: dict[str, int] = {}
    for f in fills:
        counts[f.label] = counts.get(f.label, 0) + 1
    n = len(fills)
    parts = ", ".join(f"{c} with {label}" for label, c in counts.items())
    return f"{n} region{'s' * (n != 1)}: {parts}"


def short_summary(fills: list[RegionFill]) -> str:
    """For a layer name: "PEN-Net ×1, PatchMatch ×2"."""
    counts: dict[str, int] = {}
    for f in fills:
        name = SHORT.get(f.engine, f.engine)
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} ×{c}" for name, c in counts.items())
