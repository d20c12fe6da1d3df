"""The `adapt` and `adapt-eval` subcommands of python -m trainer.

adapt       exit status 0 done (completed, or stopped on request: nothing saved), 1 failed while
            adapting, 2 bad input (model, image, mask, options); every outcome is also an event.
adapt-eval  prints a table (or JSON); 2 on bad input.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("adapt", help="adapt a model to one photo (learn from this photo)",
                       description="Fine-tune a registry model briefly on crops of one photo with synthetic "
                                   "holes, never reading the pixels under its mask, and save the result "
                                   "as a model in --out-dir.")
    p.add_argument("--model", required=True, help="registry model id to start from")
    p.add_argument("--image", required=True, help="the photo")
    p.add_argument("--mask", required=True, help="its hole mask (painted = hole, as for inpaint); never learnt from")
    p.add_argument("--steps", type=int, default=100, help="fine-tuning steps (default 100)")
    p.add_argument("--out-name", required=True, help="name of the adapted model")
    p.add_argument("--out-dir", help="folder for the adapted model (default: 'adapted' in the user data "
                                     "folder; the app passes a session folder)")
    p.add_argument("--events", metavar="FILE", help="append JSON-lines events here instead of stdout")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--size", type=int, help="training crop side, a multiple of 64 (default: half the "
                                            "short side, 64 to 256)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_adapt)

    e = sub.add_parser("adapt-eval", help="hole PSNR/SSIM with and without learning from the photo",
                       description="On held-out photos (centre crops, fixed masks): fill with the model, "
                                   "then adapt a copy to each photo and fill again after each --steps count.")
    e.add_argument("--model", required=True, help="registry model id")
    e.add_argument("--data", required=True, help="folder of held-out photos")
    e.add_argument("--steps", type=int, nargs="+", default=[100, 300])
    e.add_argument("--limit", type=int, default=8, help="at most this many photos (default 8)")
    e.add_argument("--size", type=int, default=256, help="centre crop side (default 256: 128x128 centre holes)")
    e.add_argument("--masks", nargs="+", choices=["center", "free", "square", "blob", "mixed"],
                   default=["center", "free"])
    e.add_argument("--crop", type=int, help="adaptation crop side (default: half the photo side)")
    e.add_argument("--lr", type=float, default=5e-5)
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.set_defaults(func=cmd_adapt_eval)


def cmd_adapt(args) -> int:
    from .events import run_with_events

    # bad input (unreadable image or mask, unknown model, ...: all ValueErrors) is exit 2
    return run_with_events(args.events, lambda events: _adapt(args, events), (ValueError,))


def _adapt(args, events) -> int:
    import torch

    from inpaint_studio import imaging
    from inpaint_studio.paths import user_data_root

    from .adapt import AdaptConfig, adapt_model

    if args.steps < 1:
        raise ValueError("--steps must be at least 1")
    image = imaging.read_image(args.image).rgb
    hole = imaging.read_mask(args.mask) != 0
    if hole.shape != image.shape[:2]:
        raise ValueError(f"the mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
                         f"{image.shape[1]}x{image.shape[0]}")
    out_dir = Path(args.out_dir) if args.out_dir else user_data_root() / "adapted"
    config = AdaptConfig(steps=args.steps, size=args.size, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, device=args.device)
    try:
        return adapt_model(args.model, image, hole, args.out_name, out_dir, config, events,
                           image_name=Path(args.image).name)
    except torch.OutOfMemoryError as exc:
        events.emit("error", message=f"out of GPU memory while adapting ({exc}); use --device cpu")
        return 1


def cmd_adapt_eval(args) -> int:
    from .adapt import AdaptConfig
    from .adapt_eval import adapt_eval, format_table

    report = adapt_eval(args.model, args.data, args.steps, args.limit, args.size, tuple(args.masks),
                        args.device, args.seed, AdaptConfig(size=args.crop, lr=args.lr),
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0
