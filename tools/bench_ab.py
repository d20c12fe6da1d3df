"""A/B latency of the generator on the CPU between two checkouts, in one session: rounds that
alternate the two trees (and their order), each run a fresh process that imports its tree's code.

    python tools/bench_ab.py --a /work/main --b . --sizes 256 512 --precision fp32 bf16 --rounds 3

Every child times `--repeats` passes of each mode (holes, reference) alternating, after a warm-up,
with a centred hole of a quarter of the area (as `python -m inpaint_studio bench`); the table
gives the median over all rounds per tree and the ratio. For noisy, shared machines: the medians
and the interleaving are the point.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time, torch
from inpaint_studio.network import PENNetGenerator, generator_input
from inpaint_studio.engine.device import autocast
size, precision, repeats, threads = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
modes = sys.argv[5].split(",")
clock = time.process_time if sys.argv[6] == "cpu" else time.perf_counter
if threads:
    torch.set_num_threads(threads)
torch.manual_seed(0)
g = PENNetGenerator().eval().requires_grad_(False).to(memory_format=torch.channels_last)
image = torch.rand(1, 3, size, size) * 2 - 1
mask = torch.zeros(1, 1, size, size)
q = size // 4
mask[..., q:size - q, q:size - q] = 1
x = generator_input(image, mask).contiguous(memory_format=torch.channels_last)
dev = torch.device("cpu")
def once(mode):
    g.configure(attention=mode)
    with torch.no_grad(), autocast(dev, precision):
        g(x, mask, pyramid=False)
for m in modes:
    once(m)
times = {m: [] for m in modes}
for _ in range(repeats):
    for m in modes:
        t = clock(); once(m); times[m].append(clock() - t)
print(json.dumps(times))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", required=True, help="first checkout (e.g. main)")
    p.add_argument("--b", default=".", help="second checkout (default: this one)")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--modes", default="holes,reference")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: its default)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: the process's CPU time, which a machine shared with other jobs inflates far "
                        "less than wall time (use with --threads 1)")
    args = p.parse_args()
    trees = {"a": os.path.abspath(args.a), "b": os.path.abspath(args.b)}
    modes = args.modes.split(",")
    times: dict[tuple, list[float]] = {}
    cells = [(s, prec) for prec in args.precision for s in args.sizes]
    print(f"A = {trees['a']}\nB = {trees['b']}\n{len(cells)} cells x {args.rounds} rounds x 2 trees, "
          f"{args.repeats} passes of {', '.join(modes)} each; {args.clock} time, threads {args.threads or 'default'}",
          flush=True)
    for r in range(args.rounds):
        for size, prec in cells:
            order = ("a", "b") if r % 2 == 0 else ("b", "a")
            for tree in order:
                env = {**os.environ, "PYTHONPATH": trees[tree]}
                proc = subprocess.run([sys.executable, "-c", CHILD, str(size), prec, str(args.repeats),
                                       str(args.threads), ",".join(modes), args.clock],
                                      capture_output=True, text=True, env=env, cwd=trees[tree])
                if proc.returncode:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    return 1
                for mode, ts in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                    times.setdefault((size, prec, mode, tree), []).extend(ts)
            print(f"  round {r + 1}: {size} {prec} done", file=sys.stderr, flush=True)
    print(f"{'size':>5} {'precision':>9} {'mode':>9} {'A ms':>8} {'B ms':>8} {'B/A':>6} {'runs':>5}")
    for size, prec in cells:
        for mode in modes:
            a = statistics.median(times[(size, prec, mode, "a")]) * 1000
            b = statistics.median(times[(size, prec, mode, "b")]) * 1000
            print(f"{size:>5} {prec:>9} {mode:>9} {a:>8.0f} {b:>8.0f} {b / a:>6.2f} "
                  f"{len(times[(size, prec, mode, 'a')]):>5}")
    print("medians over all rounds; B/A < 1: B is faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
