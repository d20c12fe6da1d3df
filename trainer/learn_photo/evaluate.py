"""`python -m trainer learn-photo-eval --model ID --data DIR --steps 100 300`: does learning from the
photo help? For each held-out photo (a centre crop) and each mask kind, the base model fills the
hole, then a copy of it is adapted to that photo and its hole (the truth under the hole is
zeroed by the adapter, as in the app) and fills it again after each listed number of steps (one
run per photo and mask, measured on the way). Reports hole PSNR / SSIM (over hole pixels only),
whole-image PSNR / SSIM of the composite (the paper's convention) and the adaptation time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inpaint_studio.engine.device import TRAINING, resolve_device

from .learn import LearnPhotoConfig, PhotoLearner, crop_size
from ..fit.data import to_network
from ..evaluate import hole_metrics, load_crops
from ..fit.masks import fixed_masks, to_tensor
from ..fit.validation import inpaint


def evaluate_learn_photo(model_id: str, data: str | Path, steps=(100, 300), limit: int | None = 8, size: int = 256,
               masks=("center", "free"), device: str = "cpu", seed: int = 0, config: LearnPhotoConfig | None = None,
               log=print) -> dict:
    """{"images", "size", "steps", "device", "rows": [{"masks", "method", "hole_psnr", ...}]}"""
    from inpaint_studio.engine.registry import ModelRegistry, load_generator

    steps = sorted({int(s) for s in steps})
    if not steps or steps[0] < 1:
        raise ValueError("--steps needs positive step counts")
    crops = load_crops(data, size, limit)
    dev = resolve_device(device, TRAINING)
    info = ModelRegistry().get(model_id)
    base = load_generator(info, device=dev).float()
    base_config = config or LearnPhotoConfig()
    rows = []
    for kind in masks:
        holes = fixed_masks(kind, len(crops), size, seed=seed)
        per: dict[str, list[dict]] = {"base": [], **{f"adapted {n}": [] for n in steps}}
        seconds = {n: [] for n in steps}
        for i, (crop, hole) in enumerate(zip(crops, holes)):
            truth = to_network(crop)[None]
            m = to_tensor(hole)[None]
            unit = lambda out: ((out + 1) / 2).clamp(0, 1).mul(255).round().div(255)  # noqa: E731 (8-bit)
            per["base"].append(hole_metrics(unit(inpaint(base, truth, m, dev)), unit(truth), m))
            generator = load_generator(info, device=dev).float()
            cfg = LearnPhotoConfig(**{**base_config.__dict__, "steps": steps[-1], "device": str(dev.type),
                                 "seed": seed + i})
            adapter = PhotoLearner(generator, crop, hole, cfg)
            for n in steps:
                adapter.run(n)
                seconds[n].append(adapter.seconds)
                per[f"adapted {n}"].append(hole_metrics(unit(inpaint(adapter.generator, truth, m, dev)), unit(truth), m))
            log(f"[learn-photo-eval] {kind} {i + 1}/{len(crops)}: hole PSNR base {per['base'][-1]['hole_psnr']:.2f}, "
                + ", ".join(f"{n} steps {per[f'adapted {n}'][-1]['hole_psnr']:.2f}" for n in steps)
                + f" ({adapter.seconds:.0f} s)")
        base_psnr = np.array([r["hole_psnr"] for r in per["base"]])
        for method, values in per.items():
            row = {"masks": kind, "method": method,
                   **{k: float(np.mean([v[k] for v in values])) for k in values[0]}}
            if method != "base":
                n = int(method.split()[1])
                row["seconds"] = float(np.mean(seconds[n]))
                row["improved"] = int((np.array([r["hole_psnr"] for r in values]) > base_psnr).sum())
            rows.append(row)
    return {"model": model_id, "images": len(crops), "size": size, "steps": steps, "device": str(dev),
            "threads": torch.get_num_threads(), "crop": crop_size(size, size, base_config.size),
            "lr": base_config.lr, "data": str(data), "rows": rows}


def format_table(report: dict) -> str:
    lines = [f"model {report['model']}: {report['images']} photos from {report['data']}, "
             f"{report['size']}x{report['size']} centre crops; adaptation on {report['device']} "
             f"({report['threads']} threads), {report['crop']}px training crops, lr {report['lr']:g}",
             f"{'masks':<8}{'method':<14}{'hole PSNR':>10}{'hole SSIM':>10}{'PSNR':>8}{'SSIM':>8}"
             f"{'gain dB':>8}{'adapt s':>9}{'s/step':>8}{'better':>8}"]
    base = {r["masks"]: r["hole_psnr"] for r in report["rows"] if r["method"] == "base"}
    for r in report["rows"]:
        extra = ""
        if "seconds" in r:
            n = int(r["method"].split()[1])
            extra = f"{r['hole_psnr'] - base[r['masks']]:>+8.2f}{r['seconds']:>9.1f}{r['seconds'] / n:>8.2f}{r['improved']:>5}/{report['images']}"
        lines.append(f"{r['masks']:<8}{r['method']:<14}{r['hole_psnr']:>10.2f}{r['hole_ssim']:>10.4f}"
                     f"{r['psnr']:>8.2f}{r['ssim']:>8.4f}{extra}")
    lines.append("hole PSNR/SSIM: hole pixels only (SSIM windows centred in the hole); PSNR/SSIM: the "
                 "whole composite; gain: hole PSNR over the base model's (as finetune-eval reports it); better: photos whose hole PSNR rose; 8-bit results, [0, 1] range")
    return "\n".join(lines)

