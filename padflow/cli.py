"""`padflow` command line: one subcommand per module in padflow.commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from padflow.dvc import STAGE_EXIT_TRANSIENT, STAGE_EXIT_USER_ERROR
from padflow.tracking import TrackingUnavailable

# Set by `main` before any command module (and so torch, MLflow, Prefect, DVC) is imported; a
# user's own setting wins. The libraries padflow drives phone home unless told not to, and the
# machines it runs on are often offline. Prefect's temporary server (`padflow run` without a
# PREFECT_API_URL) needs longer than its default 20 s to start on 2 busy cores.
ENV_DEFAULTS: dict[str, str] = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
    # OpenMP threads that spin while waiting for work burn the other core's time: with 2 threads
    # on 2 shared cores a training step took 10x the CPU without this (read when torch loads).
    "OMP_WAIT_POLICY": "PASSIVE",
}

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
    "padflow.commands.results",
    "padflow.commands.stage",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="padflow", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def set_env_defaults() -> None:
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None = None) -> int:
    set_env_defaults()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    # Exit codes the pipeline flow (through DVC, padflow.dvc.DvcError.transient) acts on: a bad
    # input or config fails the same way every time; an I/O error or an unreachable tracking server may not.
    except ValueError as exc:
        print(f"padflow {args.command}: error: {exc}", file=sys.stderr)
        return STAGE_EXIT_USER_ERROR
    except (OSError, TrackingUnavailable) as exc:
        traceback.print_exc()
        print(f"padflow {args.command}: error (may pass on a retry): {exc}", file=sys.stderr)
        return STAGE_EXIT_TRANSIENT


if __name__ == "__main__":
    sys.exit(main())
