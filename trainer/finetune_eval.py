"""`python -m trainer finetune-eval --base MODEL DOMAIN [DOMAIN ...]`: does fine-tuning pay off, and
how fast? Each DOMAIN is a folder of photos of one kind (a wallpaper collection, a school's
pictures). It is split by a fixed seed into a fine-tune part and a held-out part; one `fit` run
fine-tunes the base model on the first part under a time budget (the longest of --minutes), keeping
a checkpoint as each shorter budget passes, and every checkpoint, the base model and the classical
engines fill the same holes in centre crops of the held-out part (trainer/evaluate.py measures).

On a machine shared with other work a wall-clock minute buys a varying share of the CPU; with
`--clock cpu` the budgets count this process's CPU time divided by its threads instead: the wall
time the same run takes on an otherwise idle machine (with its threads kept busy), so that runs
measured under different loads compare.

One run per domain measures every budget, so a shorter budget's point comes from a run whose
learning rate was aimed at the longest: it is a lower bound of what a run aimed at that budget
gets (its schedule had not decayed yet). The iterations each point reached are printed: they are
what the machine's load allowed, and they differ between runs of the same budget.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from inpaint_studio.contracts.training import EVAL_MASK_KINDS

from .evaluate import CLASSICAL, LABELS, _measure, composites, evaluate, generator_outputs, load_named_crops
from .events import EventWriter
from .fit.checkpoint import checkpoint_path, load_checkpoint
from .fit.data import holdout, scan_folder
from .fit.masks import named_masks

MINUTES = (2, 5, 10, 20)
HELD_OUT = 0.25          # share of each domain never trained on
MAX_ITERATIONS = 10 ** 9  # the budget ends the run, not an iteration count


def idle_seconds() -> float:
    """This process's CPU seconds over its torch threads: its wall time on an idle machine."""
    import torch

    return time.process_time() / max(1, torch.get_num_threads())


CLOCKS = {"wall": time.monotonic, "cpu": idle_seconds}


def split_domain(folder: str | Path, work: Path, held_out: float = HELD_OUT, seed: int = 0) -> tuple[Path, Path, int, int]:
    """Links to a domain's photos in work/train and work/held-out (fixed by seed); the counts."""
    scan = scan_folder(folder, 64)
    train, held = holdout(scan.entries, held_out, seed)
    if not held or len(train) < 1 or held[0] in train:
        raise ValueError(f"{folder}: needs at least two usable photos (one to fine-tune on, one held out)")
    parts = []
    for name, entries in (("train", train), ("held-out", held)):
        target = work / name
        target.mkdir(parents=True, exist_ok=True)
        for i, entry in enumerate(entries):
            link = target / f"{i:04d}-{Path(entry.path).name}"
            if not link.exists():
                os.symlink(os.path.abspath(entry.path), link)
        parts.append(target)
    return parts[0], parts[1], len(train), len(held)


