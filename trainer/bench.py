"""`python -m trainer bench`: training throughput (samples/s) of the full PEN-Net step
(discriminator update + generator update) per batch size, attention variant and compile on/off,
with peak memory, as one table; `--profile FILE` adds a torch.profiler summary of two steps;
`--memory` counts the activation memory per sample.

Random images, the same seeded mixed masks for every cell (a new mask every step, as in
training), random weights (speed does not depend on them). Each cell: `warmup` untimed steps
(compilation happens there), then the median over `steps` timed steps. Variants are
MODE[:COMPUTE[:KERNEL]] (network.attention), `auto` where left out: what `fit` runs.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from inpaint_studio.contracts.training import batch_size_for
from inpaint_studio.engine.device import TRAINING, autocast, resolve_precision
from inpaint_studio.network import PatchDiscriminator, PENNetGenerator, generator_input
from inpaint_studio.network.attention import COMPUTES, KERNELS

from .fit.losses import LossWeights
from .fit.masks import fixed_masks, to_tensor
from .fit.step import TrainStep, make_adam, place, resolve_compile

# what runs when no option is given (a GPU session's minutes are few: ~8 minutes on an H200)
CPU_PLAN = {"batches": (1, 4), "variants": ("holes", "reference"), "compile": ("off",)}
CUDA_PLAN = {"batches": (8, 32, 64, 128),
             "variants": ("holes:packed:direct", "holes", "holes:dense", "reference"),
             "compile": ("off", "on"), "compiled_batches": (32, 64), "compiled_variants": ("holes",)}
# rough costs for the up-front estimate: seconds per sample of one step at 256 px (this project's
# 2-core CPU in fp32; an H200 in bf16 with the old kernels, issue 13), and one compilation
SECONDS_PER_SAMPLE = {"cpu": 1.2, "cuda": 0.005}
COMPILE_SECONDS = {"cpu": 300.0, "cuda": 120.0}


@dataclass
class Cell:
    device: str
    precision: str
    batch: int
    variant: str
    compile: bool
    result: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.device} {self.precision} batch {self.batch} {self.variant} compile {'on' if self.compile else 'off'}"


def parse_variant(text: str) -> tuple[str, str, str]:
    """'holes:dense' -> ('holes', 'dense', 'auto')."""
    parts = text.split(":")
    mode, compute, kernel = (parts + ["auto", "auto"])[:3] if len(parts) <= 3 else (None, None, None)
    if mode not in ("holes", "reference") or compute not in COMPUTES or kernel not in KERNELS:
        raise ValueError(f"bad variant {text!r}: MODE[:COMPUTE[:KERNEL]] with MODE holes|reference, "
                         f"COMPUTE {'|'.join(COMPUTES)}, KERNEL {'|'.join(KERNELS)}")
    return mode, compute, kernel


def describe_variant(text: str, device: str, batch: int, size: int) -> str:
    """The variant with its automatic choices resolved for the finest ATN: 'holes (packed, matmul)'."""
    mode, compute, kernel = parse_variant(text)
    generator = PENNetGenerator(attention=mode).configure(kernel=kernel, compute=compute)
    done, used = generator.attention_plan(batch, size, size, device)[-1]
    return f"{mode} ({done}, {used})"


def _models(device, variant, seed):
    mode, compute, kernel = parse_variant(variant)
    torch.manual_seed(seed)
    generator = place(PENNetGenerator(attention=mode).configure(kernel=kernel, compute=compute), device)
    return generator, place(PatchDiscriminator(), device)


def measure(device: torch.device, variant: str, batch: int, size: int, steps: int, warmup: int,
            precision: str = "auto", compile: bool = False, seed: int = 0, profile: int = 0) -> dict:
    """{'seconds': median seconds per step, 'peak_bytes': CUDA peak (None on CPU)}; with profile=N
    also 'profile': a torch.profiler table of N more steps."""
    generator, discriminator = _models(device, variant, seed)
    step = TrainStep(generator, discriminator, make_adam(generator.parameters(), 1e-4, (0.5, 0.999), device),
                     make_adam(discriminator.parameters(), 1e-4, (0.5, 0.999), device), LossWeights(), device,
                     resolve_precision(precision, device, TRAINING), compile=compile)
    masks = torch.stack([to_tensor(m) for m in fixed_masks("mixed", batch * (steps + warmup + profile), size, seed=seed)])
    masks = masks.pin_memory() if device.type == "cuda" else masks
    image = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + steps):
        mask = masks[i * batch:(i + 1) * batch].to(device, non_blocking=True)
        _sync(device)
        t0 = time.perf_counter()
        step(image, mask)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    result = {"seconds": statistics.median(times),
              "peak_bytes": torch.cuda.max_memory_allocated(device) if cuda else None}
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as profiler

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profiler(activities=activities) as prof:
            for i in range(warmup + steps, warmup + steps + profile):
                step(image, masks[i * batch:(i + 1) * batch].to(device, non_blocking=True))
            _sync(device)
        result["profile"] = prof.key_averages().table(
            sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=40)
    return result


def saved_bytes(size: int, batch: int = 2, mode: str = "holes", compute: str = "auto", kernel: str = "auto",
                precision: str = "bf16", device_type: str = "cuda", seed: int = 0) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one training step's passes
    (G; D on real and fake; D judging G), counted on the CPU by storage; `device_type` resolves
    the automatic attention choices as that device would. The activation memory of the step,
    without transients."""
    torch.manual_seed(seed)
    generator = PENNetGenerator(attention=mode).configure(kernel=kernel, compute=compute)
    for atn, (done, used) in zip(generator.attention_modules(),
                                 generator.attention_plan(batch, size, size, device_type)):
        atn.compute, atn.kernel = done, used  # each level as that device would run it
    generator, discriminator = place(generator, torch.device("cpu")), place(PatchDiscriminator(), torch.device("cpu"))
    image = torch.rand(batch, 3, size, size) * 2 - 1
    mask = torch.stack([to_tensor(m) for m in fixed_masks("mixed", batch, size, seed=seed)])
    storages: dict[int, int] = {}

    def keep(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    cpu = torch.device("cpu")
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t), autocast(cpu, precision):
        x = generator_input(image, mask).contiguous(memory_format=torch.channels_last)
        output, pyramid = generator(x, mask)
        fake = output.float() * mask + image * (1 - mask)
        discriminator(torch.cat([image, fake.detach()]))
        discriminator.requires_grad_(False)
        discriminator(fake)
    return sum(storages.values())


