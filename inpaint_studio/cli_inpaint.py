"""`inpaint` subcommand: fill the masked parts of one image or of a folder of images.

    python -m inpaint_studio inpaint --image IMG|DIR --mask MASK|DIR --output FILE|DIR
        [--model auto|ID|telea|ns|patchmatch] [--device auto|cpu|cuda|mps] [--strategy crop|resize|original]
        [--feather N] [--no-colour-adaptation] [--source MASK]

One mask file serves every image; a mask folder pairs masks with images by file name stem
(photo.jpg <- photo.png). Progress goes to stderr; a problem ends in one "error: ..." line that
names the file, and exit status 2, never a traceback (set INPAINT_STUDIO_DEBUG=1 to see one). In a
folder run an image that fails (unreadable, no mask of its name, ...) is reported and skipped, and
the run ends with status 2. Temporaries left in the output folder by a killed run are removed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

from .atomic import sweep
from .imaging import MASK_RULE, SUPPORTED_SUFFIXES, format_keeps_alpha, read_image, read_mask, write_image

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input: printed as one line."""


def register(subparsers) -> argparse.ArgumentParser:
    from .engine.base import STRATEGIES
    from .engine.device import DEVICE_CHOICES, PRECISIONS

    p = subparsers.add_parser(
        "inpaint", help="fill masked regions of an image or a folder of images",
        description=f"Fill the painted parts of the mask in each image: {MASK_RULE}.")
    p.add_argument("--image", required=True, type=Path, help="an image file or a folder of images")
    p.add_argument("--mask", required=True, type=Path,
                   help="a mask file used for every image, or a folder of masks paired by file name")
    p.add_argument("--output", required=True, type=Path,
                   help="output file (its suffix picks the format), or a folder for a folder of images")
    p.add_argument("--model", default=None,
                   help="'auto' (default): the best engine for each hole region, the default PEN-Net model or a "
                        "classical one; a model id (see `models list`), 'telea', 'ns' or 'patchmatch'")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="where to run PEN-Net (default auto)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto (default): fp16 on CUDA, bf16 on CPUs that have it in hardware (about twice "
                        "as fast), else fp32; fp32 forces full precision")
    p.add_argument("--strategy", default="crop", choices=STRATEGIES,
                   help="crop: each hole with context (default); resize: the whole image scaled down; "
                        "original: the whole image at its size")
    p.add_argument("--feather", type=bounded(int, 0), default=0, metavar="N",
                   help="blend N px around each hole (default 0: only hole pixels change)")
    p.add_argument("--no-colour-adaptation", dest="colour_adaptation", action="store_false",
                   help="PEN-Net: paste the network's colours as they are (by default the fill is shifted "
                        "smoothly so that it meets the photo around the hole)")
    p.add_argument("--resize-limit", type=bounded(int, 64), default=1024, metavar="PX",
                   help="long side for --strategy resize (default 1024)")
    p.add_argument("--source", type=Path, default=None, metavar="MASK",
                   help="PEN-Net only: a mask whose painted part is the region the fill may copy from")
    p.add_argument("--quality", type=_quality, default=95, metavar="1-100",
                   help="JPEG/WebP quality (default 95)")
    p.set_defaults(func=run)
    return p


def bounded(cast: Callable[[str], float], low: float, high: float | None = None) -> Callable[[str], float]:
    """An argparse type: `cast` of the text, refused with one line unless low <= value (<= high)."""
    def parse(text: str):
        value = cast(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}" if high is not None
                                             else "must be 0 or more" if low == 0 else f"must be at least {low:g}")
        return value
    parse.__name__ = cast.__name__          # argparse's "invalid int value: 'x'"
    return parse


_quality = bounded(int, 1, 100)


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand on its own (tests; `python -m inpaint_studio` goes through cli.py)."""
    parser = argparse.ArgumentParser(prog="inpaint_studio")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def guarded(body: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`body` as a subcommand: every failure is one "error: ..." line and exit status 2 (a
    traceback only with INPAINT_STUDIO_DEBUG=1), an interrupt exit status 130."""
    def run(args: argparse.Namespace) -> int:
        try:
            return body(args)
        except KeyboardInterrupt:
            _say("error: interrupted")
            return EXIT_INTERRUPTED
        except Exception as exc:
            if os.environ.get("INPAINT_STUDIO_DEBUG"):
                raise
            _say(f"error: {_one_line(exc)}")
            return EXIT_ERROR
    return run


def run(args) -> int:
    return guarded(_run)(args)


