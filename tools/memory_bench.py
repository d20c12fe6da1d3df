"""Memory benchmarks: each measurement in a fresh process, its peak RSS printed in a table.

    python tools/memory_bench.py ora    [--before TREE]    # hostile .ora files: read_ora's peak RSS
    python tools/memory_bench.py adapt  [--before TREE] [--size 12000x9000] [--hole 6000x5000]
    python tools/memory_bench.py engine [--before TREE] [--calls 1000] [--model ID | --cnum 8]

ora: a zip bomb in stack.xml and in a layer (3 GB of padding in a ~3 MB file), 40 layers that
share one 5000x5000 PNG, and an ordinary 24-megapixel project for reference.
adapt: the CLI on a SIZE photo with a HOLE-sized hole, `--strategy resize`, with and without
colour adaptation, on a random-weight PEN-Net model (memory does not depend on the weights).
engine: one PEN-Net engine, CALLS requests on pieces of 64 to 384 px of the test photos with
holes of varied sizes and places, by every strategy (so the model sees dozens of input shapes),
its RSS every CALLS/10 requests; without
--model a random-weight generator with CNUM base channels stands in (the per-shape kernel
caches it exercises are the same, and it runs in minutes on a laptop). Without --before the comparison column is this code
with oneDNN's default cache sizes and no trimming, i.e. what the engine did before.

--before TREE: the same case run with the code of another checkout (for example
`git archive <commit> | tar -x -C /tmp/before`), in its own process, side by side.
Peak RSS is the child's maximum resident set (/usr/bin/time). Nothing of the user's is touched: models and
settings live in a temporary INPAINT_STUDIO_HOME.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "data" / "photos"
MODEL_NAME = "bench random"


# -- running a child and reading its peak -----------------------------------------------------------
def measured(argv: list[str], tree: Path, home: Path | None) -> tuple[dict, float]:
    """Run argv with PYTHONPATH=tree (and INPAINT_STUDIO_HOME=home when given) under
    /usr/bin/time; -> (the JSON of its last stdout line, or {"error": ...}; peak RSS in MB)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
    if home is not None:
        env["INPAINT_STUDIO_HOME"] = str(home)
    proc = subprocess.run(["/usr/bin/time", "-f", "@@peak_kb=%M"] + argv, capture_output=True, text=True, env=env)
    peak = float("nan")
    for line in proc.stderr.splitlines():
        if line.startswith("@@peak_kb="):
            peak = int(line.split("=")[1]) / 1024
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1]), peak
    errors = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("@@")]
    return {"error": (errors or ["no output"])[-1][:140]}, peak


def table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    sys.stdout.flush()


def _trees(args) -> list[tuple[str, Path]]:
    trees = [("after", ROOT)]
    if args.before:
        trees.insert(0, ("before", Path(args.before).resolve()))
    return trees


# -- ora ------------------------------------------------------------------------------------------
def build_ora_cases(folder: Path, pad_gb: float) -> list[tuple[str, Path]]:
    import io

    import numpy as np
    from PIL import Image

    def png(arr) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG", compress_level=9)
        return buf.getvalue()

    def pad(fh, total: int) -> None:
        block = b" " * (64 << 20)
        left = total
        while left > 0:
            fh.write(block[:min(left, len(block))])
            left -= len(block)

    small = png(np.full((6, 8, 3), 120, np.uint8))
    padding = int(pad_gb * 2**30)
    cases = []

    path = folder / "stack-bomb.ora"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("mimetype", "image/openraster", compress_type=zipfile.ZIP_STORED)
        with zf.open("stack.xml", "w", force_zip64=True) as fh:
            fh.write(b'<image w="8" h="6"><stack><layer src="data/a.png"/></stack>')
            pad(fh, padding)
            fh.write(b"</image>")
        zf.writestr("data/a.png", small)
    cases.append((f"zip bomb: stack.xml + {pad_gb:g} GB padding", path))

    path = folder / "layer-bomb.ora"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("mimetype", "image/openraster", compress_type=zipfile.ZIP_STORED)
        zf.writestr("stack.xml", '<image w="8" h="6"><stack><layer src="data/a.png"/></stack></image>')
        with zf.open("data/a.png", "w", force_zip64=True) as fh:
            fh.write(small)
            pad(fh, padding)
    cases.append((f"zip bomb: a layer + {pad_gb:g} GB padding", path))

    path = folder / "shared-layers.ora"
    big = png(np.full((5000, 5000, 3), 90, np.uint8))
    layers = "".join(f'<layer name="l{i}" src="data/big.png"/>' for i in range(40))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
        zf.writestr("stack.xml", f'<image w="5000" h="5000"><stack>{layers}</stack></image>')
        zf.writestr("data/big.png", big)
    cases.append(("40 layers sharing one 5000x5000 PNG", path))

    path = folder / "ordinary.ora"
    photo = np.asarray(Image.open(PHOTOS / "astronaut.jpg").convert("RGB").resize((6000, 4000)))
    mask = np.zeros((4000, 6000, 2), np.uint8)
    mask[..., 0] = 255
    mask[1000:2000, 2000:3500, 1] = 255
    ns = 'xmlns:i="urn:inpaint-studio:openraster:1"'
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
        zf.writestr("stack.xml", f'<image w="6000" h="4000"><stack><layer {ns} src="data/mask.png" '
                                 f'i:role="mask" i:key="hole"/><layer {ns} src="data/photo.png" '
                                 f'i:role="image"/></stack></image>')
        zf.writestr("data/mask.png", png(mask))
        zf.writestr("data/photo.png", png(photo))
    cases.append(("ordinary 6000x4000 project (photo + mask)", path))
    return cases


