"""`padflow` command line: one subcommand per module in padflow.commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from padflow.dvc import STAGE_EXIT_TRANSIENT, STAGE_EXIT_USER_ERROR, DvcError
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
    "padflow.commands.skins",
    "padflow.commands.ingest",
    "padflow.commands.nitrogen",
    "padflow.commands.score_extraction",
    "padflow.commands.score_idm",
    "padflow.commands.train",
    "padflow.commands.policy",
    "padflow.commands.evaluate",
    "padflow.commands.transfer",
    "padflow.commands.idm_gain",
    "padflow.commands.run",
    "padflow.commands.serve",
    "padflow.commands.compare",
    "padflow.commands.results",
    "padflow.commands.stage",
    "padflow.commands.parser_asset",
)


DEBUG_ENV = "PADFLOW_DEBUG"  # set by --debug, so the stages DVC starts print tracebacks too


def build_parser(modules: tuple[str, ...] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="padflow", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="print the full traceback of an error (default: one line)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(subparsers)
    parser.set_defaults(command_names=tuple(subparsers.choices))
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Import only the module named like the command when there is one (`padflow run` →
    padflow.commands.run): every module's imports (scipy, gymnasium, ...) cost seconds that a
    command failing on a bad value should not; help and other names build the whole parser."""
    argv = sys.argv[1:] if argv is None else argv
    words = [a for a in argv if not a.startswith("-")]
    module = f"padflow.commands.{words[0].replace('-', '_')}" if words else ""
    if module in COMMAND_MODULES and not {"-h", "--help"} & set(argv):
        parser = build_parser((module,))
        if words[0] in parser.get_default("command_names"):  # the module registers that very name
            return parser.parse_args(argv)
    return build_parser().parse_args(argv)


def set_env_defaults() -> None:
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None = None) -> int:
    set_env_defaults()
    args = parse_args(argv)
    if args.debug:
        os.environ[DEBUG_ENV] = "1"
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    # A user's error (bad config, bad path, no tracking server) is one line; --debug adds the traceback.
    try:
        return int(args.func(args) or 0)
    # Exit codes the pipeline flow (through DVC, padflow.dvc.DvcError.transient) acts on: a bad
    # input or config fails the same way every time; an I/O error or an unreachable tracking server may not.
    except ValueError as exc:
        _report(args.command, f"error: {exc}", debug)
        return STAGE_EXIT_USER_ERROR
    except (OSError, TrackingUnavailable) as exc:
        _report(args.command, f"error (may pass on a retry): {exc}", debug)
        return STAGE_EXIT_TRANSIENT
    except DvcError as exc:
        _report(args.command, f"error: {stage_failure(exc)}", debug)
        return 1


def _report(command: str, message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"padflow {command}: {message}", file=sys.stderr)


def stage_failure(exc: DvcError) -> str:
    """One line for a stage that failed under DVC: the stage's own error line when it printed one."""
    said = [line.strip() for line in exc.log.splitlines() if line.startswith("padflow stage: error")]
    detail = said[-1].removeprefix("padflow stage: ") if said else f"exit {exc.stage_exit} (run with --debug for its log)"
    return f"stage {exc.stage} failed: {detail}"


if __name__ == "__main__":
    sys.exit(main())
