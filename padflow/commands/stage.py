"""`padflow stage NAME`: run one pipeline stage in this process (what dvc.yaml calls)."""

from __future__ import annotations

import json

from padflow.stages import STAGES, run_stage


def register(subparsers) -> None:
    p = subparsers.add_parser("stage", help="run one pipeline stage (dvc.yaml's command)")
    p.add_argument("name", choices=STAGES)
    p.set_defaults(func=run)


def run(args) -> int:
    result = run_stage(args.name)
    print(json.dumps({"stage": args.name, "metrics": dict(result.metrics)}, indent=2))
    return 0