def _run(args) -> int:
    from .engine import CLASSICAL, InpaintOptions, create_engine

    jobs = _pair(args.image, args.mask, args.output, args.source)
    _remove_leftovers(args.output if args.image.is_dir() else jobs[0][2].parent)
    engine_id, note = _choose_model(args.model)
    if note:
        _say(f"note: {note}")
    engine = create_engine(engine_id, device=args.device, precision=args.precision)
    _say(f"engine: {_engine_line(engine)}")
    if engine_id in CLASSICAL and args.device not in ("auto", "cpu"):
        _say(f"note: --device {args.device} is not used: {engine.label} runs on the CPU")
    source = read_mask(args.source) if args.source is not None else None
    failures = 0
    bar = _Progress(len(jobs))
    for i, (image_path, mask_path, out_path) in enumerate(jobs):
        bar.update(i, 0.0, image_path.name)
        try:
            if mask_path is None:
                raise UsageError(f"{image_path}: no mask of the same name in {args.mask}.")
            loaded = read_image(image_path)
            mask = read_mask(mask_path, shape=loaded.rgb.shape)
            if source is not None and source.shape != mask.shape:
                raise UsageError(f"{args.source}: source mask is {source.shape[1]}x{source.shape[0]} "
                                 f"but image {image_path.name} is {mask.shape[1]}x{mask.shape[0]}.")
            options = InpaintOptions(strategy=args.strategy, feather=args.feather,
                                     colour_adaptation=args.colour_adaptation,
                                     resize_limit=args.resize_limit, source=source)
            result = engine.inpaint(loaded.rgb, mask, options,
                                    progress=lambda f, _msg, i=i, n=image_path.name: bar.update(i, f, n))
            write_image(out_path, result.image, loaded.alpha, quality=args.quality, info=loaded.info)
        except Exception as exc:
            if os.environ.get("INPAINT_STUDIO_DEBUG"):
                raise
            text = _naming(exc, image_path, mask_path, args.source)
            if len(jobs) == 1:
                bar.message(f"error: {text}")
                return EXIT_ERROR
            failures += 1
            bar.failed(i, image_path.name, text)
            continue
        bar.done(i, image_path.name)
        for fill in result.fills:
            bar.message(f"{image_path.name}: {_fill_line(fill)}")
        for text in result.notes:
            bar.message(f"note: {image_path.name}: {text}")
        if not result.changed:
            bar.message(f"warning: {image_path.name}: nothing was filled ({_why_unchanged(result, mask_path)}); "
                        f"{out_path.name} is the image as it was")
        if loaded.alpha is not None and not format_keeps_alpha(out_path):
            bar.message(f"note: {out_path.name}: this format has no transparency; the alpha channel was dropped")
    bar.finish()
    if failures:
        _say(f"error: {failures} of {len(jobs)} images failed")
        return EXIT_ERROR
    _say(f"done: {len(jobs)} image{'s' * (len(jobs) != 1)} written to {args.output}")
    return EXIT_OK


def _naming(exc: Exception, image: Path, mask: Path | None, source: Path | None) -> str:
    """The error as one line that names the file it is about."""
    from .engine.base import FULL_MASK_MESSAGE

    text = _one_line(exc)
    if text == FULL_MASK_MESSAGE:
        return (f"{mask}: the mask covers the whole of {image.name}, so nothing is left to fill it from; "
                "leave part of the image unmasked.")
    if any(p is not None and text.startswith(str(p)) for p in (image, mask, source)) or text.startswith("Cannot write "):
        return text
    return f"{image}: {text}"


def _why_unchanged(result, mask: Path) -> str:
    from .engine.base import EMPTY_MASK_MESSAGE

    if result.message == EMPTY_MASK_MESSAGE:
        return f"the mask {mask.name} is empty"
    return result.message.rstrip(".")


# -- inputs ---------------------------------------------------------------------------------------
def _pair(image: Path, mask: Path, output: Path, source: Path | None = None) -> list[tuple[Path, Path | None, Path]]:
    """-> [(image, mask or None when a mask folder has none of its name, output)] after checking
    everything that can be checked before work,
    among it that no output is one of the inputs (image, mask, source)."""
    if not image.exists():
        raise UsageError(f"{image}: no such file or folder.")
    if not mask.exists():
        raise UsageError(f"{mask}: no such file or folder.")
    if image.is_dir():
        images = _images_in(image)
        if not images:
            raise UsageError(f"{image}: no images here (looked for {', '.join(SUPPORTED_SUFFIXES)}).")
        if output.exists() and not output.is_dir():
            raise UsageError(f"{output}: is a file; with a folder of images --output must be a folder.")
        for kind, folder in (("images", image), ("masks", mask)):
            if folder.is_dir() and _identity(output) == _identity(folder):
                # results beside the inputs would be read as inputs by the next run
                raise UsageError(f"{output}: this is the folder of the input {kind}; "
                                 "write the results to another folder.")
        outputs = [output / p.name for p in images]
    else:
        images = [image]
        outputs = [output / image.name if output.is_dir() else output]
    for out in outputs:
        if out.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise UsageError(f"{out}: unknown output type '{out.suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}.")
    if mask.is_dir():
        by_stem = _by_stem(_images_in(mask))
        if not any(p.stem in by_stem for p in images):
            shown = ", ".join(p.name for p in images[:3]) + (f" and {len(images) - 3} more" if len(images) > 3 else "")
            raise UsageError(f"{mask}: no mask with the same name for {shown}.")
        masks = [by_stem.get(p.stem) for p in images]   # None: reported and skipped in the run
    else:
        masks = [mask] * len(images)
    _refuse_overwriting_inputs(outputs, images, [m for m in masks if m is not None], source)
    if image.is_dir():
        output.mkdir(parents=True, exist_ok=True)
    elif not outputs[0].parent.is_dir():
        raise UsageError(f"{outputs[0]}: the folder {outputs[0].parent} does not exist.")
    return list(zip(images, masks, outputs))


