"""`bench` subcommand: generator latency and peak memory of each architecture (PEN-Net, DeepFill
v1), `holes` versus `reference` attention.

Square inputs with a centred hole of a quarter of the area, batch 1, random weights (speed does
not depend on them), the default width of each architecture. Latency: both modes in one process, runs alternating (holes, reference,
holes, ...), so that a machine whose speed drifts affects both alike; medians. Peak memory: each
(size, mode) once in a fresh process, so the peak is its own: on CPU the rise of the process's
peak RSS over the loaded model, on CUDA torch.cuda.max_memory_allocated. Prints one table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# the dense attention matches every position of its grid with every other: an (H/s * W/s)^2
# float32 matrix, s the matching grid's stride (PEN-Net's finest ATN: 4, contextual attention: 8)
def dense_matrix_gb(size: int, stride: int = 4) -> float:
    n = (size // stride) ** 2
    return n * n * 4 / 1e9


def register(subparsers) -> None:
    from .contracts.card import ARCHITECTURES

    parser = subparsers.add_parser("bench", help="benchmark the generators: speed and memory per architecture, "
                                                 "holes vs reference attention")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--arch", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES),
                        help="architectures to measure (default: all)")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="all = CPU, and CUDA when present")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (median)")
    parser.add_argument("--reference-max", type=int, default=512,
                        help="largest size to run reference attention at on CPU (it grows with N^2)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                        help="as the engine runs: auto = fp16 on CUDA, bf16 on CPUs that have it, else fp32")
    parser.add_argument("--child", nargs=4, metavar=("SIZE", "MODES", "DEVICE", "ARCH"), help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.child:
        size, modes, device, arch = int(args.child[0]), args.child[1].split(","), args.child[2], args.child[3]
        print(json.dumps(measure(size, modes, device, args.repeats, args.threads, args.precision, arch)))
        return 0
    import torch

    from .network.generator import MULTIPLE

    odd = [s for s in args.sizes if s <= 0 or s % MULTIPLE]
    if odd:
        raise ValueError(f"bench sizes must be positive multiples of {MULTIPLE}, not {odd}")
    devices = ["cpu"] if args.device == "cpu" else ["cuda"] if args.device == "cuda" else ["cpu"]
    if args.device == "all" and torch.cuda.is_available():
        devices.append("cuda")
    if "cuda" in devices and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but is not available")
    rows = []
    for device in devices:
        for size in args.sizes:
            for arch in args.arch:
                modes = ["holes"] if device == "cpu" and size > args.reference_max else ["holes", "reference"]
                peaks = {m: _run_child(size, [m], device, 0, args.threads, args.precision, arch) for m in modes}
                times = _run_child(size, modes, device, args.repeats, args.threads, args.precision, arch)
                cells = {"reference": None}
                for m in modes:
                    cells[m] = {**times.get(m, times), "peak_mb": peaks[m].get("peak_mb")} if "error" not in peaks[m] else peaks[m]
                print(f"  measured {arch} {device} {size}: {cells}", file=sys.stderr, flush=True)
                rows.append((arch, device, size, cells))
    print(format_table(rows))
    return 0


def _run_child(size, modes, device, repeats, threads, precision, arch) -> dict:
    cmd = [sys.executable, "-m", "inpaint_studio", "bench", "--child", str(size), ",".join(modes), device, arch,
           "--repeats", str(repeats), "--threads", str(threads), "--precision", precision]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(size: int, modes: list[str], device: str, repeats: int, threads: int = 0,
            precision: str = "auto", arch: str = "pennet") -> dict:
    """Peak memory of the first pass of modes[0] (when alone), then `repeats` timed passes of
    every mode, alternating: {mode: {median_ms, runs, threads}, "peak_mb": ...}."""
    import torch

    from .engine.device import autocast, autocast_dtype
    from .network import generator_input, make_generator

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    generator = make_generator(arch, attention=modes[0]).eval().requires_grad_(False)
    generator = generator.to(device, memory_format=torch.channels_last)  # as the engine runs it
    image = (torch.rand(1, 3, size, size, device=device) * 2 - 1)
    mask = torch.zeros(1, 1, size, size, device=device)
    q = size // 4
    mask[..., q:size - q, q:size - q] = 1  # centred, a quarter of the area
    x = generator_input(image, mask).contiguous(memory_format=torch.channels_last)
    cuda = device == "cuda"
    dtype = autocast_dtype(torch.device(device), precision)

    def once(mode):
        generator.configure(attention=mode)
        with torch.no_grad(), autocast(torch.device(device), precision):
            generator(x, mask, pyramid=False)
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    once(modes[0])  # warm-up; also sets the peak
    peak = (torch.cuda.max_memory_allocated() if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) - base
    for mode in modes[1:]:
        once(mode)
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(max(0, repeats)):
        for mode in modes:
            start = time.perf_counter()
            once(mode)
            times[mode].append(time.perf_counter() - start)
    label = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")
    result = {"peak_mb": peak / 2**20, "threads": torch.get_num_threads(), "precision": label}
    for mode, ts in times.items():
        if ts:
            result[mode] = {"median_ms": statistics.median(ts) * 1000, "runs": len(ts),
                            "threads": torch.get_num_threads(), "precision": label}
    return result


def format_table(rows) -> str:
    from .contracts.card import ARCHITECTURES
    from .network import GENERATORS

    head = ("architecture", "device", "size", "precision", "holes ms", "reference ms", "speed-up", "holes peak MB",
            "reference peak MB", "memory ratio")
    lines = [head]
    for arch, device, size, cells in rows:
        h, r = cells.get("holes"), cells.get("reference")
        hv = _num(h, "median_ms")
        rv = _num(r, "median_ms")
        hm, rm = _num(h, "peak_mb"), _num(r, "peak_mb")
        ref_ms = f"{rv:.0f}" if rv else _why(r, size)
        stride = GENERATORS[arch].attention_stride
        ref_mb = f"{rm:.0f}" if rm is not None else f"(dense: {dense_matrix_gb(size, stride):.1f} GB matrix)"
        precision = next((c["precision"] for c in (h, r) if c and "precision" in c), "-")
        lines.append((ARCHITECTURES.get(arch, arch), device, str(size), precision, f"{hv:.0f}" if hv else _why(h, size),
                      ref_ms, f"{rv / hv:.2f}x" if hv and rv else "-",
                      f"{hm:.0f}" if hm is not None else "-", ref_mb,
                      f"{rm / hm:.2f}x" if hm and rm else "-"))
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(head))]
    out = ["  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    threads = next((c.get("threads") for *_, cs in rows for c in cs.values() if c and "threads" in c), None)
    out.append(f"batch 1, centred hole of 1/4 of the area; medians of alternating runs; CPU threads: "
               f"{threads}; peak = rise over the loaded model ({os.cpu_count()} CPUs here)")
    ratios = _architecture_ratios(rows)
    if ratios:
        out.append(ratios)
    return "\n".join(out)


def _architecture_ratios(rows) -> str:
    """One line per (device, size) measured for two architectures: the second's time and peak
    memory (holes mode) as multiples of the first's."""
    from .contracts.card import ARCHITECTURES

    seen: dict[tuple, list] = {}
    for arch, device, size, cells in rows:
        seen.setdefault((device, size), []).append((arch, cells.get("holes")))
    parts = []
    for (device, size), found in seen.items():
        if len(found) < 2:
            continue
        (a, first), (b, second) = found[:2]
        t1, t2 = _num(first, "median_ms"), _num(second, "median_ms")
        m1, m2 = _num(first, "peak_mb"), _num(second, "peak_mb")
        if t1 and t2:
            memory = f", peak memory {m2 / m1:.2f}x" if m1 and m2 else ""
            parts.append(f"{device} {size}: time {t2 / t1:.2f}x{memory}")
    if not parts:
        return ""
    first, second = (ARCHITECTURES.get(a, a) for a in (rows[0][0], next(r[0] for r in rows if r[0] != rows[0][0])))
    return f"{second} / {first} (holes): " + "; ".join(parts)


def _num(cell, key):
    return cell.get(key) if cell and key in cell else None


def _why(cell, size) -> str:
    if cell is None:
        return "skipped"
    return f"error: {cell.get('error', '?')}"