def plan_cells(devices, batches, variants, compile_choice, precision, size) -> list[Cell]:
    cells = []
    for name in devices:
        device = torch.device(name)
        prec = resolve_precision(precision, device, TRAINING)
        plan = CUDA_PLAN if name == "cuda" else CPU_PLAN
        compiles = plan["compile"] if compile_choice is None else compile_choice
        for flag in compiles:
            compiled = flag == "on"
            cell_batches = batches or (plan.get("compiled_batches", plan["batches"]) if compiled else plan["batches"])
            cell_variants = variants or (plan.get("compiled_variants", plan["variants"]) if compiled else plan["variants"])
            for batch in cell_batches:
                for variant in cell_variants:
                    cells.append(Cell(name, prec, batch, variant, compiled))
    return cells


def estimate_seconds(cells: list[Cell], size: int, steps: int, warmup: int) -> float:
    total, compiled = 0.0, set()
    for c in cells:
        per_step = SECONDS_PER_SAMPLE[c.device] * c.batch * (size / 256) ** 2
        total += per_step * (steps + warmup) + (3.0 if c.device == "cuda" else 1.0)
        if c.compile:
            first = (c.device, c.variant) not in compiled
            total += COMPILE_SECONDS[c.device] * (1.0 if first else 0.5)
            compiled.add((c.device, c.variant))
    return total


