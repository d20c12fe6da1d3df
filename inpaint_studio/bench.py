"""`bench` subcommand: generator latency and peak memory per image of each architecture (PEN-Net,
DeepFill v1), `holes` versus `reference` attention and their variants, per size, batch and
precision, as one table.

Square inputs with a centred hole of a quarter of the area, random weights (speed does not
depend on them). A variant is MODE[:COMPUTE[:KERNEL]][/eager] (network.attention; `auto` where left
out: what the engine runs, including CUDA graphs where the attention is dense; /eager: without
graphs; PEN-Net only: other architectures run the plain modes). Latency: every variant of a (device, size, batch, precision) cell in one process, runs
alternating, so that a machine whose speed drifts affects all alike; medians. Peak memory: on
CPU the rise of a fresh process's peak RSS over the loaded model, one process per variant; on
CUDA torch.cuda.max_memory_allocated over the first (eager) pass. Progress goes to stderr, the
table to stdout.
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

PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
DEFAULT_PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp16", "bf16", "fp32")}
DEFAULT_VARIANTS = {"cpu": ("holes", "reference"),
                    "cuda": ("holes", "holes/eager", "holes:packed:direct", "holes:dense:sdpa", "reference",
                             "reference:auto:direct")}
CUDA_EXTRA_BATCH = (256, 16)  # also batch 16 at 256 px on CUDA (issue 13's target: 1 ms an image)
# rough seconds of one batch-1 pass at 256 px for the up-front estimate (this project's 2-core CPU,
# README; an H200, issue 13), scaled by pixels (holes) or pixels squared (dense attention)
PASS_SECONDS_256 = {"cpu": {"holes": 0.11, "reference": 0.33}, "cuda": {"holes": 0.014, "reference": 0.006}}
PROCESS_SECONDS = 4.0  # start-up of a measuring process (imports, model)


# the dense attention matches every position of its grid with every other: an (H/s * W/s)^2
# float32 matrix, s the matching grid's stride (PEN-Net's finest ATN: 4, contextual attention: 8)
def dense_matrix_gb(size: int, stride: int = 4) -> float:
    n = (size // stride) ** 2
    return n * n * 4 / 1e9


def register(subparsers) -> None:
    from .contracts.card import ARCHITECTURES

    parser = subparsers.add_parser("bench", help="benchmark the generators: speed and memory per architecture, "
                                                 "holes vs reference attention",
                                   description="Generator latency and peak memory per image as one table: "
                                               "CPU always, CUDA when present. It says what it runs and "
                                               "about how long first.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--arch", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES),
                        help="architectures to measure (default: all)")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="all = CPU, and CUDA when present")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (median)")
    parser.add_argument("--reference-max", type=int, default=512,
                        help="largest size to run dense attention at on CPU (it grows with N^2)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, nargs="+",
                        help="default: fp32 and bf16 on CPU, fp16, bf16 and fp32 on CUDA; "
                             "auto = as the engine runs (fp16 on CUDA, bf16 on CPUs that have it)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1],
                        help="batch sizes (on CUDA batch 16 at 256 px is added)")
    parser.add_argument("--variants", nargs="+", metavar="MODE[:COMPUTE[:KERNEL]][/eager]",
                        help="default: holes and reference on CPU; on CUDA also the old direct kernel, "
                             "sdpa, and holes without CUDA graphs")
    parser.add_argument("--child", nargs=6, metavar=("SIZE", "BATCH", "PRECISION", "VARIANTS", "DEVICE", "ARCH"),
                        help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


# -- variants -----------------------------------------------------------------------------------------
def parse_variant(text: str) -> tuple[str, str, str, bool]:
    """'holes:dense/eager' -> ('holes', 'dense', 'auto', False): mode, compute, kernel, graphs."""
    from .network.attention import ATTENTION_MODES, COMPUTES, KERNELS

    spec, _, suffix = text.partition("/")
    parts = spec.split(":")
    if len(parts) > 3 or suffix not in ("", "eager"):
        raise ValueError(f"bad variant {text!r}: MODE[:COMPUTE[:KERNEL]][/eager]")
    mode, compute, kernel = (parts + ["auto", "auto"])[:3]
    if mode not in ATTENTION_MODES or compute not in COMPUTES or kernel not in KERNELS:
        raise ValueError(f"bad variant {text!r}: MODE {'|'.join(ATTENTION_MODES)}, COMPUTE "
                         f"{'|'.join(COMPUTES)}, KERNEL {'|'.join(KERNELS)}")
    return mode, compute, kernel, suffix != "eager"


def tunable(generator) -> bool:
    """Whether the generator's attention takes COMPUTE and KERNEL choices and CUDA graphs (PEN-Net)."""
    return hasattr(generator, "attention_plan")


