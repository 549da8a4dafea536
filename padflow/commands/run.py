"""`padflow run [--profile P] [--stages ...]`: the whole pipeline as a Prefect flow."""

from __future__ import annotations

import json

from padflow.stages import STAGES


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run the pipeline flow (Prefect → DVC stages → MLflow)")
    p.add_argument("--profile", help="make this params.yaml profile active first (e.g. debug, default, large)")
    p.add_argument("--stages", nargs="+", choices=STAGES, help="only these stages (default: all, in order)")
    p.set_defaults(func=run)


def run(args) -> int:
    from flows.pipeline import pipeline

    results = pipeline(profile=args.profile, stages=args.stages)
    print(json.dumps(results, indent=2))
    return 0