def finetune_eval(base: str, domains: list[str], minutes=MINUTES, recipe: dict | None = None,
                  held_out: float = HELD_OUT, limit: int | None = 12, size: int = 256, masks=("center", "free"),
                  seed: int = 0, work: str | Path | None = None, classical=CLASSICAL, device: str = "auto",
                  clock: str = "wall", log=print) -> dict:
    """{"base", "minutes", "recipe", "domains": [{"name", "train", "held_out", "marks": [[min, it]],
    "rows": [{"masks", "method", "minutes", "iterations", "hole_psnr", "hole_ssim", ...}]}]}"""
    from inpaint_studio.engine.device import TRAINING, resolve_device

    from .fit.loop import Trainer, prepare_config

    minutes = sorted({float(m) for m in minutes})
    if not minutes or minutes[0] <= 0:
        raise ValueError("--minutes needs positive budgets")
    for kind in masks:
        if kind not in EVAL_MASK_KINDS:
            raise ValueError(f"--masks: {kind!r} is not one of {', '.join(EVAL_MASK_KINDS)}")
    dev = resolve_device(device, TRAINING)
    root = Path(work) if work else Path(tempfile.mkdtemp(prefix="finetune-eval-"))
    report = {"clock": clock, "base": base, "minutes": minutes, "recipe": dict(recipe or {}), "size": size, "limit": limit,
              "held_out": held_out, "seed": seed, "work": str(root), "domains": []}
    for folder in domains:
        name = _slug(Path(folder).name)
        work_dir = root / name
        train_dir, held_dir, n_train, n_held = split_domain(folder, work_dir, held_out, seed)
        log(f"[finetune-eval] {name}: {n_train} photos to fine-tune on, {n_held} held out")
        domain = {"name": name, "path": str(folder), "train": n_train, "held_out": n_held, "rows": []}
        t0 = time.monotonic()
        names, crops = load_named_crops(held_dir, size, limit)
        domain["measured"] = len(crops)
        holes = {kind: named_masks(kind, names, size, seed=seed) for kind in masks}
        for kind in masks:  # the base model and the classical engines, through evaluate itself
            for row in evaluate(base, held_dir, kind, size, limit, device, seed, classical, auto=False)["rows"]:
                if row.get("colour_adaptation") is False:
                    continue
                method = "base" if row["method"].startswith("model") else row["method"]
                domain["rows"].append({"masks": kind, **row, "method": method, "minutes": 0, "iterations": 0})
        log(f"[finetune-eval] {name}: the base model and the classical engines measured on {len(crops)} photos "
            f"in {time.monotonic() - t0:.0f} s")
        given = {**(recipe or {}), "base": base, "data": str(train_dir), "val": str(held_dir),
                 "out": str(work_dir / "run"), "max_minutes": minutes[-1], "device": device,
                 "iterations": MAX_ITERATIONS, "checkpoint_every": MAX_ITERATIONS, "val_every": MAX_ITERATIONS,
                 "val_images": 4, "keep_checkpoints": len(minutes) + 2, "seed": seed, "log_every": 50}
        config = prepare_config(given, resume=False)
        started = time.monotonic()
        events = EventWriter(work_dir / "events.jsonl")
        try:
            trainer = Trainer(config, events, marks_s=tuple(m * 60 for m in minutes), clock=CLOCKS[clock]).setup()
            status = trainer.run()
        finally:
            events.close()
        if status != 0:
            raise RuntimeError(f"{name}: the fine-tune failed; see {work_dir / 'events.jsonl'}")
        domain["wall_s"] = round(time.monotonic() - started, 1)
        domain["marks"] = [{"minutes": s / 60, "iterations": it, "cpu_s": cpu} for s, it, cpu in trainer.marks]
        domain["config"] = trainer.config_record()
        for seconds, iteration, cpu in trainer.marks:
            payload = load_checkpoint(checkpoint_path(trainer.ckpt_dir, iteration))
            generator = _generator(payload)
            for kind in masks:
                outputs, took = generator_outputs(generator.to(dev), crops, holes[kind], dev)
                row = _measure(f"fine-tuned {seconds / 60:g} min", (composites(outputs, crops, holes[kind]), took),
                               np.stack(crops), names, holes[kind])
                domain["rows"].append({"masks": kind, **row, "minutes": seconds / 60, "iterations": iteration,
                                       "cpu_s": cpu})
            log(f"[finetune-eval] {name}: {seconds / 60:g} min = {iteration} iterations measured")
        report["domains"].append(domain)
    return report


def _generator(payload: dict):
    from inpaint_studio.network.factory import make_generator

    from .fit.checkpoint import checkpoint_architecture

    arch = checkpoint_architecture(payload)
    generator = make_generator(arch["name"], attention="holes", affinity=payload["config"]["affinity"],
                               cnum=int(arch["cnum"]))
    generator.load_state_dict(payload["generator"])
    return generator.eval()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "domain"


def format_table(report: dict) -> str:
    """Gain in hole PSNR (dB) and hole SSIM over the base model, per domain, mask kind and budget."""
    minutes = report["minutes"]
    cells = [f"{m:g} min" for m in minutes]
    clock = "" if report.get("clock", "wall") == "wall" else ", minutes of CPU time over the threads"
    lines = [f"fine-tuning {report['base']} ({_recipe_text(report)}{clock}); hole PSNR dB and hole SSIM on "
             f"{report['size']} px centre crops of each domain's held-out photos; "
             "gain = fine-tuned - base, PSNR gain ± its standard error over the photos (iterations reached "
             "and this process's CPU seconds in brackets); n: held-out photos measured",
             f"{'domain':<22}{'masks':<8}{'n':>4}{'base':>14}{'best classical':>24}"
             + "".join(f"{c:>40}" for c in cells)]
    for domain in report["domains"]:
        for kind in dict.fromkeys(r["masks"] for r in domain["rows"]):
            rows = [r for r in domain["rows"] if r["masks"] == kind]
            base = next(r for r in rows if r["method"] == "base")
            classical = [r for r in rows if r["method"] in LABELS.values()]
            best = max(classical, key=lambda r: r["hole_psnr"]) if classical else None
            line = (f"{domain['name'][:21]:<22}{kind:<8}{domain.get('measured', domain['held_out']):>4}"
                    f"{base['hole_psnr']:>8.2f} {base['hole_ssim']:.3f}"
                    + (f"{best['method']:>12} {best['hole_psnr']:5.2f} {best['hole_ssim']:.3f}" if best else f"{'-':>24}"))
            for m in minutes:
                tuned = next((r for r in rows if r["method"].startswith("fine-tuned") and r["minutes"] == m), None)
                if tuned is None:
                    line += f"{'-':>40}"
                    continue
                cell = (f"{tuned['hole_psnr'] - base['hole_psnr']:+.2f}±{gain_error(tuned, base):.2f} "
                        f"{tuned['hole_ssim'] - base['hole_ssim']:+.3f} ({tuned['iterations']} it, "
                        f"{tuned.get('cpu_s', 0):.0f} cpu-s)")
                line += f"{cell:>40}"
            lines.append(line)
    return "\n".join(lines)


