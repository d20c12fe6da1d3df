"""python -m inpaint_studio (inpaint-studio-cli): inpaint, models, bench.

Every error a user can cause ends in one line on stderr and exit status 2, never a traceback."""
from __future__ import annotations

import argparse
import os
import sys

SCRIPT = "inpaint-studio-cli"  # the console script pyproject.toml installs


def build_parser() -> argparse.ArgumentParser:
    from . import __version__, bench, cli_inpaint, cli_models

    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="Inpaint Studio: fill painted regions of photos with PEN-Net or OpenCV.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli_inpaint.register(sub)
    cli_models.register(sub)
    bench.register(sub)
    return parser


def program_name(argv0: str | None = None) -> str:
    """How the user started us, for usage lines: the installed script, else `python -m`."""
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return SCRIPT if name.startswith(SCRIPT) else "python -m inpaint_studio"


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None, user_errors: tuple = ()) -> int:
    """Parse argv and run the chosen subcommand's `func`; errors in `user_errors` become one
    line on stderr and exit status 2. Shared by this CLI and the trainer's."""
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except user_errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    from .engine.registry import RegistryError

    # user-level failures (bad files, unknown models): one clear line, no traceback
    return run_command(build_parser(), argv, (RegistryError, OSError, ValueError))


if __name__ == "__main__":
    raise SystemExit(main())
