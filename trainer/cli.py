"""python -m trainer (inpaint-studio-trainer): fit, export, pack, bundle, promote, evaluate, auto-rule,
figure, bench, corpus, window-carry, window-pack, window-return, learn-photo, learn-photo-eval,
finetune-eval.

Exit status: 0 done (or stopped on request), 1 the run failed while training, 2 bad input
(folder, options, model id) reported before anything started. `fit` reports every outcome as
an event too (trainer/EVENTS.md); the other commands print one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    from inpaint_studio.contracts import devices
    from inpaint_studio.contracts.card import ARCHITECTURES
    from inpaint_studio.contracts.commands import program_name
    from inpaint_studio.contracts.training import (BASE_BATCH, BATCH_SIZE, CPU_WORKERS, DEFAULT, EVAL_MASK_KINDS,
                                                   FINETUNE, FINETUNE_BATCH_SIZE, MASK_KINDS, SCHEDULES, SCRATCH,
                                                   SMALL_IMAGES, SPARE_CORES, TRAINABLE, LossWeights, loss_weights)
    from inpaint_studio.network import AFFINITIES, ATTENTION_MODES
    from inpaint_studio.network.attention import COMPUTES, KERNELS

    from .evaluate import HALVES
    from .release import corpus

    parser = argparse.ArgumentParser(prog=program_name("inpaint-studio-trainer", "trainer"),
                                     description="Train, fine-tune, export and evaluate inpainting models "
                                                 "(PEN-Net, DeepFill v1).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train_devices = devices.DEVICES[devices.TRAINING]

    fit = sub.add_parser("fit", help="train (or fine-tune with --base) on a folder of photos",
                         description="Train a model (--arch) on a folder of photos. Options left out take the "
                                     "paper's defaults, the fine-tuning defaults with --base, or the "
                                     "saved run's values with --resume.")
    fit.add_argument("--data", help="folder of training photos (searched recursively)")
    fit.add_argument("--val", help=f"folder of validation photos (default: hold out "
                                   f"{DEFAULT.val_fraction * 100:g}%% of --data)")
    fit.add_argument("--out", help="run folder for checkpoints, samples and run.json "
                                   "(default: a new folder in the user's runs directory)")
    fit.add_argument("--base", help=f"registry model id to fine-tune, or 'default' for the app's default model "
                                    f"(then by default: {finetune_recipe()})")
    fit.add_argument("--warm-start", metavar="MODEL", help="registry model id, or 'default', to continue training: "
                     "its generator and discriminator (a fresh one if it ships none), the from-scratch "
                     "defaults, a fresh optimiser; its network, width and crop size")
    fit.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    fit.add_argument("--arch", choices=ARCHITECTURES,
                     help=f"network of a new model: {', '.join(f'{k} ({v})' for k, v in ARCHITECTURES.items())}; "
                          f"default {DEFAULT.arch}, or the base model's with --base")
    fit.add_argument("--cnum", type=int, help=f"base channel width of a new model (default {DEFAULT.cnum})")
    fit.add_argument("--size", type=int, help=f"training crop side, a multiple of 64 (default {DEFAULT.size}; "
                                              f"{FINETUNE['size']} with --base)")
    fit.add_argument("--iterations", type=int, help=f"total iterations (default {SCRATCH['iterations']}; "
                                                    f"{FINETUNE['iterations']} with --base)")
    fit.add_argument("--batch-size", type=int,
                     help=f"per process (default: on CUDA {BATCH_SIZE['cuda']} at {DEFAULT.size} px, the same pixels "
                          f"at other sizes, less if the GPU's memory is short; {BATCH_SIZE['cpu']} on CPU, "
                          f"{FINETUNE_BATCH_SIZE['cpu']} with --base)")
    fit.add_argument("--lr", type=float,
                     help=f"generator learning rate, used as given (default {_num(SCRATCH['lr'])}; "
                          f"{_num(FINETUNE['lr'])} with --base; at a total batch of {BASE_BATCH}: larger "
                          f"batches take it x sqrt(batch / {BASE_BATCH}) after a linear warm-up)")
    fit.add_argument("--d-lr", type=float, help="discriminator learning rate (default: --lr)")
    fit.add_argument("--masks", choices=MASK_KINDS, help=f"training masks (default {DEFAULT.masks})")
    fit.add_argument("--attention", choices=ATTENTION_MODES, help=f"ATN mode the model learns with (default {DEFAULT.attention}; "
                                                                       f"a model runs in the mode it was trained in)")
    fit.add_argument("--attention-kernel", choices=KERNELS,
                     help=f"how the ATN computes (speed only; default {DEFAULT.attention_kernel}: the choice for the "
                          f"device, see README)")
    fit.add_argument("--attention-compute", choices=COMPUTES,
                     help=f"holes mode: packed hole x known, or dense (speed only; default {DEFAULT.attention_compute})")
    fit.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                     help="torch.compile the training step (default: on CUDA, off on CPU)")
    fit.add_argument("--affinity", choices=AFFINITIES, help=f"ATN affinity for a new model (default {DEFAULT.affinity})")
    fit.add_argument("--device", choices=train_devices, help="default auto: CUDA when present")
    fit.add_argument("--precision", choices=devices.PRECISIONS, help=f"default {devices.AUTO_PRECISION_HELP[devices.TRAINING]}")
    fit.add_argument("--checkpoint-every", type=int, metavar="K",
                     help=f"iterations between checkpoints (default {DEFAULT.checkpoint_every})")
    fit.add_argument("--keep-checkpoints", type=int, metavar="N", help=f"checkpoints kept (default {DEFAULT.keep_checkpoints})")
    fit.add_argument("--val-every", type=int, metavar="V", help=f"iterations between validations (default "
                                                                f"{SCRATCH['val_every']}; {FINETUNE['val_every']} with --base)")
    fit.add_argument("--val-images", type=int, help=f"validation images used (default {DEFAULT.val_images})")
    fit.add_argument("--log-every", type=int, help=f"iterations between progress events (default {DEFAULT.log_every})")
    fit.add_argument("--seed", type=int, help=f"data, mask and split seed (default {DEFAULT.seed})")
    fit.add_argument("--workers", type=int, help=f"data loading processes (default: on CUDA all CPU cores but "
                                                 f"{SPARE_CORES}, {CPU_WORKERS} on CPU)")
    fit.add_argument("--small", choices=SMALL_IMAGES, help=f"images smaller than --size (default {DEFAULT.small})")
    per_arch = {arch: loss_weights(arch).to_dict() for arch in ARCHITECTURES}
    for term in (*LossWeights.TERMS, "discount"):
        flag = "--hole-discount" if term == "discount" else f"--{term}-weight"
        what = "gamma of the spatially discounted hole L1 (1: none)" if term == "discount" else "loss weight"
        defaults = ", ".join(f"{w[term]:g} for {arch}" for arch, w in per_arch.items())
        fit.add_argument(flag, type=float, dest=f"{term}_weight", metavar="GAMMA" if term == "discount" else None,
                         help=f"{what} (default {defaults}" + _tuned(term) + ")")
    fit.add_argument("--max-minutes", type=float, metavar="M",
                     help="time budget: stop at M minutes (counted from the first step) with a checkpoint and "
                          "the export, the learning-rate schedule aimed at the deadline")
    fit.add_argument("--schedule", choices=SCHEDULES, help=f"learning rate after the warm-up: constant, or cosine "
                                                           f"decay to the end (default {DEFAULT.schedule}; "
                                                           f"{FINETUNE['schedule']} with --base)")
    fit.add_argument("--warmup", type=float, metavar="SHARE", help=f"share of the run with a linear warm-up "
                                                                   f"(default {DEFAULT.warmup:g}; "
                                                                   f"{FINETUNE['warmup']:g} with --base)")
    fit.add_argument("--trainable", choices=TRAINABLE, help=f"parts that train: all, or decoder (encoder frozen) "
                                                            f"(default {DEFAULT.trainable}; "
                                                            f"{FINETUNE['trainable']} with --base)")
    fit.add_argument("--crop-scale", type=float, metavar="SHARE",
                     help=f"smallest training crop side as a share of each photo's short side (crops are "
                          f"log-uniform between it and the whole short side; 0: down to the crop size) "
                          f"(default {DEFAULT.crop_scale:g}; {FINETUNE.get('crop_scale', DEFAULT.crop_scale):g} with --base)")
    fit.add_argument("--export-name", help="export the model under this name when the run completes")
    fit.add_argument("--events", metavar="FILE", help="append JSON-lines events here instead of stdout")
    fit.set_defaults(func=cmd_fit)

    export = sub.add_parser("export", help="put a run's generator into the model registry")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--name", required=True, help="model name shown in the app")
    export.add_argument("--checkpoint", help="a specific checkpoint file (default: the newest)")
    export.set_defaults(func=cmd_export)

    evaluate = sub.add_parser("evaluate", help="L1 / PSNR / SSIM of models against Telea, NS, PatchMatch and Auto")
    evaluate.add_argument("--model", nargs="+", action="extend",
                          help="registry model ids, of any architecture, measured on the same images and masks "
                               "(leave out to measure the classical methods alone; Auto uses the first)")
    evaluate.add_argument("--data", required=True, help="folder of photos")
    evaluate.add_argument("--masks", choices=EVAL_MASK_KINDS, default="center",
                          help="center: the paper's centred square of half the side (default)")
    evaluate.add_argument("--size", type=int, default=256)
    evaluate.add_argument("--limit", type=int, help="at most this many images")
    evaluate.add_argument("--seed", type=int, default=0, help="mask seed")
    evaluate.add_argument("--device", choices=train_devices, default="auto")
    evaluate.add_argument("--half", choices=HALVES,
                          help="only that fixed half of the photos (by file-name hash): Auto's rule is fitted "
                               "on 'tune', so 'report' is the held-out figure for it")
    evaluate.add_argument("--no-auto", dest="auto", action="store_false", help="leave out the Auto row")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(func=cmd_evaluate)

    bench = sub.add_parser("bench", help="training samples/s per batch, attention variant and compile on/off",
                           description="Training throughput of the full step (D + G update) as a table, with "
                                       "peak memory. Without options: a short CPU table, and on CUDA batches "
                                       "8-128 for four attention variants plus compiled runs (~8 min).")
    bench.add_argument("--size", type=int, default=256)
    bench.add_argument("--batches", type=int, nargs="+", help="batch sizes (default: per device, see above)")
    bench.add_argument("--variants", nargs="+", metavar="MODE[:COMPUTE[:KERNEL]]",
                       help="attention variants, e.g. holes holes:dense reference:auto:sdpa (default: per device)")
    bench.add_argument("--compile", choices=["on", "off", "both"],
                       help="torch.compile the step (default: both on CUDA, off on CPU)")
    bench.add_argument("--steps", type=int, default=5, help="timed steps per cell (median)")
    bench.add_argument("--warmup", type=int, default=2)
    bench.add_argument("--device", choices=["all", "cpu", "cuda"], default="all",
                       help="all: CPU, and CUDA when present")
    bench.add_argument("--precision", choices=devices.PRECISIONS, default="auto")
    bench.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    bench.add_argument("--profile", metavar="FILE",
                       help="also profile two steps of fit's default configuration into FILE (torch.profiler table)")
    bench.add_argument("--memory", action="store_true",
                       help="print the activation memory per sample (counted) instead of timing")
    bench.set_defaults(func=cmd_bench)

    pack = sub.add_parser("pack", help="a compact, resumable copy of a run (to commit or move it)",
                          description="Copy run.json and the newest checkpoint of RUN_DIR to --out, "
                                      "with the optimiser moments in bfloat16 (about 2/3 of the size). "
                                      "Continue it with: fit --resume --out DIR [--data ... --val ...].")
    pack.add_argument("run_dir", metavar="RUN_DIR")
    pack.add_argument("--out", required=True, help="folder for the packed run")
    pack.add_argument("--checkpoint", help="a specific checkpoint file (default: the newest)")
    pack.set_defaults(func=cmd_pack)

    corpus.register(sub)
    from .learn_photo import cli as learn_cli
    from .release import auto_rule, bundle, figure, promote, window

    auto_rule.register(sub)
    bundle.register(sub)
    figure.register(sub)
    promote.register(sub)
    window.register(sub)

    learn_cli.register(sub)
    from . import finetune_eval

    finetune_eval.register(sub)
    return parser


def _tuned(term: str) -> str:
    """'; 0 with --base' when the fine-tuning recipe sets a loss term."""
    from inpaint_studio.contracts.training import FINETUNE

    value = FINETUNE.get("weights", {}).get(term)
    return f"; {value:g} with --base" if value is not None else ""


def finetune_recipe() -> str:
    """The fine-tuning defaults in words, from the contract."""
    from inpaint_studio.contracts.training import FINETUNE

    parts = [f"{k.replace('_', '-')} {_num(v) if isinstance(v, float) else v}"
             for k, v in FINETUNE.items() if k != "weights"]
    parts += [f"{k} weight {_num(v)}" for k, v in FINETUNE.get("weights", {}).items()]
    return ", ".join(parts)


def _num(value: float) -> str:
    """1e-4, not 0.0001 or 1e-04."""
    return f"{value:g}".replace("e-0", "e-")


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns its exit status. `fit` and `learn-photo` report their errors as events
    too; every user-level failure (a bad folder, file, model or checkpoint, a failed download)
    ends in one line and exit status 2."""
    from inpaint_studio.contracts.commands import run_command
    from inpaint_studio.engine.registry import RegistryError

    from .fit.checkpoint import CheckpointError
    from .release.corpus import CorpusError

    return run_command(build_parser(), argv, (CorpusError, RegistryError, CheckpointError, ValueError, OSError))


