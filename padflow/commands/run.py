"""`padflow run [--profile P] [--input PATH] [--stages ...]`: the whole pipeline as a Prefect flow."""

from __future__ import annotations

import json

from padflow.commands.stage import import_from_project
from padflow.config import project_root
from padflow.stages import STAGES


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run the pipeline flow (Prefect → DVC stages → MLflow)")
    p.add_argument("--profile", help="make this profile (profiles/<name>.yaml) active first, in run.yaml (e.g. debug, default, large)")
    p.add_argument("--input", dest="input_dir", help="ingest this folder or manifest of your own videos (kept in run.yaml; no corpus)")
    p.add_argument("--stages", nargs="+", choices=STAGES, help="only these stages (default: all, in order)")
    p.set_defaults(func=run)


def run(args) -> int:
    # Prefect (and the flow's stages) load only for this command, not on every CLI start.
    pipeline = import_from_project(project_root(), "flows.pipeline").pipeline

    results = pipeline(profile=args.profile, input_dir=args.input_dir, stages=args.stages)
    print(json.dumps(results, indent=2))
    return 0
