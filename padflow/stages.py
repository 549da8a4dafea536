"""The stage shell shared by `dvc repro`, the Prefect flow and the CLI.

Each stage's logic lives in `tasks/<stage>.py` as `stage(params, root) -> StageResult`; this
module runs it, writes the stage's DVC metrics file and logs the same numbers to MLflow, so a
metric is computed once and reported twice.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from padflow.config import load_params, project_root
from padflow.io import write_json

# DAG order; the same word names the dvc.yaml stage, the params.yaml section, the tasks/ module,
# the Prefect task and the MLflow run.
STAGES: tuple[str, ...] = ("corpus", "ingest", "parser_train", "extract", "gate", "train", "evaluate")
METRICS_DIR = "metrics"


@dataclass(frozen=True)
class StageResult:
    params: Mapping[str, Any]  # the resolved config the stage ran with (logged as MLflow params)
    metrics: Mapping[str, float]  # written to metrics/<stage>.json and logged to MLflow
    artifacts: Mapping[str, Path] = field(default_factory=dict)  # MLflow artifact folder → file/folder
    curves: Mapping[str, Sequence[float]] = field(default_factory=dict)  # per-step series (loss, ...) for MLflow


def metrics_path(root: Path, stage: str) -> Path:
    return root / METRICS_DIR / f"{stage}.json"


def run_stage(stage: str, root: Path | None = None, params: Mapping[str, Any] | None = None) -> StageResult:
    """Run one stage in this process, write its metrics file, and log it to MLflow."""
    from padflow import tracking

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    root = (root or project_root()).resolve()
    params = load_params(root / "params.yaml") if params is None else params
    tracking.check_tracking(tracking.tracking_uri(root))  # fail before work, not after it
    module = importlib.import_module(f"tasks.{stage}")
    # The run is open while the stage works, so a stage that logs as it goes (Lightning's
    # MLFlowLogger in train) can attach to it, and a stage that fails leaves a FAILED run.
    with tracking.stage_run(root, stage, tags={"padflow.profile": str(params.get("profile", ""))}):
        started = time.perf_counter()
        result: StageResult = module.stage(params, root)
        metrics = {**result.metrics, f"{stage}_wall_s": round(time.perf_counter() - started, 3)}
        write_json(metrics_path(root, stage), metrics)
        tracking.log_stage(result.params, metrics, {**result.artifacts, "metrics": metrics_path(root, stage)}, result.curves)
    return StageResult(result.params, metrics, result.artifacts, result.curves)


def read_metrics(root: Path, stage: str) -> dict[str, float]:
    path = metrics_path(root, stage)
    return json.loads(path.read_text()) if path.is_file() else {}