def arch_variants(arch: str, variants: list[str]) -> list[str]:
    """The variants an architecture runs: all for PEN-Net, the plain modes for the others."""
    from .network import GENERATORS

    if hasattr(GENERATORS[arch], "attention_plan"):
        return list(variants)
    return [v for v in variants if parse_variant(v)[1:] == ("auto", "auto", True)]


def describe(generator, variant: str, batch: int, size: int, device: str) -> str:
    """'holes (dense, matmul, graph)': the finest ATN's choices and whether a CUDA graph runs."""
    _, _, _, graphs = parse_variant(variant)
    if not tunable(generator):
        return f"{generator.attention} (contextual)"
    compute, kernel = generator.attention_plan(batch, size, size, device)[-1]
    graph = graphs and device == "cuda" and not generator.packs(batch, size, size, device)
    return f"{generator.attention} ({compute}, {kernel}{', graph' if graph else ''})"


# -- the command ----------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    if args.child:
        size, batch, precision, variants, device, arch = args.child
        print(json.dumps(measure(int(size), int(batch), precision, variants.split(","), device, args.repeats,
                                 args.threads, arch)))
        return 0
    import torch

    from .network.generator import MULTIPLE

    odd = [s for s in args.sizes if s <= 0 or s % MULTIPLE]
    if odd:
        raise ValueError(f"bench sizes must be positive multiples of {MULTIPLE}, not {odd}")
    for v in args.variants or ():
        parse_variant(v)
    devices = ["cpu"] if args.device == "cpu" else ["cuda"] if args.device == "cuda" else ["cpu"]
    if args.device == "all" and torch.cuda.is_available():
        devices.append("cuda")
    if "cuda" in devices and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but is not available")
    cells = plan_cells(devices, args)
    minutes = estimate_seconds(cells, args.repeats) / 60
    print(f"Inference: {len(cells)} cells of (architecture, device, size, batch, precision) x their variants, "
          f"{args.repeats} timed runs each after a warm-up; roughly {max(1, round(minutes))} min (estimate)",
          flush=True)
    rows = []
    for i, (arch, device, size, batch, precision, variants, skipped) in enumerate(cells, 1):
        print(f"[{i}/{len(cells)}] {arch} {device} {size} px batch {batch} {precision}: {', '.join(variants)} ...",
              file=sys.stderr, flush=True)
        start = time.perf_counter()
        peaks = {}
        if device == "cpu":  # peak RSS only rises: one fresh process per variant
            for v in variants:
                peaks[v] = _run_child(size, batch, precision, [v], device, 0, args.threads, arch).get(v, {})
        times = _run_child(size, batch, precision, variants, device, args.repeats, args.threads, arch)
        cells_out = {}
        for v in variants:
            cell = dict(times.get(v) or {"error": times.get("error", "no result")})
            if device == "cpu":
                cell["peak_mb"] = (peaks.get(v) or {}).get("peak_mb")
            cells_out[v] = cell
        cells_out.update({v: {"skipped": True} for v in skipped})
        rows.append((arch, device, size, batch, precision, cells_out))
        done = [f"{v} {c['median_ms']:.1f} ms" for v, c in cells_out.items() if "median_ms" in c]
        print(f"      {'; '.join(done) or 'no result'} ({time.perf_counter() - start:.0f} s)", file=sys.stderr,
              flush=True)
    print(format_table(rows, args.threads))
    return 0


