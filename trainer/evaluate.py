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
from .fit.metrics import image_metrics, psnr, ssim, ssim_map
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
            row = _measure(label, (composites(outputs, crops, holes, adapt), seconds), truth, holes)
            rows.append({**row, "colour_adaptation": adapt, "architecture": arch})
    from inpaint_studio.engine import CLASSICAL as INSTALLED
    from inpaint_studio.engine import create_engine

    for engine_id in (e for e in classical if e in INSTALLED):
        engine = create_engine(engine_id)
        start = time.perf_counter()
        results = np.stack([engine.inpaint(c, m).image for c, m in zip(crops, holes)])
        rows.append(_measure(LABELS.get(engine_id, engine_id), (results, time.perf_counter() - start), truth, holes))
    return {"images": len(crops), "masks": masks, "size": size, "seed": seed, "data": str(data), "rows": rows}


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
             f"{'method':<{width}}{'architecture':<{arch}}{'L1 (lower)':>12}{'PSNR dB':>10}{'hole PSNR':>11}{'SSIM':>8}"
             f"{'s/image':>9}"]
    for r in report["rows"]:
        lines.append(f"{r['method']:<{width}}{r.get('architecture', '-'):<{arch}}{r['l1']:>12.4f}{r['psnr']:>10.2f}"
                     f"{r.get('hole_psnr', float('nan')):>11.2f}{r['ssim']:>8.4f}{r['seconds'] / report['images']:>9.3f}")
    return "\n".join(lines)


def run_model(model_id: str, crops, holes, device: str = "auto", colour_adaptation: bool = True):
    """The model's composites (uint8 RGB) of crops with holes, as the app makes them, and the
    seconds the network took."""
    outputs, seconds = model_outputs(model_id, crops, holes, device)
    return composites(outputs, crops, holes, colour_adaptation), seconds


def model_outputs(model_id: str, crops, holes, device: str = "auto"):
    """The network's whole outputs (float32 NxHxWx3 in [0, 255]) and the seconds they took."""
    from inpaint_studio.engine.registry import ModelRegistry, load_generator

    dev = resolve_device(device, TRAINING)
    return generator_outputs(load_generator(ModelRegistry().get(model_id), device=dev), crops, holes, dev)


def generator_outputs(generator, crops, holes, dev):
    """model_outputs for a generator in memory (finetune-eval measures checkpoints this way)."""
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


def _measure(method: str, produced, truth: np.ndarray, holes) -> dict:
    results, seconds = produced
    as_unit = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    values = image_metrics(as_unit(results), as_unit(truth))
    inside = [hole_metrics(as_unit(r[None]), as_unit(t[None]), to_tensor(h)[None])
              for r, t, h in zip(results, truth, holes)]
    return {"method": method, **{k: float(v.mean()) for k, v in values.items()},
            **{k: float(np.mean([m[k] for m in inside])) for k in ("hole_psnr", "hole_ssim")}, "seconds": seconds}


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
