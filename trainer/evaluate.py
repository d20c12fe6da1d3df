"""`python -m trainer evaluate --model ID [ID ...] --data DIR`: L1 / PSNR / SSIM of registry models
(of any architecture: PEN-Net and DeepFill v1 side by side) and of OpenCV Telea and Navier-Stokes
(and PatchMatch, when installed) on the same images and the same fixed, seeded masks.

Images are centre crops at --size; each method's composite is rounded to 8 bits (what a user
saves) before it is measured against the crop. The model runs on the whole crop through the
network, as in validation, and is measured twice: as the app pastes it (colour adaptation on,
the default) and as the network drew it. The classical methods run through the app's engines.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from inpaint_studio import imaging
from inpaint_studio.engine.device import TRAINING, resolve_device

from .fit.data import center_crop, load_rgb, scan_folder, to_network
from .fit.masks import fixed_masks, to_tensor
from .fit.metrics import image_metrics
from .fit.validation import inpaint

CLASSICAL = ("telea", "ns", "patchmatch")  # those installed take part
LABELS = {"telea": "opencv telea", "ns": "opencv ns", "patchmatch": "patchmatch"}


def evaluate(model_id: str | list[str] | None, data: str | Path, masks: str = "center", size: int = 256,
             limit: int | None = None, device: str = "auto", seed: int = 0,
             classical: tuple[str, ...] = CLASSICAL) -> dict:
    """{"images", "masks", "size", "rows": [{"method", "l1", "psnr", "ssim", "seconds"}]}; each
    model (one id or several) has two rows, which also say "colour_adaptation": true / false and
    its "architecture"."""
    crops = load_crops(data, size, limit)
    holes = fixed_masks(masks, len(crops), size, seed=seed)
    truth = np.stack(crops)
    rows = []
    for model in [model_id] if isinstance(model_id, str) else list(model_id or ()):
        outputs, seconds = model_outputs(model, crops, holes, device)
        arch = _architecture(model)
        for adapt, label in ((True, f"model {model}"), (False, f"model {model}, no colour adaptation")):
            row = _measure(label, (composites(outputs, crops, holes, adapt), seconds), truth)
            rows.append({**row, "colour_adaptation": adapt, "architecture": arch})
    rows += classical_rows(crops, holes, classical)
    return {"images": len(crops), "masks": masks, "size": size, "seed": seed, "data": str(data), "rows": rows}


def classical_rows(crops, holes, classical: tuple[str, ...] = CLASSICAL) -> list[dict]:
    """The rows of the classical methods (those installed) on the same crops and holes."""
    from inpaint_studio.engine import CLASSICAL as INSTALLED
    from inpaint_studio.engine import create_engine

    rows, truth = [], np.stack(crops)
    for engine_id in (e for e in classical if e in INSTALLED):
        engine = create_engine(engine_id)
        start = time.perf_counter()
        results = np.stack([engine.inpaint(c, m).image for c, m in zip(crops, holes)])
        rows.append(_measure(LABELS.get(engine_id, engine_id), (results, time.perf_counter() - start), truth))
    return rows


def _architecture(model_id: str) -> str:
    from inpaint_studio.engine.registry import ModelRegistry

    return ModelRegistry().get(model_id).architecture.label


def load_crops(data: str | Path, size: int, limit: int | None = None) -> list[np.ndarray]:
    """Centre crops (size x size, uint8 RGB) of the readable images of a folder, in name order."""
    if size < 64 or size % 64:
        raise ValueError(f"--size must be a multiple of 64, not {size}")
    crops = []
    for entry in scan_folder(data, size, small="upscale").entries:
        if limit is not None and len(crops) >= limit:
            break
        try:
            crops.append(center_crop(load_rgb(entry.path), size))
        except imaging.ImageError:
            continue  # unreadable after all: leave it out, for every method alike
    if not crops:
        raise ValueError(f"{data}: none of the images could be read")
    return crops


def format_table(report: dict) -> str:
    width = max([32] + [len(r["method"]) + 2 for r in report["rows"]])
    arch = max([14] + [len(r.get("architecture", "")) + 2 for r in report["rows"]])
    lines = [f"{report['images']} images from {report['data']}, {report['size']}x{report['size']} centre crops, "
             f"'{report['masks']}' masks (seed {report['seed']}); composites, 8-bit, [0, 1] range",
             f"{'method':<{width}}{'architecture':<{arch}}{'L1 (lower)':>12}{'PSNR dB':>10}{'SSIM':>8}{'s/image':>9}"]
    for r in report["rows"]:
        lines.append(f"{r['method']:<{width}}{r.get('architecture', '-'):<{arch}}{r['l1']:>12.4f}{r['psnr']:>10.2f}"
                     f"{r['ssim']:>8.4f}{r['seconds'] / report['images']:>9.3f}")
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
    generator = load_generator(info, device=dev)
    return generator_outputs(generator, crops, holes, dev)


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


def score(method: str, outputs, seconds: float, crops, holes) -> dict:
    """A row of the table for network outputs, pasted as the app pastes them."""
    return {**_measure(method, (composites(outputs, crops, holes, True), seconds), np.stack(crops)),
            "colour_adaptation": True}


def _measure(method: str, produced, truth: np.ndarray) -> dict:
    results, seconds = produced
    as_unit = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    values = image_metrics(as_unit(results), as_unit(truth))
    return {"method": method, **{k: float(v.mean()) for k, v in values.items()}, "seconds": seconds}