def child_ora(path: str) -> dict:
    import resource

    try:
        from inpaint_studio.app.document.project import read_ora
    except ImportError:                       # a --before tree from before the house (app/project.py)
        from inpaint_studio.app.project import read_ora

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    try:
        project = read_ora(path)
        outcome = f"read: {len(project.layers)} layers"
    except Exception as exc:  # the measurement records whatever happened
        text = " ".join(str(exc).replace(path, "FILE").split())
        outcome = f"{type(exc).__name__}: {text[:70]}"
    return {"outcome": outcome, "seconds": time.perf_counter() - start, "base_mb": base}


def run_ora(args) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"building the files ({args.pad_gb:g} GB of padding, compressed)...", file=sys.stderr)
        cases = build_ora_cases(tmp, args.pad_gb)
        header = ["case", "file"]
        for label, _ in _trees(args):
            header += [f"{label}: peak RSS", f"{label}: s", f"{label}: outcome"]
        rows = [header]
        for name, path in cases:
            row = [name, f"{path.stat().st_size / 2**20:.1f} MB"]
            for _, tree in _trees(args):
                result, peak = measured([sys.executable, __file__, "--child", "ora", str(path)], tree, tmp)
                row += [f"{peak:.0f} MB", f"{result.get('seconds', float('nan')):.1f}",
                        result.get("outcome") or result.get("error", "?")]
            rows.append(row)
        table(rows)
    return 0


# -- colour adaptation through the CLI -----------------------------------------------------------------
def _random_model(home: Path) -> str:
    sys.path.insert(0, str(ROOT))
    os.environ["INPAINT_STUDIO_HOME"] = str(home)
    import torch

    from inpaint_studio.engine.registry import save_generator
    from inpaint_studio.network import PENNetGenerator

    torch.manual_seed(0)
    return save_generator(PENNetGenerator(), MODEL_NAME, {"licence": "random weights (benchmark)"},
                          directory=home / "models").id


