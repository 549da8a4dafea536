"""The stage contract: what a stage returns, the DAG order, where its metrics file lives.

Each stage's logic lives in `tasks/<stage>.py` as `stage(params, root) -> StageResult`;
`padflow.commands.stage.run_stage` (what `dvc repro` runs) calls it, writes the stage's DVC
metrics file and logs the same numbers to MLflow, so a metric is computed once and reported twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


# DAG order; the same word names the dvc.yaml stage, the params.yaml section, the tasks/ module,
# the Prefect task and the MLflow run.
STAGES: tuple[str, ...] = ("corpus", "ingest", "parser_train", "extract", "gate", "idm_train", "pseudo_label", "train", "evaluate")
METRICS_DIR = "metrics"


@dataclass(frozen=True)
class StageResult:
    params: Mapping[str, Any]  # the resolved config the stage ran with (logged as MLflow params)
    metrics: Mapping[str, float]  # written to metrics/<stage>.json and logged to MLflow
    artifacts: Mapping[str, Path] = field(default_factory=dict)  # MLflow artifact folder → file/folder
    curves: Mapping[str, Sequence[float]] = field(default_factory=dict)  # per-step series (loss, ...) for MLflow


def metrics_path(root: Path, stage: str) -> Path:
    return root / METRICS_DIR / f"{stage}.json"


def read_metrics(root: Path, stage: str) -> dict[str, float]:
    path = metrics_path(root, stage)
    return json.loads(path.read_text()) if path.is_file() else {}
