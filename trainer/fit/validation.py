"""Validation on fixed images and masks: metrics of the composite and a preview grid PNG."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inpaint_studio.engine.device import autocast
from inpaint_studio.network import generator_input

from .metrics import composite, image_metrics, to_unit

HOLE_TINT = np.array([1.0, 0.2, 0.8], np.float32)  # how the hole is shown in the input column


@torch.no_grad()
def inpaint(generator, image: torch.Tensor, mask: torch.Tensor, device: torch.device,
            precision: str = "fp32", batch: int = 4, raw: bool = False) -> torch.Tensor:
    """Composites (B,3,H,W) in [-1, 1] for image/mask batches on any device (raw: the network's
    whole output instead)."""
    was_training = generator.training
    generator.eval()
    results = []
    try:
        for s in range(0, image.shape[0], batch):
            img, m = image[s:s + batch].to(device), mask[s:s + batch].to(device)
            with autocast(device, precision):
                output, _ = generator(generator_input(img, m), m, pyramid=False)
            output = output.float().clamp(-1, 1)
            results.append((output if raw else composite(output, img, m)).cpu())
    finally:
        generator.train(was_training)
    return torch.cat(results) if results else image.new_empty(0, *image.shape[1:])


def evaluate_batches(results: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Mean L1 / PSNR / SSIM over images, with results and truth in [-1, 1]."""
    per_image = image_metrics(to_unit(results), to_unit(truth))
    return {k: float(v.mean()) for k, v in per_image.items()}


def validate(generator, val, device, precision: str, iteration: int, samples_dir: Path | None,
             preview_rows: int = 4) -> tuple[dict[str, float], Path | None]:
    """Metrics over the validation images, and (with samples_dir) the preview grid's path."""
    results = inpaint(generator, val.images, val.masks, device, precision)
    metrics = evaluate_batches(results, val.images)
    path = None
    if samples_dir is not None:
        path = Path(samples_dir) / f"val-{iteration:09d}.png"
        save_grid(val.images[:preview_rows], val.masks[:preview_rows], results[:preview_rows], path)
    return metrics, path


def save_grid(images: torch.Tensor, masks: torch.Tensor, results: torch.Tensor, path: Path, gap: int = 4) -> None:
    """Rows of (input with its hole shown, output, truth), written atomically."""
    rows = []
    for img, m, out in zip(to_unit(images), masks, to_unit(results)):
        img, out = img.permute(1, 2, 0).numpy(), out.permute(1, 2, 0).numpy()
        hole = m[0].numpy()[..., None] > 0
        shown = np.where(hole, 0.5 * img + 0.5 * HOLE_TINT, img)
        h = img.shape[0]
        sep = np.ones((h, gap, 3), np.float32)
        rows.append(np.concatenate([shown, sep, out, sep, img], axis=1))
        rows.append(np.ones((gap, rows[-1].shape[1], 3), np.float32))
    grid = np.concatenate(rows[:-1], axis=0) if rows else np.ones((gap, gap, 3), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray((grid * 255 + 0.5).astype(np.uint8)).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