def plan_cells(devices, args) -> list[tuple]:
    """[(arch, device, size, batch, precision, variants, skipped)]; dense variants above
    --reference-max are skipped on the CPU."""
    cells = []
    for arch, device in ((a, d) for d in devices for a in args.arch):
        precisions = args.precision or DEFAULT_PRECISIONS[device]
        variants = arch_variants(arch, args.variants or DEFAULT_VARIANTS[device])
        if not variants:
            continue
        for precision in precisions:
            for size in args.sizes:
                batches = list(args.batch)
                if device == "cuda" and size == CUDA_EXTRA_BATCH[0] and CUDA_EXTRA_BATCH[1] not in batches:
                    batches.append(CUDA_EXTRA_BATCH[1])
                for batch in batches:
                    skipped = [v for v in variants if device == "cpu" and size > args.reference_max
                               and _dense_on_cpu(v)]
                    cells.append((arch, device, size, batch, precision,
                                  [v for v in variants if v not in skipped], skipped))
    return cells


def _dense_on_cpu(variant: str) -> bool:
    mode, compute, _, _ = parse_variant(variant)
    return mode == "reference" or compute == "dense"


def estimate_seconds(cells, repeats: int) -> float:
    total = 0.0
    for _arch, device, size, batch, _precision, variants, _skipped in cells:
        per_pass = 0.0
        for v in variants:
            mode, compute, _, _ = parse_variant(v)
            dense = mode == "reference" or compute == "dense"
            scale = (size / 256) ** (4 if dense else 2.5) * batch
            per_pass += PASS_SECONDS_256[device]["reference" if dense else "holes"] * scale
        children = 1 + (len(variants) if device == "cpu" else 0)
        total += per_pass * (repeats + 2 + (1 if device == "cpu" else 0)) + PROCESS_SECONDS * children
    return total


