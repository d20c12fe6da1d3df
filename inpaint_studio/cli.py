"""python -m inpaint_studio (inpaint-studio-cli): inpaint, restore, models, bench, restore-eval,
spot-heal-bench.

Every error a user can cause ends in one line on stderr and exit status 2, never a traceback."""
from __future__ import annotations

import argparse

from .contracts.commands import program_name, run_command

SCRIPT = "inpaint-studio-cli"  # the console script pyproject.toml installs


def build_parser() -> argparse.ArgumentParser:
    from . import __version__, bench, cli_inpaint, cli_models, cli_restore
    from .app.restoration import spot_heal_bench
    from .restoration import restore_eval

    parser = argparse.ArgumentParser(
        prog=program_name(SCRIPT, "inpaint_studio"),
        description="Inpaint Studio: fill painted regions of photos with PEN-Net, DeepFill v1 or OpenCV.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cli_inpaint.register(sub)
    cli_restore.register(sub)
    cli_models.register(sub)
    bench.register(sub)
    restore_eval.register(sub)
    spot_heal_bench.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .engine.registry import RegistryError

    # user-level failures (bad files, unknown models): one clear line, no traceback
    return run_command(build_parser(), argv, (RegistryError, OSError, ValueError))


if __name__ == "__main__":
    raise SystemExit(main())
