"""The `learn-photo` and `learn-photo-eval` subcommands of python -m trainer.

learn-photo       exit status 0 done (completed, or stopped on request: nothing saved), 1 failed
                  while adapting, 2 bad input (model, image, mask, options); every outcome is also
                  an event.
learn-photo-eval  prints a table (or JSON); 2 on bad input.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from inpaint_studio.contracts.devices import DEVICES, TRAINING
from inpaint_studio.contracts.training import EVAL_MASK_KINDS, LEARN_PHOTO_STEPS


def register(sub) -> None:
    from .learn import LearnPhotoConfig

    default = LearnPhotoConfig()
    p = sub.add_parser("learn-photo", help="learn from this photo: adapt a model to one photo",
                       description="Fine-tune a registry model briefly on crops of one photo with synthetic "
                                   "holes, never reading the pixels under its mask, and save the result "
                                   "as a model in --out-dir.")
    p.add_argument("--model", required=True, help="registry model id to start from")
    p.add_argument("--image", required=True, help="the photo")
    p.add_argument("--mask", required=True, help="its hole mask (painted = hole, as for inpaint); never learnt from")
    p.add_argument("--steps", type=int, default=default.steps, help=f"fine-tuning steps (default {default.steps})")
    p.add_argument("--out-name", required=True, help="name of the adapted model")
    p.add_argument("--out-dir", help="folder for the adapted model (default: 'adapted' in the user data "
                                     "folder; the app passes a session folder)")
    p.add_argument("--events", metavar="FILE", help="append JSON-lines events here instead of stdout")
    p.add_argument("--device", choices=DEVICES[TRAINING], default="auto")
    p.add_argument("--size", type=int, help="training crop side, a multiple of 64 (default: half the "
                                            "short side, 64 to 256)")
    p.add_argument("--batch-size", type=int, default=default.batch_size)
    p.add_argument("--lr", type=float, default=default.lr)
    p.add_argument("--seed", type=int, default=default.seed)
    p.set_defaults(func=cmd_learn_photo)

    e = sub.add_parser("learn-photo-eval", help="hole PSNR/SSIM with and without learning from the photo",
                       description="On held-out photos (centre crops, fixed masks): fill with the model, "
                                   "then adapt a copy to each photo and fill again after each --steps count.")
    e.add_argument("--model", required=True, help="registry model id")
    e.add_argument("--data", required=True, help="folder of held-out photos")
    e.add_argument("--steps", type=int, nargs="+", default=sorted(LEARN_PHOTO_STEPS.values()))
    e.add_argument("--limit", type=int, default=8, help="at most this many photos (default 8)")
    e.add_argument("--size", type=int, default=256, help="centre crop side (default 256: 128x128 centre holes)")
    e.add_argument("--masks", nargs="+", choices=EVAL_MASK_KINDS,
                   default=["center", "free"])
    e.add_argument("--crop", type=int, help="adaptation crop side (default: half the photo side)")
    e.add_argument("--lr", type=float, default=default.lr)
    e.add_argument("--device", choices=DEVICES[TRAINING], default="cpu")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.set_defaults(func=cmd_learn_photo_eval)


def cmd_learn_photo(args) -> int:
    from ..events import run_with_events

    # bad input (unreadable image or mask, unknown model, ...: all ValueErrors) is exit 2
    return run_with_events(args.events, lambda events: _learn(args, events), (ValueError,))


def _learn(args, events) -> int:
    import torch

    from inpaint_studio import imaging
    from inpaint_studio.paths import user_data_root

    from .learn import LearnPhotoConfig, learn_photo

    if args.steps < 1:
        raise ValueError("--steps must be at least 1")
    image = imaging.read_image(args.image).rgb
    hole = imaging.read_mask(args.mask) != 0
    if hole.shape != image.shape[:2]:
        raise ValueError(f"the mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
                         f"{image.shape[1]}x{image.shape[0]}")
    out_dir = Path(args.out_dir) if args.out_dir else user_data_root() / "adapted"
    config = LearnPhotoConfig(steps=args.steps, size=args.size, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, device=args.device)
    try:
        return learn_photo(args.model, image, hole, args.out_name, out_dir, config, events,
                           image_name=Path(args.image).name)
    except torch.OutOfMemoryError as exc:
        events.emit("error", message=f"out of GPU memory while adapting ({exc}); use --device cpu")
        return 1


def cmd_learn_photo_eval(args) -> int:
    from .learn import LearnPhotoConfig
    from .evaluate import evaluate_learn_photo, format_table

    report = evaluate_learn_photo(args.model, args.data, args.steps, args.limit, args.size, tuple(args.masks),
                        args.device, args.seed, LearnPhotoConfig(size=args.crop, lr=args.lr),
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0
