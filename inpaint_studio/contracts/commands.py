"""The small runner both command lines (python -m inpaint_studio, python -m trainer) use."""
from __future__ import annotations

import argparse
import os
import sys


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None, user_errors: tuple = ()) -> int:
    """Parse argv and run the chosen subcommand's `func`; errors in `user_errors` become one
    line on stderr and exit status 2 (never a traceback); Ctrl-C exits with 130."""
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


def program_name(script: str, module: str, argv0: str | None = None) -> str:
    """How the user started a command line, for its usage lines: the console script `script`
    (as pyproject.toml installs it), else `python -m module`."""
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return script if name.startswith(script) else f"python -m {module}"
