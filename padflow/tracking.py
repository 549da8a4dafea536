"""MLflow: where runs go, one parent run per pipeline run, one nested run per stage.

Default store: `sqlite:///<project>/mlflow.db` with artifacts in `<project>/mlartifacts` (both
git-ignored); `MLFLOW_TRACKING_URI` overrides. A stage started by the pipeline flow finds its
parent run in $PADFLOW_MLFLOW_PARENT_RUN_ID; started by plain `dvc repro` it logs a run of its own.
"""

from __future__ import annotations

import contextlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

PARENT_RUN_ENV = "PADFLOW_MLFLOW_PARENT_RUN_ID"
EXPERIMENT_ENV = "PADFLOW_MLFLOW_EXPERIMENT"
DEFAULT_EXPERIMENT = "padflow"
STAGE_TAG = "padflow.stage"
PIPELINE_TAG = "padflow.pipeline"
HEALTH_TIMEOUT_S = 5.0  # how long an http tracking server may take to answer /health


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking store cannot be reached; raised before any stage runs."""


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def artifact_root(root: Path) -> str:
    return (root / "mlartifacts").resolve().as_uri()


def check_tracking(uri: str) -> None:
    """Fail fast, with the URI in the message, if runs could not be logged there."""
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_S) as reply:
                if reply.status != 200:
                    raise TrackingUnavailable(f"MLflow tracking server {uri} answered {reply.status} on /health")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingUnavailable(
                f"MLflow tracking server {uri} is unreachable ({reason}); start it or unset MLFLOW_TRACKING_URI "
                "to use the project's local store"
            ) from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise TrackingUnavailable(f"MLflow store {uri}: folder {folder} is missing or not writable")
    elif uri.startswith("file:") and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() != "true":
        raise TrackingUnavailable(f"MLflow store {uri}: file stores are refused by MLflow 3; use sqlite:/// or http://")


def setup(root: Path) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id."""
    import mlflow

    uri = tracking_uri(root)
    check_tracking(uri)
    mlflow.set_tracking_uri(uri)
    name = os.environ.get(EXPERIMENT_ENV, DEFAULT_EXPERIMENT)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        location = None if uri.startswith("http") else artifact_root(root)
        return mlflow.create_experiment(name, artifact_location=location)
    return experiment.experiment_id


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params → `a.b.c` keys with string values, as MLflow stores them."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


@contextlib.contextmanager
def stage_run(root: Path, stage: str, tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """A run for one stage: nested under the pipeline's parent run when there is one."""
    import mlflow

    experiment_id = setup(root)
    parent = os.environ.get(PARENT_RUN_ENV) or None
    all_tags = {STAGE_TAG: stage, **(tags or {})}
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=stage, parent_run_id=parent, nested=parent is not None, tags=all_tags
    ) as run:
        yield run


def log_stage(
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    artifacts: Mapping[str, Path] | None = None,
    curves: Mapping[str, Sequence[float]] | None = None,
) -> None:
    """Log a stage's params, metrics, per-step curves and artifacts (name → file or folder) into the active run."""
    import mlflow

    flat = flatten(params)
    for start in range(0, len(flat), 100):  # MLflow caps one batch at 100 params
        mlflow.log_params(dict(list(flat.items())[start : start + 100]))
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    if curves:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        points = [Metric(name, float(v), now, step) for name, values in curves.items() for step, v in enumerate(values)]
        run_id = mlflow.active_run().info.run_id
        for start in range(0, len(points), 1000):  # MLflow caps one batch at 1000 metrics
            mlflow.tracking.MlflowClient().log_batch(run_id, metrics=points[start : start + 1000])
    for name, path in (artifacts or {}).items():
        path = Path(path)
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=name)
        elif path.is_file():
            mlflow.log_artifact(str(path), artifact_path=name)