def _run_child(size, batch, precision, variants, device, repeats, threads, arch) -> dict:
    cmd = [sys.executable, "-m", "inpaint_studio", "bench", "--child", str(size), str(batch), precision,
           ",".join(variants), device, arch, "--repeats", str(repeats), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- measuring (in a child process) --------------------------------------------------------------------
def measure(size: int, batch: int, precision: str, variants: list[str], device: str, repeats: int,
            threads: int = 0, arch: str = "pennet") -> dict:
    """Peak memory of each variant's first pass (on CPU only meaningful for the first variant, hence
    one process per variant there), then `repeats` timed passes of every variant, alternating:
    {variant: {median_ms (per image), runs, peak_mb, attention, precision, threads}}."""
    import torch

    from .engine.device import autocast, autocast_dtype
    from .engine.graphs import GraphCache
    from .network import generator_input, make_generator

    if threads:
        torch.set_num_threads(threads)
    cuda = device == "cuda"
    dev = torch.device(device)
    torch.manual_seed(0)
    base = make_generator(arch).eval().requires_grad_(False).to(dev, memory_format=torch.channels_last)
    image = torch.rand(batch, 3, size, size, device=dev) * 2 - 1
    mask = torch.zeros(batch, 1, size, size, device=dev)
    q = size // 4
    mask[..., q:size - q, q:size - q] = 1  # centred, a quarter of the area
    dtype = autocast_dtype(dev, precision)
    label = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")
    graphs = GraphCache() if cuda else None

    def configure(variant):
        mode, compute, kernel, _ = parse_variant(variant)
        if not tunable(base):
            return base.configure(attention=mode)
        return base.configure(attention=mode, compute=compute, kernel=kernel)

    def forward(img, msk):
        with torch.inference_mode(), autocast(dev, precision, cache_enabled=False):
            return base(generator_input(img, msk).contiguous(memory_format=torch.channels_last), msk,
                        pyramid=False)[0]

    def once(variant):
        generator = configure(variant)
        use_graph = (graphs is not None and tunable(generator) and parse_variant(variant)[3]
                     and not generator.packs(batch, size, size, device))
        if use_graph:  # as the engine: input copies in, a replay, the output copied out
            out = graphs.run(forward, [image, mask], key=(variant,))
        else:
            out = forward(image, mask)
        if cuda:
            torch.cuda.synchronize()
        return out

    result: dict = {}
    for variant in variants:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            start = torch.cuda.memory_allocated()
        else:
            start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        once(variant)  # warm-up (first sight of the shape: eager); sets the peak
        peak = (torch.cuda.max_memory_allocated() if cuda
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) - start
        result[variant] = {"peak_mb": peak / 2**20, "precision": label, "threads": torch.get_num_threads(),
                           "attention": describe(configure(variant), variant, batch, size, device)}
    if repeats > 0:
        for variant in variants:
            once(variant)  # second sight: graphs are captured here
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(max(0, repeats)):
        for variant in variants:
            start = time.perf_counter()
            once(variant)
            times[variant].append((time.perf_counter() - start) / batch)
    for variant, ts in times.items():
        if ts:
            result[variant].update(median_ms=statistics.median(ts) * 1000, runs=len(ts))
    if graphs is not None and graphs.failure:
        for cell in result.values():
            cell["note"] = f"graphs off: {graphs.failure[:80]}"
    return result


# -- the table -------------------------------------------------------------------------------------------
def format_table(rows, threads_asked: int = 0) -> str:
    from .contracts.card import ARCHITECTURES
    from .network import GENERATORS

    head = ("architecture", "device", "size", "batch", "precision", "variant", "attention (finest ATN)",
            "ms/image", "vs holes", "peak MB")
    lines = [head]
    for arch, device, size, batch, precision, cells in rows:
        name = ARCHITECTURES.get(arch, arch)
        holes = (cells.get("holes") or {}).get("median_ms")
        for variant, cell in cells.items():
            if cell.get("skipped"):
                lines.append((name, device, str(size), str(batch), precision, variant, "skipped", "-", "-",
                              f"(dense: {dense_matrix_gb(size, GENERATORS[arch].attention_stride):.1f} GB matrix)"))
                continue
            ms = cell.get("median_ms")
            peak = cell.get("peak_mb")
            lines.append((name, device, str(size), str(batch), cell.get("precision", precision), variant,
                          cell.get("attention", "-"),
                          f"{ms:.2f}" if ms and ms < 10 else f"{ms:.0f}" if ms else f"error: {cell.get('error', '?')}",
                          f"{holes / ms:.2f}x" if ms and holes else "-",
                          f"{peak:.0f}" if peak is not None else "-"))
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(head))]
    out = ["  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    threads = next((c.get("threads") for *_, cs in rows for c in cs.values() if c and "threads" in c), None)
    notes = sorted({c["note"] for *_, cs in rows for c in cs.values() if c and "note" in c})
    out.append(f"centred hole of 1/4 of the area; ms per image, medians of alternating runs; vs holes: speed "
               f"against the holes row; peak = rise over the loaded model (CPU: RSS, CUDA: allocated); CPU "
               f"threads: {threads}; {os.cpu_count()} CPUs here")
    out.extend(notes)
    ratios = _architecture_ratios(rows)
    if ratios:
        out.append(ratios)
    return "\n".join(out)


def _architecture_ratios(rows) -> str:
    """One line: for each (device, size, batch, precision) measured for two architectures, the
    second's time and peak memory (holes) as multiples of the first's."""
    from .contracts.card import ARCHITECTURES

    seen: dict[tuple, list] = {}
    for arch, device, size, batch, precision, cells in rows:
        seen.setdefault((device, size, batch, precision), []).append((arch, cells.get("holes") or {}))
    parts, pair = [], None
    for (device, size, batch, precision), found in seen.items():
        if len(found) < 2:
            continue
        (a, first), (b, second) = found[:2]
        pair = pair or (a, b)
        t1, t2 = first.get("median_ms"), second.get("median_ms")
        m1, m2 = first.get("peak_mb"), second.get("peak_mb")
        if t1 and t2:
            memory = f", peak memory {m2 / m1:.2f}x" if m1 and m2 else ""
            parts.append(f"{device} {size} batch {batch} {precision}: time {t2 / t1:.2f}x{memory}")
    if not parts:
        return ""
    first, second = (ARCHITECTURES.get(a, a) for a in pair)
    return f"{second} / {first} (holes): " + "; ".join(parts)
