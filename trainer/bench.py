"""`python -m trainer bench`: training throughput (samples/s) of the full PEN-Net step
(discriminator update + generator update) with `holes` versus `reference` attention.

Random images, the same seeded mixed masks for both modes (a new mask every step, as in
training), random weights (speed does not depend on them). Each cell: `warmup` untimed steps,
then the median over `steps` timed steps.
"""
from __future__ import annotations

import statistics
import time

import torch

from inpaint_studio.engine.device import TRAINING, resolve_precision
from inpaint_studio.network import PatchDiscriminator, PENNetGenerator

from .fit.losses import LossWeights
from .fit.masks import fixed_masks, to_tensor
from .fit.step import TrainStep, place


def measure(device: torch.device, attention: str, batch: int, size: int, steps: int, warmup: int,
            precision: str = "auto", seed: int = 0) -> float:
    """Median seconds per training step."""
    torch.manual_seed(seed)
    generator = place(PENNetGenerator(attention=attention), device)
    discriminator = place(PatchDiscriminator(), device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.5, 0.999))
    step = TrainStep(generator, discriminator, opt_g, opt_d, LossWeights(), device,
                     resolve_precision(precision, device, TRAINING))
    masks = torch.stack([to_tensor(m) for m in fixed_masks("mixed", batch * (steps + warmup), size, seed=seed)])
    image = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    times = []
    for i in range(warmup + steps):
        mask = masks[i * batch:(i + 1) * batch].to(device)
        _sync(device)
        t0 = time.perf_counter()
        step(image, mask)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(size: int = 256, batches=(1, 4), devices=None, steps: int = 5, warmup: int = 2,
        precision: str = "auto", print_fn=print) -> list[dict]:
    devices = devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    rows = []
    print_fn(f"PEN-Net training step (D + G update), {size}x{size}, median of {steps} steps after {warmup} "
             f"warm-up; samples/s (higher is better); CPU threads: {torch.get_num_threads()}")
    header = f"{'device':<8}{'precision':<10}{'batch':>6}{'holes':>12}{'reference':>12}{'holes/ref':>11}"
    print_fn(header)
    for name in devices:
        device = torch.device(name)
        prec = resolve_precision(precision, device, TRAINING)
        for batch in batches:
            speed = {mode: batch / measure(device, mode, batch, size, steps, warmup, prec)
                     for mode in ("holes", "reference")}
            row = {"device": name, "precision": prec, "batch": batch, **speed,
                   "ratio": speed["holes"] / speed["reference"]}
            rows.append(row)
            print_fn(f"{name:<8}{prec:<10}{batch:>6}{speed['holes']:>12.2f}{speed['reference']:>12.2f}"
                     f"{row['ratio']:>10.2f}x")
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