def run(size: int = 256, batches=None, devices=None, steps: int = 5, warmup: int = 2, precision: str = "auto",
        variants=None, compile_choice=None, profile: str | None = None, print_fn=print, log=None) -> list[Cell]:
    """Runs the cells and prints the table; progress goes to `log` (stderr by default)."""
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    devices = devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    for v in variants or ():
        parse_variant(v)
    cells = plan_cells(devices, batches, variants, compile_choice, precision, size)
    if any(c.compile for c in cells) and warmup < 2:
        warmup = 2  # the first compiled step compiles, the second may recompile with dynamic shapes
    minutes = estimate_seconds(cells, size, steps, warmup) / 60
    print_fn(f"PEN-Net training step (D + G update) at {size}x{size}: {len(cells)} cells "
             f"({', '.join(sorted(set(c.device for c in cells)))}), each {warmup} warm-up + median of {steps} "
             f"steps; roughly {minutes:.0f} min (estimate){'; then a profile' if profile else ''}")
    for i, cell in enumerate(cells, 1):
        log(f"[{i}/{len(cells)}] {cell.label} ...")
        device = torch.device(cell.device)
        start = time.perf_counter()
        try:
            cell.result = measure(device, cell.variant, cell.batch, size, steps, warmup, cell.precision, cell.compile)
        except torch.OutOfMemoryError:
            cell.result = {"error": "out of memory"}
        except RuntimeError as exc:
            if "out of memory" not in str(exc).lower():
                raise
            cell.result = {"error": "out of memory"}
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        cell.result["variant"] = describe_variant(cell.variant, cell.device, cell.batch, size)
        took = time.perf_counter() - start
        if "seconds" in cell.result:
            log(f"      {cell.batch / cell.result['seconds']:.1f} samples/s ({took:.0f} s)")
        else:
            log(f"      {cell.result['error']} ({took:.0f} s)")
    print_fn(format_table(cells))
    if profile:
        first = cells[0]
        device = torch.device(first.device)
        batch = batch_size_for(device.type, size, torch.cuda.get_device_properties(device).total_memory
                              if device.type == "cuda" else None)
        compiled = resolve_compile(None, device)
        log(f"profiling 2 steps: {first.device} batch {batch} holes compile {'on' if compiled else 'off'} ...")
        result = measure(device, "holes", batch, size, 1, 1 + compiled, first.precision, compiled, profile=2)
        header = (f"torch.profiler, 2 training steps (fit's defaults): {first.device} {first.precision} "
                  f"{size}px batch {batch}, {describe_variant('holes', first.device, batch, size)}, "
                  f"compile {'on' if compiled else 'off'}; an unprofiled step {result['seconds'] * 1000:.1f} ms\n")
        _write_text(Path(profile), header + result["profile"] + "\n")
        print_fn(f"profile written to {profile}")
    return cells


def format_table(cells: list[Cell]) -> str:
    head = ("device", "precision", "batch", "attention (finest ATN)", "compile", "ms/step", "samples/s",
            "peak MB", "MB/sample", "vs first")
    rows = [head]
    firsts: dict[tuple, float] = {}
    for c in cells:
        r = c.result
        rate = c.batch / r["seconds"] if "seconds" in r else None
        group = (c.device, c.precision, c.batch)
        if rate is not None:
            firsts.setdefault(group, rate)
        peak = r.get("peak_bytes")
        rows.append((c.device, c.precision, str(c.batch), r.get("variant", c.variant), "on" if c.compile else "off",
                     f"{r['seconds'] * 1000:.1f}" if rate else r.get("error", "-"),
                     f"{rate:.1f}" if rate else "-",
                     f"{peak / 2**20:.0f}" if peak else "-",
                     f"{peak / 2**20 / c.batch:.0f}" if peak else "-",
                     f"{rate / firsts[group]:.2f}x" if rate else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"samples/s: higher is better; vs first: against the first row of the same device, precision and "
                 f"batch; peak: CUDA max allocated (CPU: see --memory); CPU threads {torch.get_num_threads()}, "
                 f"{os.cpu_count()} CPUs")
    return "\n".join(lines)


def memory_table(size: int, batch: int, print_fn=print) -> None:
    """Activation memory per sample, counted (saved_bytes) for the CUDA defaults and the variants."""
    print_fn(f"Activation memory per sample, bf16, {size}x{size}, batch {batch}: tensors autograd saves "
             f"(G, D on real and fake, D judging G), counted on the CPU as CUDA would run")
    for variant in ("holes", "holes:packed:matmul", "holes:dense:matmul", "holes:dense:sdpa",
                    "reference:auto:matmul", "reference:auto:sdpa"):
        mode, compute, kernel = parse_variant(variant)
        n = saved_bytes(size, batch, mode, compute, kernel, "bf16", "cuda")
        print_fn(f"  {describe_variant(variant, 'cuda', batch, size):<28} {n / batch / 2**20:8.1f} MB")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
