"""`padflow` command line: one subcommand per module in padflow.commands."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines `register(subparsers)`, which adds its parser(s) with `func` set.
COMMAND_MODULES: tuple[str, ...] = (
    "padflow.commands.tasks",
    "padflow.commands.play",
    "padflow.commands.suite",
    "padflow.commands.templates",
    "padflow.commands.ingest",
    "padflow.commands.nitrogen",
    "padflow.commands.score_extraction",
    "padflow.commands.train",
    "padflow.commands.policy",
    "padflow.commands.evaluate",
    "padflow.commands.transfer",
    "padflow.commands.run",
    "padflow.commands.serve",
    "padflow.commands.compare",
    "padflow.commands.stage",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="padflow", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:
        print(f"padflow {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
