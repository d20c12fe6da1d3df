"""`python -m trainer evaluate --model ID [ID ...] --data DIR`: L1 / PSNR / SSIM of registry models
(of any architecture: PEN-Net and DeepFill v1 side by side), of OpenCV Telea and Navier-Stokes (and
PatchMatch, when installed) and of Auto (the engine chosen per hole region, engine/auto.py, with
the first model) on the same images and the same seeded masks.

Images are centre crops at --size; each image's mask is drawn from the seed and its file name
alone, so a run over a few of the photos reproduces their figures from a run over all of them.
Each method's composite is rounded to 8 bits (what a user saves) before it is measured against
the crop; rows carry per-image figures too. The model runs on the whole crop through the
network in fp32, as in validation, and is measured twice: as the app pastes it (colour
adaptation on, the default) and as the network drew it. The classical methods and Auto run
through the app's engines (Auto's model in fp32 as well).
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from inpaint_studio import imaging
from inpaint_studio.engine.device import TRAINING, resolve_device

from .fit.data import center_crop, load_rgb, scan_folder, to_network
from .fit.masks import named_masks, to_tensor
from .fit.metrics import image_metrics, psnr, ssim, ssim_map
from .fit.validation import inpaint

CLASSICAL = ("telea", "ns", "patchmatch")  # those installed take part
LABELS = {"telea": "opencv telea", "ns": "opencv ns", "patchmatch": "patchmatch"}
AUTO_LABEL = "auto"
HALVES = ("tune", "report")


def half_of(name: str) -> str:
    """A fixed split of a folder's photos by file name: 'tune' (Auto's rule is fitted on these)
    or 'report' (never seen by the fitting); about half each, the same on every machine."""
    return HALVES[hashlib.sha256(name.encode()).digest()[0] % 2]


def evaluate(model_id: str | list[str] | None, data: str | Path, masks: str = "center", size: int = 256,
             limit: int | None = None, device: str = "auto", seed: int = 0,
             classical: tuple[str, ...] = CLASSICAL, half: str | None = None, auto: bool = True) -> dict:
    """{"images", "masks", "size", "rows": [{"method", "l1", "psnr", "ssim", "seconds", "per_image"}]};
    each model (one id or several) has two rows, which also say "colour_adaptation": true / false
    and its "architecture"; Auto's row (with the first model) says "engines" (how many regions
    each engine filled). `half` keeps only that half of the photos (`half_of`)."""
    names, crops = load_named_crops(data, size, limit, half)
    holes = named_masks(masks, names, size, seed=seed)
    truth = np.stack(crops)
    rows = []
    models = [model_id] if isinstance(model_id, str) else list(model_id or ())
    for model in models:
        outputs, seconds = model_outputs(model, crops, holes, device)
        arch = _architecture(model)
        for adapt, label in ((True, f"model {model}"), (False, f"model {model}, no colour adaptation")):
            row = _measure(label, (composites(outputs, crops, holes, adapt), seconds), truth, names, holes)
            rows.append({**row, "colour_adaptation": adapt, "architecture": arch})
    from inpaint_studio.engine import CLASSICAL as INSTALLED
    from inpaint_studio.engine import create_engine

    for engine_id in (e for e in classical if e in INSTALLED):
        engine = create_engine(engine_id)
        start = time.perf_counter()
        results = np.stack([engine.inpaint(c, m).image for c, m in zip(crops, holes)])
        rows.append(_measure(LABELS.get(engine_id, engine_id), (results, time.perf_counter() - start), truth, names, holes))
    if auto:
        engine = auto_engine(models[0] if models else None, device, tuple(e for e in classical if e in INSTALLED))
        start = time.perf_counter()
        done = [engine.inpaint(c, m) for c, m in zip(crops, holes)]
        row = _measure(AUTO_LABEL, (np.stack([r.image for r in done]), time.perf_counter() - start), truth, names, holes)
        counts: dict[str, int] = {}
        for fill in (f for r in done for f in r.fills):
            counts[fill.engine] = counts.get(fill.engine, 0) + 1
        rows.append({**row, "engines": counts})
    return {"images": len(crops), "masks": masks, "size": size, "seed": seed, "data": str(data),
            "half": half, "model_precision": "fp32", "device": str(resolve_device(device, TRAINING)), "rows": rows}


def auto_engine(model_id: str | None, device: str = "auto", classical: tuple[str, ...] = CLASSICAL):
    """Auto as the app runs it, its model (when given) in fp32 like the model rows."""
    from inpaint_studio.engine import CLASSICAL as INSTALLED
    from inpaint_studio.engine import AutoEngine, PENNetEngine
    from inpaint_studio.engine.registry import ModelInfo, ModelRegistry

    model = None
    if model_id:  # an id, or a ModelInfo as model_outputs takes it
        info = model_id if isinstance(model_id, ModelInfo) else ModelRegistry().get(model_id)
        model = PENNetEngine(info, device=resolve_device(device, TRAINING), precision="fp32")
    return AutoEngine(model, {k: INSTALLED[k]() for k in classical if k in INSTALLED})


def _architecture(model_id: str) -> str:
    from inpaint_studio.engine.registry import ModelRegistry

    return ModelRegistry().get(model_id).architecture.label


def load_named_crops(data: str | Path, size: int, limit: int | None = None,
                     half: str | None = None) -> tuple[list[str], list[np.ndarray]]:
    """(file names, centre crops size x size uint8 RGB) of the readable images of a folder, in
    name order; with `half`, only the photos of that half."""
    if size < 64 or size % 64:
        raise ValueError(f"--size must be a multiple of 64, not {size}")
    if half is not None and half not in HALVES:
        raise ValueError(f"--half must be one of {', '.join(HALVES)}, not {half!r}")
    names, crops = [], []
    for entry in scan_folder(data, size, small="upscale").entries:
        if limit is not None and len(crops) >= limit:
            break
        name = Path(entry.path).name
        if half is not None and half_of(name) != half:
            continue
        try:
            crops.append(center_crop(load_rgb(entry.path), size))
        except imaging.ImageError:
            continue  # unreadable after all: leave it out, for every method alike
        names.append(name)
    if not crops:
        raise ValueError(f"{data}: none of the images could be read")
    return names, crops


def load_crops(data: str | Path, size: int, limit: int | None = None) -> list[np.ndarray]:
    """Centre crops (size x size, uint8 RGB) of the readable images of a folder, in name order."""
    return load_named_crops(data, size, limit)[1]


def format_table(report: dict) -> str:
    width = max([32] + [len(r["method"]) + 2 for r in report["rows"]])
    arch = max([14] + [len(r.get("architecture", "")) + 2 for r in report["rows"]])
    half = f" ({report['half']} half)" if report.get("half") else ""
    lines = [f"{report['images']} images from {report['data']}{half}, {report['size']}x{report['size']} centre crops, "
             f"'{report['masks']}' masks (seed {report['seed']}); composites, 8-bit, [0, 1] range; "
             f"models in {report.get('model_precision', 'fp32')} on {report.get('device', '?')}",
             f"{'method':<{width}}{'architecture':<{arch}}{'L1 (lower)':>12}{'PSNR dB':>10}{'hole PSNR':>11}"
             f"{'SSIM':>8}{'s/image':>9}"]
    for r in report["rows"]:
        lines.append(f"{r['method']:<{width}}{r.get('architecture', '-'):<{arch}}{r['l1']:>12.4f}{r['psnr']:>10.2f}"
                     f"{r.get('hole_psnr', float('nan')):>11.2f}{r['ssim']:>8.4f}{r['seconds'] / report['images']:>9.3f}")
    for r in report["rows"]:
        if r.get("engines"):
            used = ", ".join(f"{n} {e}" for e, n in sorted(r["engines"].items(), key=lambda kv: -kv[1]))
            lines.append(f"{r['method']}: regions filled by {used}")
    return "\n".join(lines)


def run_model(model_id: str, crops, holes, device: str = "auto", colour_adaptation: bool = True):
    """The model's composites (uint8 RGB) of crops with holes, as the app makes them, and the
    seconds the network took."""
    outputs, seconds = model_outputs(model_id, crops, holes, device)
    return composites(outputs, crops, holes, colour_adaptation), seconds


def model_outputs(model_id, crops, holes, device: str = "auto"):
    """The network's whole outputs (float32 NxHxWx3 in [0, 255]) and the seconds they took.
    model_id: a registry id, or a ModelInfo (a model of another registry's folders)."""
    from inpaint_studio.engine.registry import ModelInfo, ModelRegistry, load_generator

    dev = resolve_device(device, TRAINING)
    info = model_id if isinstance(model_id, ModelInfo) else ModelRegistry().get(model_id)
    return generator_outputs(load_generator(info, device=dev), crops, holes, dev)


def generator_outputs(generator, crops, holes, dev: torch.device):
    """model_outputs for a generator in hand (e.g. a run's checkpoint that is no registry model)."""
    images = torch.stack([to_network(c) for c in crops])
    masks = torch.stack([to_tensor(m) for m in holes])
    start = time.perf_counter()
    out = inpaint(generator, images, masks, dev, raw=True)
    seconds = time.perf_counter() - start
    return ((out + 1) * 127.5).permute(0, 2, 3, 1).numpy(), seconds


def composites(outputs, crops, holes, colour_adaptation: bool = True) -> np.ndarray:
    """Hole pixels from the outputs, the rest from the crops, as the engine pastes them."""
    from inpaint_studio.engine.blend import adapt_colours, paste

    results = []
    for output, crop, hole in zip(outputs, crops, holes):
        hole = hole > 0
        filled = adapt_colours(output, crop, ~hole) if colour_adaptation else output
        results.append(paste(crop, filled, hole))
    return np.stack(results)


def score(method: str, outputs, seconds: float, crops, holes, names: list[str]) -> dict:
    """A row of the table for network outputs, pasted as the app pastes them."""
    return {**_measure(method, (composites(outputs, crops, holes, True), seconds), np.stack(crops), names,
                     holes),
            "colour_adaptation": True}


def classical_rows(crops, holes, names: list[str], classical: tuple[str, ...] = CLASSICAL) -> list[dict]:
    """The rows of the classical methods (those installed) on the same crops and holes."""
    from inpaint_studio.engine import CLASSICAL as INSTALLED
    from inpaint_studio.engine import create_engine

    rows, truth = [], np.stack(crops)
    for engine_id in (e for e in classical if e in INSTALLED):
        engine = create_engine(engine_id)
        start = time.perf_counter()
        results = np.stack([engine.inpaint(c, m).image for c, m in zip(crops, holes)])
        rows.append(_measure(LABELS.get(engine_id, engine_id), (results, time.perf_counter() - start), truth, names, holes))
    return rows


def _measure(method: str, produced, truth: np.ndarray, names: list[str], holes=None) -> dict:
    results, seconds = produced
    as_unit = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    values = image_metrics(as_unit(results), as_unit(truth))
    per_image = {name: {k: float(v[i]) for k, v in values.items()} for i, name in enumerate(names)}
    inside = {}
    if holes is not None:  # the hole's pixels alone
        found = [hole_metrics(as_unit(r[None]), as_unit(t[None]), to_tensor(h)[None])
                 for r, t, h in zip(results, truth, holes)]
        inside = {k: float(np.mean([m[k] for m in found])) for k in ("hole_psnr", "hole_ssim")}
    return {"method": method, **{k: float(v.mean()) for k, v in values.items()}, **inside, "seconds": seconds,
            "per_image": per_image}


def hole_metrics(result: torch.Tensor, truth: torch.Tensor, hole: torch.Tensor) -> dict[str, float]:
    """result, truth (1,3,H,W) in [0, 1]; hole (1,1,H,W) {0,1}. Hole PSNR: MSE over the hole's
    pixels (outside it a composite is the input, so whole-image figures dilute a difference by the
    hole's share); hole SSIM: the mean of the SSIM windows centred in the hole."""
    weight = hole.expand_as(result)
    mse = float(((result - truth) ** 2 * weight).sum() / weight.sum().clamp_min(1))
    values = ssim_map(result, truth)
    r = (hole.shape[-1] - values.shape[-1]) // 2
    centre = hole[..., r:r + values.shape[-2], r:r + values.shape[-1]].expand_as(values).double()
    return {"hole_psnr": 10 * float(np.log10(1.0 / max(mse, 1e-10))),
            "hole_ssim": float((values * centre).sum() / centre.sum().clamp_min(1)),
            "psnr": float(psnr(result, truth)[0]), "ssim": float(ssim(result, truth)[0])}