def gain_error(tuned: dict, base: dict) -> float:
    """Standard error of the mean hole-PSNR gain over the photos. Outside the hole a composite is
    the photo itself, so a photo's whole-image PSNR gain is its hole PSNR gain (`per_image` keeps
    the former)."""
    names = sorted(set(tuned.get("per_image") or {}) & set(base.get("per_image") or {}))
    if len(names) < 2:
        return float("nan")
    gains = np.array([tuned["per_image"][n]["psnr"] - base["per_image"][n]["psnr"] for n in names])
    return float(gains.std(ddof=1) / np.sqrt(len(gains)))


def _recipe_text(report: dict) -> str:
    recipe = report.get("recipe") or {}
    return ", ".join(f"{k} {v}" for k, v in recipe.items()) if recipe else "the --base defaults"


def register(sub) -> None:
    from inpaint_studio.contracts.training import SCHEDULES, TRAINABLE

    p = sub.add_parser("finetune-eval", help="fine-tune on photo folders (domains) under time budgets and measure "
                                             "the held-out gain against the base model and the classical engines",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("domains", nargs="+", metavar="DOMAIN", help="a folder of photos of one kind")
    p.add_argument("--base", default="default", help="registry model id to fine-tune (default: the app's default)")
    p.add_argument("--minutes", type=float, nargs="+", default=list(MINUTES),
                   help=f"budgets to measure; one run per domain, as long as the largest (default {MINUTES})")
    p.add_argument("--held-out", type=float, default=HELD_OUT, help=f"share of each domain held out (default {HELD_OUT})")
    p.add_argument("--limit", type=int, default=12, help="held-out photos measured per domain (default 12)")
    p.add_argument("--masks", nargs="+", default=["center", "free"], choices=EVAL_MASK_KINDS)
    p.add_argument("--size", type=int, default=256, help="evaluation crop side")
    p.add_argument("--seed", type=int, default=0, help="split, mask and training seed")
    p.add_argument("--work", help="folder for the splits, runs and events (default: a new temporary folder)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall: budgets in wall-clock minutes; cpu: in CPU minutes over the threads (an idle "
                        "machine's minutes, for measuring on a shared one)")
    p.add_argument("--no-classical", action="store_true", help="leave out the classical engines (faster)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    recipe = p.add_argument_group("recipe (left out: the --base defaults of fit)")
    recipe.add_argument("--lr", type=float)
    recipe.add_argument("--schedule", choices=SCHEDULES)
    recipe.add_argument("--warmup", type=float)
    recipe.add_argument("--trainable", choices=TRAINABLE)
    recipe.add_argument("--batch-size", type=int)
    recipe.add_argument("--crop", type=int, dest="size_train", help="training crop side (fit --size)")
    recipe.add_argument("--crop-scale", type=float, help="smallest crop side / short side (fit --crop-scale)")
    recipe.add_argument("--adversarial-weight", type=float)
    p.set_defaults(func=cmd_finetune_eval)


def cmd_finetune_eval(args) -> int:
    import sys

    from .fit.loop import resolve_base

    recipe = {k: v for k, v in {"lr": args.lr, "schedule": args.schedule, "warmup": args.warmup,
                                "trainable": args.trainable, "batch_size": args.batch_size,
                                "size": args.size_train, "crop_scale": args.crop_scale}.items() if v is not None}
    if args.adversarial_weight is not None:
        recipe["weights"] = {"adversarial": args.adversarial_weight}
    report = finetune_eval(resolve_base(args.base), args.domains, args.minutes, recipe, args.held_out, args.limit,
                           args.size, args.masks, args.seed, args.work, classical=() if args.no_classical else CLASSICAL,
                           device=args.device, clock=args.clock,
                           log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.json:
        path = Path(args.json)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    print(format_table(report))
    return 0
