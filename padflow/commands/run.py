"""`padflow run [--profile P] [--input PATH] [--stages ...]`: the whole pipeline as a Prefect flow.

Before Prefect loads, the whole params.yaml (with the profile), the input path and the tracking
store are checked (`check_run`): a mistake fails in about a second with one line, not after stages ran.
"""

from __future__ import annotations

import json
from pathlib import Path

from padflow import tracking
from padflow.commands.stage import import_from_project
from padflow.config import project_root
from padflow.params_schema import load_checked_params
from padflow.stages import STAGES


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run the pipeline flow (Prefect → DVC stages → MLflow)")
    p.add_argument("--profile", help="make this profile (profiles/<name>.yaml) active first, in run.yaml (e.g. debug, default, large)")
    p.add_argument("--input", dest="input_dir", help="ingest this folder or manifest of your own videos (kept in run.yaml; no corpus)")
    p.add_argument("--stages", nargs="+", choices=STAGES, help="only these stages (default: all, in order)")
    p.set_defaults(func=run)


def run(args) -> int:
    root = project_root()
    check_run(root, args.profile, args.input_dir)
    # Prefect (and the flow's stages) load only for this command, not on every CLI start.
    pipeline = import_from_project(root, "flows.pipeline").pipeline

    results = pipeline(profile=args.profile, input_dir=args.input_dir, stages=args.stages)
    print(json.dumps(results, indent=2))
    return 0


def check_run(root: Path, profile: str | None, input_dir: str | None) -> None:
    """What a user can get wrong, checked in about a second before Prefect loads or any stage runs:
    the whole params.yaml with the profile (a bad value, an unknown key or profile), the input
    path, the tracking store. ValueError / TrackingUnavailable, one line each."""
    load_checked_params(root, profile)
    if input_dir and not Path(input_dir).expanduser().exists():
        raise ValueError(f"--input {input_dir}: no such folder or manifest")
    tracking.check_tracking(tracking.tracking_uri(root))