def run_adapt(args) -> int:
    import numpy as np
    from PIL import Image

    width, height = (int(v) for v in args.size.split("x"))
    hw, hh = (int(v) for v in args.hole.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = _random_model(tmp)
        print(f"writing a {width}x{height} photo...", file=sys.stderr)
        Image.Image.MAX_IMAGE_PIXELS = None
        Image.open(PHOTOS / "astronaut.jpg").convert("RGB").resize((width, height)).save(tmp / "photo.jpg", quality=90)
        mask = np.zeros((height, width), np.uint8)
        y0, x0 = (height - hh) // 2, (width - hw) // 2
        mask[y0:y0 + hh, x0:x0 + hw] = 255
        Image.fromarray(mask).save(tmp / "mask.png")
        rows = [["colour adaptation"] + [f"{label}: peak RSS" for label, _ in _trees(args)]
                + [f"{label}: s" for label, _ in _trees(args)]]
        for adapt in (False, True):
            peaks, secs = [], []
            for label, tree in _trees(args):
                out = tmp / f"out-{label}-{adapt}.jpg"
                argv = [sys.executable, __file__, "--child", "adapt", str(tmp / "photo.jpg"), str(tmp / "mask.png"),
                        str(out), model, "1" if adapt else "0"]
                result, peak = measured(argv, tree, tmp)
                peaks.append(f"{peak / 1024:.2f} GB" if "error" not in result else f"failed: {result['error']}")
                secs.append(f"{result.get('seconds', float('nan')):.0f}")
            rows.append(["on" if adapt else "off (--no-colour-adaptation)"] + peaks + secs)
        print(f"{width}x{height} photo, {hw}x{hh} hole, --strategy resize, PEN-Net (random weights), CPU")
        table(rows)
    return 0


def child_adapt(image: str, mask: str, out: str, model: str, adapt: str) -> dict:
    from inpaint_studio.cli import main

    argv = ["inpaint", "--image", image, "--mask", mask, "--output", out, "--model", model,
            "--strategy", "resize", "--device", "cpu"]
    if adapt == "0":
        argv.append("--no-colour-adaptation")
    start = time.perf_counter()
    code = main(argv)
    if code:
        return {"error": f"exit status {code}"}
    return {"seconds": time.perf_counter() - start}


# -- the engine over many varied requests ----------------------------------------------------------------
def child_engine(calls: int, every: int, model: str, variant: str) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    if variant == "uncapped":   # what the engine did before: oneDNN's defaults, no trimming
        os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = os.environ["LRU_CACHE_CAPACITY"] = "1024"
    from inpaint_studio.engine import pennet
    from inpaint_studio.engine.base import InpaintOptions
    from inpaint_studio.engine.registry import ModelRegistry
    from inpaint_studio.network import PENNetGenerator

    if variant == "uncapped" and hasattr(pennet, "release_host_memory"):
        pennet.release_host_memory = lambda: None
    registry = ModelRegistry()
    if model.startswith("cnum="):  # a small random generator stands in: the same layers, fewer channels
        cnum = int(model[5:])
        torch.manual_seed(0)
        pennet.load_generator = lambda _info, device="cpu", dtype=torch.float32: (
            PENNetGenerator(cnum=cnum).eval().requires_grad_(False).to(device, memory_format=torch.channels_last))
        model = registry.default_id()
    info = registry.get(model)
    engine = pennet.PENNetEngine(info, device="cpu")
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(PHOTOS.glob("*.jpg"))]
    rng = np.random.default_rng(1234)
    samples, start = [[0, _rss_mb()]], time.perf_counter()
    for i in range(calls):
        photo = photos[i % len(photos)]
        h, w = (int(rng.integers(64, min(385, side + 1))) for side in photo.shape[:2])
        top, left = int(rng.integers(0, photo.shape[0] - h + 1)), int(rng.integers(0, photo.shape[1] - w + 1))
        image = np.ascontiguousarray(photo[top:top + h, left:left + w])
        mask = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            bh, bw = int(rng.integers(4, max(5, h // 3))), int(rng.integers(4, max(5, w // 3)))
            y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
            mask[y:y + bh, x:x + bw] = 255
        kind = i % 4   # the image at its size (any multiple of 64), scaled, or crops around the holes
        options = InpaintOptions(strategy=("original", "original", "resize", "crop")[kind],
                                 resize_limit=int(rng.integers(1, 7)) * 64)
        engine.inpaint(image, mask, options)
        if (i + 1) % every == 0:
            samples.append([i + 1, _rss_mb()])
            print(f"{variant}: {i + 1} calls, {_rss_mb():.0f} MB", file=sys.stderr, flush=True)
    return {"samples": samples, "seconds": time.perf_counter() - start}


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_engine(args) -> int:
    every = max(1, args.calls // 10)
    with tempfile.TemporaryDirectory() as tmp:
        home = None
        if args.model is None:  # a stand-in registered in a temporary home
            home = Path(tmp)
            _random_model(home)
        model = args.model or f"cnum={args.cnum}"
        columns = [("after", ROOT, "shipped")]
        columns.insert(0, ("before", Path(args.before).resolve(), "shipped") if args.before
                       else ("oneDNN defaults, no trim", ROOT, "uncapped"))
        results = []
        for label, tree, variant in columns:
            argv = [sys.executable, __file__, "--child", "engine", str(args.calls), str(every), model, variant]
            result, peak = measured(argv, tree, home)
            if "error" in result:
                print(f"{label}: {result['error']}", file=sys.stderr)
                return 1
            results.append((label, result, peak))
        what = f"model {args.model}" if args.model else f"random-weight generator, cnum {args.cnum}"
        print(f"PEN-Net engine on CPU ({what}): RSS after N requests with varied holes")
        rows = [["requests"] + [f"{label}: RSS" for label, _, _ in results]]
        for k in range(len(results[0][1]["samples"])):
            rows.append([str(results[0][1]["samples"][k][0])] +
                        [f"{r['samples'][k][1]:.0f} MB" for _, r, _ in results])
        rows.append(["peak RSS"] + [f"{peak:.0f} MB" for _, _, peak in results])
        rows.append(["growth, 2nd half"] + [f"{r['samples'][-1][1] - r['samples'][len(r['samples']) // 2][1]:+.0f} MB"
                                            for _, r, _ in results])
        rows.append(["seconds"] + [f"{r['seconds']:.0f}" for _, r, _ in results])
        table(rows)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        kind, rest = argv[1], argv[2:]
        sys.path.insert(0, os.environ.get("PYTHONPATH", str(ROOT)).split(os.pathsep)[0])
        if kind == "ora":
            result = child_ora(*rest)
        elif kind == "adapt":
            result = child_adapt(*rest)
        else:
            calls, every, model, variant = rest
            result = child_engine(int(calls), int(every), model, variant)
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=["ora", "adapt", "engine"])
    parser.add_argument("--before", help="another checkout to run the same case with, side by side")
    parser.add_argument("--pad-gb", type=float, default=3.0, help="ora: padding in each zip bomb (default 3)")
    parser.add_argument("--size", default="12000x9000", help="adapt: photo size (default 12000x9000)")
    parser.add_argument("--hole", default="6000x5000", help="adapt: hole size (default 6000x5000)")
    parser.add_argument("--calls", type=int, default=1000, help="engine: requests (default 1000)")
    parser.add_argument("--model", help="engine: an installed model id (default: a random-weight stand-in)")
    parser.add_argument("--cnum", type=int, default=8, help="engine: base channels of the stand-in (default 8)")
    args = parser.parse_args(argv)
    return {"ora": run_ora, "adapt": run_adapt, "engine": run_engine}[args.case](args)


if __name__ == "__main__":
    raise SystemExit(main())
