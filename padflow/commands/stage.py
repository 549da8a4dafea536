"""`padflow stage NAME`: run one pipeline stage in this process (what dvc.yaml calls).

`run_stage` is the stage shell shared by `dvc repro`, the Prefect flow (through DVC) and the
CLI: it imports `tasks/<stage>.py`, runs its `stage(params, root)`, writes the stage's DVC
metrics file and logs the same numbers to MLflow.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from padflow import tracking
from padflow.config import load_params, project_root
from padflow.io import write_json
from padflow.stages import STAGES, StageResult, metrics_path


def register(subparsers) -> None:
    p = subparsers.add_parser("stage", help="run one pipeline stage (dvc.yaml's command)")
    p.add_argument("name", choices=STAGES)
    p.set_defaults(func=run)


def run(args) -> int:
    result = run_stage(args.name)
    print(json.dumps({"stage": args.name, "metrics": dict(result.metrics)}, indent=2))
    return 0


def run_stage(stage: str, root: Path | None = None, params: Mapping[str, Any] | None = None) -> StageResult:
    """Run one stage in this process, write its metrics file, and log it to MLflow."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    root = (root or project_root()).resolve()
    params = load_params(root / "params.yaml") if params is None else params
    tracking.check_tracking(tracking.tracking_uri(root))  # fail before work, not after it
    # By name: only the stage asked for is imported (each pulls in torch, cv2, ... of its own),
    # and the CLI's cold start stays light.
    module = import_from_project(root, f"tasks.{stage}")
    # The run is open while the stage works, so a stage that logs as it goes (Lightning's
    # MLFlowLogger in train) can attach to it, and a stage that fails leaves a FAILED run.
    with tracking.stage_run(root, stage, tags={"padflow.profile": str(params.get("profile", ""))}):
        started = time.perf_counter()
        result: StageResult = module.stage(params, root)
        metrics = {**result.metrics, f"{stage}_wall_s": round(time.perf_counter() - started, 3)}
        write_json(metrics_path(root, stage), metrics)
        tracking.log_stage(result.params, metrics, {**result.artifacts, "metrics": metrics_path(root, stage)}, result.curves)
    return StageResult(result.params, metrics, result.artifacts, result.curves)


def import_from_project(root: Path, name: str):
    """Import `name` (tasks.<stage>, flows.pipeline) from the checkout at `root`.

    tasks/, flows/ and models/ are the project's folders, not part of the installed padflow
    package: put the checkout first on sys.path, so a wheel install runs the checkout's stages
    (an editable install already has it there).
    """
    folder = str(Path(root).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)
