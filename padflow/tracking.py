"""MLflow: where runs go, one parent run per pipeline run, one nested run per stage.

Default store: `sqlite:///<project>/mlflow.db` with artifacts in `<project>/mlartifacts` (both
git-ignored); `MLFLOW_TRACKING_URI` overrides. A copied or moved project keeps logging inside
itself (`repoint_artifacts`). A stage started by the pipeline flow finds its
parent run in $PADFLOW_MLFLOW_PARENT_RUN_ID; started by plain `dvc repro` it logs a run of its own,
tagged padflow.standalone=true (PIPELINE_RUNS_FILTER hides those in the UI). Every run names the
process that opened it (PID_TAG): the next run to start marks KILLED a run left RUNNING by a process
that is gone. Metric names keep their dotted levels as `/` sections, which the UI groups
(`metric_name`). The experiment carries a description (the UI's "Description" of `padflow`).
Models and datasets: padflow/registry.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
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
STANDALONE_TAG = "padflow.standalone"  # "true" on a stage run outside a pipeline run (bare `padflow stage`, `dvc repro`)
PID_TAG = "padflow.pid"  # the process that opened the run, as "<host>:<pid>:<start ticks>"
# The run list's filter for pipeline runs and their stage runs only (every padflow run carries the tag).
PIPELINE_RUNS_FILTER = f"tags.`{STANDALONE_TAG}` = 'false'"
EXPERIMENT_DESCRIPTION = (
    "padflow: gameplay videos with a gamepad overlay → action tables → a flow-matching policy scored in real games. "
    "Each `pipeline` run (padflow run) holds a nested run per stage; runs tagged padflow.standalone=true come from a "
    "bare `padflow stage` or `dvc repro` (show only pipeline runs with the filter tags.`padflow.standalone` = 'false'). "
    "Registered models: padflow-policy and padflow-overlay-parser, alias `champion` = best by its evaluation score."
)
ARTIFACTS_DIR = "mlartifacts"  # beside mlflow.db in the project folder
NOTE_TAG = "mlflow.note.content"  # the experiment description the MLflow UI shows
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
        experiment_id = mlflow.create_experiment(name, artifact_location=location, tags={NOTE_TAG: EXPERIMENT_DESCRIPTION})
    else:
        experiment_id = experiment.experiment_id
        if NOTE_TAG not in experiment.tags:  # an experiment made before padflow described it
            mlflow.MlflowClient().set_experiment_tag(experiment_id, NOTE_TAG, EXPERIMENT_DESCRIPTION)
    close_orphaned_runs(experiment_id)
    return experiment_id


def run_tags(standalone: bool) -> dict[str, str]:
    """Tags every padflow run carries: whether it is outside a pipeline run (the UI filters on it) and which
    process opened it (a later run closes it if that process died: close_orphaned_runs)."""
    return {STANDALONE_TAG: str(standalone).lower(), PID_TAG: f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"}


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux /proc), '' elsewhere: guards against pid reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _process_alive(tag: str) -> bool:
    host, pid, ticks = (tag.split(":") + ["", "", ""])[:3]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's run: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return not ticks or _start_ticks(int(pid)) in ("", ticks)


def close_orphaned_runs(experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs whose process (this machine's, by PID_TAG) is gone: a run killed mid-way is
    closed when the next run starts instead of staying RUNNING for ever. Returns their run ids."""
    from mlflow import MlflowClient

    client = MlflowClient()
    running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000)
    orphans = [r.info.run_id for r in running if PID_TAG in r.data.tags and not _process_alive(r.data.tags[PID_TAG])]
    for run_id in orphans:
        client.set_terminated(run_id, status="KILLED")
    return orphans


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
    all_tags = {**run_tags(standalone=parent is None), STAGE_TAG: stage, **(tags or {})}
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=stage, parent_run_id=parent, nested=parent is not None, tags=all_tags
    ) as run:
        yield run


def metric_name(name: str, stage: str | None = None) -> str:
    """A metric's MLflow name: its dotted levels as `/` sections (`policy.task.pong` → `policy/task/pong`), which the
    MLflow UI draws as one collapsible section per prefix; on the pipeline's parent run, under the stage's section."""
    name = name.replace(".", "/")
    return f"{stage}/{name}" if stage else name


def log_pipeline_metrics(stage: str, metrics: Mapping[str, float]) -> None:
    """A stage's metrics on the active (parent) run as `<stage>/<metric>`: one section per stage, none at the top."""
    import mlflow

    mlflow.log_metrics({metric_name(k, stage): float(v) for k, v in metrics.items()})


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
    mlflow.log_metrics({metric_name(k): float(v) for k, v in metrics.items()})
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


def log_tables(tables: Mapping[str, Path]) -> None:
    """Parquet files as MLflow tables of the active run (name → file; names end in .json), for the UI's table view."""
    if not tables:
        return
    import mlflow
    import pandas as pd

    for name, path in tables.items():
        mlflow.log_table(pd.read_parquet(path), artifact_file=name)