def _refuse_overwriting_inputs(outputs, images, masks, source) -> None:
    """No output may be an input file: paths are compared after resolving links and '..', and
    hard links by inode, so `--output mask.png` or `--output masks/` can never eat a mask."""
    inputs = {}
    for kind, paths in (("image", images), ("mask", masks), ("source mask", [source] if source else [])):
        for p in paths:
            inputs.setdefault(_identity(p), (kind, p))
    for out in outputs:
        hit = inputs.get(_identity(out))
        if hit is not None:
            kind, path = hit
            raise UsageError(f"{out}: the output would overwrite the input {kind} {path}; "
                             "choose another output file or folder.")


def _remove_leftovers(folder: Path) -> None:
    """Remove the temporaries an interrupted run left in an output folder, and say so."""
    left = sweep(folder)
    if left:
        _say(f"note: removed {len(left)} unfinished file{'s' * (len(left) != 1)} left in {folder} "
             "by an interrupted run")


def _identity(path: Path):
    """A key equal for two names of one file: (device, inode) when it exists, else its real path."""
    try:
        st = path.stat()
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUPPORTED_SUFFIXES)


def _by_stem(paths: list[Path]) -> dict[str, Path]:
    """Stem -> mask file; where several share a stem, lossless formats win (png first)."""
    rank = {s: i for i, s in enumerate((".png", ".bmp", ".tif", ".tiff", ".webp", ".jpg", ".jpeg"))}
    found: dict[str, Path] = {}
    for p in sorted(paths, key=lambda p: rank.get(p.suffix.lower(), 99)):
        found.setdefault(p.stem, p)
    return found


def _choose_model(requested: str | None) -> tuple[str, str | None]:
    from .engine import AUTO_ID, CLASSICAL, auto_model_id

    if requested:
        return requested, None
    if auto_model_id():
        return AUTO_ID, None
    return AUTO_ID, (f"no PEN-Net model is installed; Auto chooses among {', '.join(CLASSICAL)} for each "
                     "region (import a model with `models import`)")


def _engine_line(engine) -> str:
    """What fills the holes, naming the model and its file: the CLI always says it."""
    from .engine.device import describe

    def model(e) -> str:
        where = "bundled" if e.info.bundled else "user"
        return (f"PEN-Net model '{e.info.name}' (id {e.info.id}, {where}, {e.info.weights_path}) "
                f"on {describe(e.device, e.precision)}")

    if getattr(engine, "id", "") == "auto":
        used = f"with {model(engine.model)} or" if engine.model is not None else "with"
        return f"{engine.label}: each region {used} one of {', '.join(sorted(engine.classical))}"
    if hasattr(engine, "info"):
        return model(engine)
    return engine.label


def _fill_line(fill) -> str:
    f = fill.features
    x0, y0, x1, y1 = fill.box
    return (f"region {x0},{y0}-{x1},{y1} (radius {f['radius']:.0f} px, texture {f['texture']:.1f}): "
            f"{fill.label} ({fill.reason})")


# -- output ---------------------------------------------------------------------------------------
def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class _Progress:
    """Progress on stderr: on a terminal one bar redrawn in place; in a pipe or a log one line
    per finished image, so the last line reads N/N 100%."""

    WIDTH = 30

    def __init__(self, total: int):
        self.total = total
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self.last = ""

    def update(self, index: int, fraction: float, name: str) -> None:
        """Image `index` is `fraction` done (redrawn on a terminal only)."""
        if self.tty:
            self._draw(index, fraction, name)

    def done(self, index: int, name: str, failed: bool = False) -> None:
        line = self._line(index, 1.0, name + (" (failed)" if failed else ""))
        if self.tty:
            self._draw(index, 1.0, name)
        else:
            _say(line)

    def failed(self, index: int, name: str, text: str) -> None:
        """Image `index` failed and is skipped: its line, then the error naming it."""
        self.done(index, name, failed=True)
        self.message(f"error: {text}")

    def _line(self, index: int, fraction: float, name: str) -> str:
        overall = (index + fraction) / self.total
        filled = int(round(overall * self.WIDTH))
        return (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {index + 1}/{self.total} "
                f"{overall * 100:5.1f}%  {time.monotonic() - self.start:6.1f}s  {name}")

    def _draw(self, index: int, fraction: float, name: str) -> None:
        line = self._line(index, fraction, name)[:120]
        sys.stderr.write("\r" + line.ljust(len(self.last)))
        sys.stderr.flush()
        self.last = line

    def message(self, text: str) -> None:
        if self.tty and self.last:
            sys.stderr.write("\r" + " " * len(self.last) + "\r")
            self.last = ""
        _say(text)

    def finish(self) -> None:
        if self.tty and self.last:
            sys.stderr.write("\n")
            self.last = ""
