"""`padflow stage NAME`: run one pipeline stage in this process (what dvc.yaml calls).

`run_stage` is the stage shell shared by `dvc repro`, the Prefect flow (through DVC) and the
CLI: it imports `tasks/<stage>.py`, runs its `stage(params, root)`, writes the stage's DVC
metrics files (padflow.stages.write_metrics: headline, details, plot tables) and logs the same
numbers to MLflow; a line as the stage starts and one as it ends (time, key figure).
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from padflow import progress, registry, tracking
from padflow.config import load_params, project_root
from padflow.stages import STAGES, StageResult, details_path, key_figure, write_metrics


def register(subparsers) -> None:
    p = subparsers.add_parser("stage", help="run one pipeline stage (dvc.yaml's command)")
    p.add_argument("name", choices=STAGES)
    p.set_defaults(func=run)


def run(args) -> int:
    run_stage(args.name)  # its end line names the key figure; every figure is in metrics/details/<stage>.json
    return 0


def run_stage(stage: str, root: Path | None = None, params: Mapping[str, Any] | None = None) -> StageResult:
    """Run one stage in this process, write its metrics files, and log it to MLflow; a line as it starts and ends."""
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
        shown = progress.stage_started(stage, f"profile {params.get('profile', '')}")
        result: StageResult = module.stage(params, root)
        metrics = {**result.metrics, f"{stage}_wall_s": round(time.perf_counter() - started, 3)}
        write_metrics(root, stage, metrics, result.curves, result.plots)
        tracking.log_stage(result.params, metrics, {**result.artifacts, "metrics": details_path(root, stage)}, result.curves)
        record_outputs(root, result, metrics)
        progress.stage_finished(stage, shown, key_figure(stage, metrics))
    return replace(result, metrics=metrics)


def record_outputs(root: Path, result: StageResult, metrics: Mapping[str, float]) -> None:
    """Into the active run: the stage's tables (log_table), datasets (log_input), and its models, logged and registered."""
    tracking.log_tables(result.tables)
    for dataset in result.datasets:
        registry.log_dataset(dataset.name, dataset.source, dataset.digest, dataset.context, dataset.rows)
    if not result.models:
        return
    # models/pyfunc.py loads mlflow.pyfunc and torch: only a stage that exports a model pays for it.
    pyfunc = import_from_project(root, "models.pyfunc")
    for export in result.models:
        python_model, signature, example = pyfunc.pyfunc_for(export.name, export.folder, export.example)
        named = {tracking.metric_name(k): v for k, v in metrics.items()}  # as the run has them
        outcome = registry.publish(export.name, export.folder, python_model, example, signature, named, export.score)
        moved = f", now {registry.CHAMPION}" if outcome["champion_moved"] else ""
        progress.say(f"[mlflow] {export.name} version {outcome['version']}{moved}")


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
