"""`padflow train`: the train stage (same as `padflow stage train`, what dvc.yaml calls)."""

from __future__ import annotations

import json

from padflow.commands.stage import run_stage


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the policy on data/gate/chunks.parquet (= padflow stage train)")
    p.set_defaults(func=run)


def run(args) -> int:
    result = run_stage("train")
    print(json.dumps({"stage": "train", "metrics": dict(result.metrics)}, indent=2))
    return 0
