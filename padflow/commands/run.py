"""`padflow run [--profile P] [--input PATH] [--set SECTION.KEY=VALUE ...] [--stages ...]`: the pipeline as a Prefect flow.

Before Prefect loads, the whole params.yaml (with the profile and the overrides), the input path
and the tracking store are checked (`check_run`): a mistake fails in about a second with one line,
not after stages ran. The run ends with a table (per stage: ran or skipped, time, key figure) and
where to look (the MLflow run, the rates, the rollout GIFs, the policy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from padflow import tracking
from padflow.commands.stage import import_from_project
from padflow.config import format_overrides, parse_overrides, project_root
from padflow.dvc import planned_run
from padflow.params_schema import load_checked_params
from padflow.progress import duration
from padflow.stages import STAGES


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run the pipeline flow (Prefect → DVC stages → MLflow)")
    p.add_argument("--profile", help="make this profile (profiles/<name>.yaml) active first, in run.yaml (e.g. debug, default, large)")
    p.add_argument("--input", dest="input_dir", help="ingest this folder or manifest of your own videos (kept in run.yaml, so later runs make no corpus "
                        "either; --input data/raw goes back to the corpus)")
    p.add_argument("--set", dest="overrides", action="append", metavar="SECTION.KEY=VALUE",
                   help="override one param over params.yaml and the profile (repeatable, e.g. --set train.lr=3e-4); "
                        "kept in run.yaml's `overrides` (replacing earlier ones) so `dvc repro` sees them; params.yaml is not edited")
    p.add_argument("--clear-overrides", action="store_true", help="drop the overrides an earlier --set left in run.yaml")
    p.add_argument("--stages", nargs="+", choices=STAGES, help="only these stages (default: all, in order)")
    p.set_defaults(func=run)


def run(args) -> int:
    root = project_root()
    overrides = chosen_overrides(args)
    check_run(root, args.profile, args.input_dir, overrides, args.stages)
    # Prefect (and the flow's stages) load only for this command, not on every CLI start.
    pipeline = import_from_project(root, "flows.pipeline").pipeline

    summary = pipeline(profile=args.profile, input_dir=args.input_dir, stages=args.stages, overrides=overrides)
    print_summary(summary)
    return 0


def chosen_overrides(args) -> dict[str, Any] | None:
    """The overrides of this run: --set's (replacing run.yaml's), {} with --clear-overrides, None to keep run.yaml's."""
    if args.overrides and args.clear_overrides:
        raise ValueError("--set and --clear-overrides: give one of them")
    if args.clear_overrides:
        return {}
    return parse_overrides(args.overrides) if args.overrides else None


def check_run(root: Path, profile: str | None, input_dir: str | None, overrides: dict[str, Any] | None = None,
              stages: list[str] | None = None) -> None:
    """What a user can get wrong, checked in about a second before Prefect loads or any stage runs:
    the whole params.yaml with the profile and overrides (a bad value, an unknown key or profile), the
    input path, what `--stages` would read that no chosen stage writes first (padflow.dvc.planned_run),
    the tracking store. ValueError / TrackingUnavailable, one line each."""
    load_checked_params(root, profile, overrides)
    planned_run(root, stages, input_dir)
    tracking.check_tracking(tracking.tracking_uri(root))


def print_summary(summary, console=None) -> None:
    """The run's table (stage, ran/skipped, time, key figure) and where to look, drawn by rich."""
    console = console or Console()
    table = Table(title=f"pipeline run {summary.run_id[:8]} (profile {summary.profile})", title_justify="left")
    for column, justify in (("stage", "left"), ("", "left"), ("time", "right"), ("headline", "left")):
        table.add_column(column, justify=justify)
    for s in summary.stages:
        table.add_row(s.stage, "ran" if s.ran else "skipped (up to date)", duration(s.seconds), s.figure or "—")
    console.print(table)
    if summary.overrides:
        console.print(f"overrides (run.yaml): {format_overrides(summary.overrides)}", highlight=False)
    width = max(len(what) for what in summary.places)
    for what, where in summary.places.items():
        console.print(f"{what.ljust(width)}  {where}", highlight=False, soft_wrap=True)
