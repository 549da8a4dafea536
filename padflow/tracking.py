"""MLflow: where runs go, one parent run per pipeline run, one nested run per stage.

Default store: `sqlite:///<project>/mlflow.db` with artifacts in `<project>/mlartifacts` (both
git-ignored); `MLFLOW_TRACKING_URI` overrides. A copied or moved project keeps logging inside
itself (`repoint_artifacts`). A stage started by the pipeline flow finds its
parent run in $PADFLOW_MLFLOW_PARENT_RUN_ID; started by plain `dvc repro` it logs a run of its own.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
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
ARTIFACTS_DIR = "mlartifacts"  # beside mlflow.db in the project folder
HEALTH_TIMEOUT_S = 5.0  # how long an http tracking server may take to answer /health


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking store cannot be reached; raised before any stage runs."""


def default_uri(root: Path) -> str:
    """The project's own store: mlflow.db in its folder."""
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_uri(root)


def artifact_root(root: Path) -> str:
    return (root / ARTIFACTS_DIR).resolve().as_uri()


def repoint_artifacts(root: Path) -> None:
    """Make the project's store name artifact folders inside this project.

    MLflow stores every artifact location as an absolute URI (and offers no call to change one): a
    project copied or moved with its mlflow.db would log artifacts into the original's mlartifacts/.
    Where the store names another project's mlartifacts/, the experiment, its runs and its logged
    models are pointed here (what was logged before the copy is then read from the copy's own
    mlartifacts/). MLflow's table and column names used here have been stable since MLflow 1.x.
    """
    db = root / "mlflow.db"
    if not db.is_file():
        return
    here = artifact_root(root)
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con, con:
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "experiments" not in tables:
            return
        stale = [(eid, loc) for eid, loc in con.execute("SELECT experiment_id, artifact_location FROM experiments")
                 if loc and loc.startswith("file:") and loc.rstrip("/").endswith(f"/{ARTIFACTS_DIR}") and loc != here]
        for experiment_id, old in stale:
            con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (here, experiment_id))
            for table, column in (("runs", "artifact_uri"), ("logged_models", "artifact_location")):
                if table in tables:
                    con.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                        f"WHERE experiment_id = ? AND substr({column}, 1, ?) = ?",
                        (here, len(old) + 1, experiment_id, len(old), old),
                    )


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
    chosen_by_user = "MLFLOW_TRACKING_URI" in os.environ
    if uri == default_uri(root):
        repoint_artifacts(root)
    mlflow.set_tracking_uri(uri)
    if not chosen_by_user:
        # set_tracking_uri also exports the URI to the environment; left there, it would send every
        # project this process opens later (a copy, a test's) to this one's store.
        os.environ.pop("MLFLOW_TRACKING_URI", None)
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
