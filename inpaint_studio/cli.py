"""python -m inpaint_studio (inpaint-studio-cli): inpaint, models, bench.

Every error a user can cause ends in one line on stderr and exit status 2, never a traceback."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from . import __version__, bench, cli_inpaint, cli_models

    parser = argparse.ArgumentParser(
        prog="inpaint-studio-cli",
        description="Inpaint Studio: fill painted regions of photos with PEN-Net or OpenCV.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli_inpaint.register(sub)
    cli_models.register(sub)
    bench.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .engine.registry import RegistryError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (RegistryError, OSError, ValueError) as exc:  # user-level failures: one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