# -- commands -------------------------------------------------------------------------------------
def cmd_fit(args) -> int:
    from .fit.checkpoint import CheckpointError
    from .events import run_with_events
    from .fit.loop import fit

    # bad input (a DataError is a ValueError) is reported before anything has started
    return run_with_events(args.events, lambda events: fit(_fit_options(args), args.resume, events),
                           (ValueError, CheckpointError, OSError),
                           enabled=int(os.environ.get("RANK", "0")) == 0)


def _fit_options(args) -> dict:
    """The options given explicitly (None = left out)."""
    from inpaint_studio.contracts.training import LossWeights
    from inpaint_studio.paths import runs_dir

    keys = ("data", "val", "out", "base", "arch", "cnum", "size", "iterations", "batch_size", "lr", "d_lr", "masks", "attention",
            "affinity", "device", "precision", "checkpoint_every", "keep_checkpoints", "val_every",
            "val_images", "log_every", "seed", "workers", "small", "export_name", "compile",
            "attention_kernel", "attention_compute", "max_minutes", "schedule", "warmup", "trainable", "crop_scale")
    given = {k: getattr(args, k) for k in keys}
    given["warm_start"] = args.warm_start
    given["weights"] = {t: getattr(args, f"{t}_weight") for t in LossWeights().to_dict()
                        if getattr(args, f"{t}_weight") is not None}
    if given["out"] is None and not args.resume:
        from datetime import datetime

        given["out"] = str(runs_dir() / datetime.now().strftime("run-%Y%m%d-%H%M%S"))
    for key in ("data", "val", "out"):
        if given[key]:
            given[key] = os.path.abspath(os.path.expanduser(given[key]))
    return given


def cmd_export(args) -> int:
    from .fit.export import export_run

    info = export_run(args.run_dir, args.name, args.checkpoint)
    print(json.dumps({"model_id": info.id, "name": info.name, "weights": str(info.weights_path),
                      "card": str(info.card_path)}))
    return 0


def cmd_pack(args) -> int:
    from .release.pack import pack_run

    path = pack_run(args.run_dir, args.out, args.checkpoint)
    print(json.dumps({"checkpoint": str(path), "size_bytes": path.stat().st_size}))
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate, format_table

    report = evaluate(args.model, args.data, args.masks, args.size, args.limit, args.device, args.seed,
                      half=args.half, auto=args.auto)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


def cmd_bench(args) -> int:
    import torch

    from . import bench

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory:
        bench.memory_table(args.size, (args.batches or [4])[0])
        return 0
    devices = None if args.device == "all" else [args.device]
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: no CUDA GPU is available", file=sys.stderr)
        return 2
    compile_choice = {"on": ("on",), "off": ("off",), "both": ("off", "on"), None: None}[args.compile]
    bench.run(args.size, args.batches, devices, args.steps, args.warmup, args.precision, args.variants,
              compile_choice, args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
