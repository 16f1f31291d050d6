"""The ``workbench`` command line: one subcommand per pipeline step.

Each module in :mod:`workbench.cli.commands` adds its subcommands through ``register(subparsers,
common)``; ``common`` is the parent parser that gives every subcommand ``--workspace``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import workbench.cli.commands
from workbench.errors import WorkbenchError


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", default=None,
                        help="workspace directory (default: $WORKBENCH_WORKSPACE or ./workspace)")
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(workbench.cli.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"workbench.cli.commands.{info.name}")
        module.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except WorkbenchError as exc:
        print(f"workbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
