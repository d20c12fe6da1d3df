"""`restore` subcommand: find the scratches and dust of old photos and fill them, in one go.

    python -m inpaint_studio restore --image OLD|DIR --output NEW|DIR [--sensitivity S]
        [--mask-out MASK|DIR] [--kinds scratches dust] [--model ID|auto|telea|ns|patchmatch]

The scratch finder (restoration/scratch_finder.py) proposes the defects at --sensitivity, the
engine for small holes fills them (restoration/restore.py), and each image's line says what was
changed: how many defects, how much of the image. --mask-out keeps what was filled (white), to
check it or to edit it and run `inpaint` with it. The command line's rules are inpaint's
(cli_inpaint.py, whose helpers this uses): no output may be an input, writes are atomic, a
problem is one "error: ..." line naming the file and exit status 2; in a folder run a failing
image is reported and skipped.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .cli_inpaint import (EXIT_ERROR, EXIT_OK, bounded, guarded, UsageError, _identity, _images_in, _one_line,
                          _Progress, _quality, _refuse_overwriting_inputs, _remove_leftovers, _say)
from .imaging import SUPPORTED_SUFFIXES, format_keeps_alpha, read_image, write_image, write_mask


def register(subparsers) -> argparse.ArgumentParser:
    from .restoration.restore import AUTO, SMALL_HOLE_CLASSICAL
    from .restoration.scratch_finder import KINDS, explain

    p = subparsers.add_parser(
        "restore", help="find scratches and dust in old photos and fill them",
        description="Find the scratches, cracks and dust of each photo and fill them with the engine for "
                    "small holes; report what was changed.")
    p.add_argument("--image", required=True, type=Path, help="a photo, or a folder of photos")
    p.add_argument("--output", required=True, type=Path,
                   help="the restored photo (its suffix picks the format), or a folder for a folder of photos")
    p.add_argument("--sensitivity", type=bounded(float, 0.0, 1.0), default=0.5, metavar="0-1",
                   help=f"how much to find (default 0.5: {explain(0.5)})")
    p.add_argument("--mask-out", type=Path, default=None, metavar="MASK",
                   help="also write what was filled as a mask (white = filled): a file, or a folder for a "
                        "folder of photos (one PNG per photo)")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="what to look for (default: both)")
    p.add_argument("--model", default=None,
                   help=f"the fill engine (default: {AUTO} when installed, else {SMALL_HOLE_CLASSICAL[0]}, the "
                        "best classical engine for thin holes in restore-eval)")
    p.add_argument("--quality", type=_quality, default=95, metavar="1-100", help="JPEG/WebP quality (default 95)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    return guarded(_run)(args)


def _run(args) -> int:
    from .engine import available_engines, create_engine
    from .restoration.restore import restore_image, small_hole_choices, small_hole_engine

    jobs = _plan(args.image, args.output, args.mask_out)
    for folder in dict.fromkeys(p.parent for _, out, mask in jobs for p in (out, mask) if p is not None):
        _remove_leftovers(folder)
    engine_id = args.model or small_hole_engine(small_hole_choices(available_engines()))
    engine = create_engine(engine_id)
    _say(f"restoring with {engine.label} at sensitivity {args.sensitivity:g}")
    failures, defects, area, pixels = 0, 0, 0.0, 0
    bar = _Progress(len(jobs))
    for i, (image_path, out_path, mask_path) in enumerate(jobs):
        bar.update(i, 0.0, image_path.name)
        try:
            loaded = read_image(image_path)
            result = restore_image(loaded.rgb, engine, args.sensitivity, args.kinds,
                                   progress=lambda f, _m, i=i, n=image_path.name: bar.update(i, f, n))
            write_image(out_path, result.image, loaded.alpha, quality=args.quality, info=loaded.info)
            if mask_path is not None:
                write_mask(mask_path, result.mask)
        except Exception as exc:
            if os.environ.get("INPAINT_STUDIO_DEBUG"):
                raise
            text = _one_line(exc)
            text = text if text.startswith((str(image_path), "Cannot write ")) else f"{image_path}: {text}"
            if len(jobs) == 1:
                bar.message(f"error: {text}")
                return EXIT_ERROR
            failures += 1
            bar.failed(i, image_path.name, text)
            continue
        bar.done(i, image_path.name)
        n = result.mask.size
        defects, area, pixels = defects + result.defects, area + result.area * n, pixels + n
        bar.message(f"{image_path.name}: {result.summary()} -> {out_path}"
                    + (f" (mask: {mask_path})" if mask_path is not None else ""))
        if loaded.alpha is not None and not format_keeps_alpha(out_path):
            bar.message(f"note: {out_path.name}: this format has no transparency; the alpha channel was dropped")
    bar.finish()
    done = len(jobs) - failures
    share = 100 * area / pixels if pixels else 0.0
    _say(f"done: {done} photo{'s' * (done != 1)} restored, {defects} defect{'s' * (defects != 1)} filled "
         f"({share:.2f} % of their area), written to {args.output}")
    if failures:
        _say(f"error: {failures} of {len(jobs)} photos failed")
        return EXIT_ERROR
    return EXIT_OK


def _plan(image: Path, output: Path, mask_out: Path | None) -> list[tuple[Path, Path, Path | None]]:
    """-> [(photo, output, mask output or None)] after checking all that can be checked before
    any work: no output (photo or mask) is an input, a photo and its mask do not share a file."""
    if not image.exists():
        raise UsageError(f"{image}: no such file or folder.")
    if image.is_dir():
        images = _images_in(image)
        if not images:
            raise UsageError(f"{image}: no images here (looked for {', '.join(SUPPORTED_SUFFIXES)}).")
        for kind, target in (("--output", output), ("--mask-out", mask_out)):
            if target is None:
                continue
            if target.exists() and not target.is_dir():
                raise UsageError(f"{target}: is a file; with a folder of photos {kind} must be a folder.")
            if _identity(target) == _identity(image):
                # results beside the inputs would be read as inputs by the next run
                raise UsageError(f"{target}: this is the folder of the input photos; write to another folder.")
        outputs = [output / p.name for p in images]
        masks = [mask_out / (p.stem + ".png") for p in images] if mask_out is not None else [None] * len(images)
    else:
        images = [image]
        outputs = [output / image.name if output.is_dir() else output]
        masks = [(mask_out / (image.stem + ".png") if mask_out.is_dir() else mask_out)
                 if mask_out is not None else None]
    for out in outputs + [m for m in masks if m is not None]:
        if out.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise UsageError(f"{out}: unknown output type '{out.suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}.")
    for out, mask in zip(outputs, masks):
        if mask is not None and _identity(out) == _identity(mask):
            raise UsageError(f"{mask}: the mask would overwrite the restored photo; choose another name.")
    _refuse_overwriting_inputs(outputs + [m for m in masks if m is not None], images, [], None)
    if image.is_dir():
        output.mkdir(parents=True, exist_ok=True)
        if mask_out is not None:
            mask_out.mkdir(parents=True, exist_ok=True)
    else:
        for out in [outputs[0]] + [m for m in masks if m is not None]:
            if not out.parent.is_dir():
                raise UsageError(f"{out}: the folder {out.parent} does not exist.")
    return list(zip(images, outputs, masks))
