"""The nightly pipeline as a Prefect flow: each stage is a DVC stage, run in DAG order.

Reads like its table of contents: check the tracking store, open the pipeline's MLflow parent
run, reproduce each stage through DVC (so dvc.lock records it), and make sure every stage has a
nested run, even one that DVC skipped because nothing changed. Prefect works at this level only:
inside a stage, per-item work fans out through padflow.fanout.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from padflow import tracking
from padflow.config import load_params, project_root, select_run
from padflow.dvc import DvcError, repro_stage
from padflow.params_schema import load_checked_params
from padflow.stages import STAGES, read_metrics


def may_pass_on_retry(task, task_run, state) -> bool:
    """Prefect's retry_condition_fn: retry only what can be transient (another DVC process holding
    the lock, an I/O error, a tracking server that did not answer), never a stage's own error (a
    bad config or input fails the same way every time)."""
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, DvcError):
        return exc.transient
    return isinstance(exc, (OSError, tracking.TrackingUnavailable))


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=may_pass_on_retry, cache_policy=NO_CACHE,
      task_run_name="{stage}")
def reproduce(stage: str, root: str, parent_run_id: str) -> bool:
    """One DVC stage; True when it ran, False when DVC found it up to date."""
    env = {tracking.PARENT_RUN_ENV: parent_run_id, "MLFLOW_TRACKING_URI": tracking.tracking_uri(Path(root))}
    outcome = repro_stage(Path(root), stage, env)
    get_run_logger().info("%s: %s", stage, "ran" if outcome.ran else "up to date, skipped")
    return outcome.ran


@task(cache_policy=NO_CACHE, task_run_name="{stage}-cached")
def record_skipped_stage(stage: str, root: str, parent_run_id: str) -> None:
    """Give a stage DVC skipped its nested run too, from the metrics its last run wrote."""
    import mlflow

    root_path = Path(root)
    params = load_params(root_path / "params.yaml")
    experiment_id = tracking.setup(root_path)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=stage, parent_run_id=parent_run_id, nested=True,
        tags={tracking.STAGE_TAG: stage, "padflow.cached": "true"},
    ):
        tracking.log_stage(params.get(stage, {}), read_metrics(root_path, stage))


@flow(name="pipeline", log_prints=True)
def pipeline(
    profile: str | None = None,
    input_dir: str | None = None,
    stages: list[str] | None = None,
    root: str | None = None,
) -> dict:
    """Run the stages (default: all, in order) and return {stage: metrics}.

    `profile` selects profiles/<profile>.yaml; `input_dir` points ingest at a folder or
    manifest of the user's own videos instead of the corpus (which is then not made). Both are
    written into run.yaml (select_run), so `dvc repro` sees exactly what this run used.
    """
    import mlflow

    root_path = Path(root).resolve() if root else project_root()
    chosen = list(stages or STAGES)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
    load_checked_params(root_path, profile)  # the whole params.yaml, before run.yaml changes or any stage runs
    if profile:
        select_run(root_path, profile=profile)
    if input_dir:
        source = Path(input_dir).expanduser().resolve()
        if not source.exists():
            raise ValueError(f"input_dir {source} does not exist")
        select_run(root_path, input=str(source))
        chosen = [s for s in chosen if s != "corpus"]
    experiment_id = tracking.setup(root_path)  # raises TrackingUnavailable before any stage runs
    params = load_params(root_path / "params.yaml")
    with mlflow.start_run(
        experiment_id=experiment_id, run_name="pipeline",
        tags={tracking.PIPELINE_TAG: "true", "padflow.profile": str(params.get("profile", ""))},
    ) as parent:
        mlflow.log_params({"profile": str(params.get("profile", "")), "stages": ",".join(chosen)})
        for stage in chosen:
            ran = reproduce(stage, str(root_path), parent.info.run_id)
            if not ran:
                record_skipped_stage(stage, str(root_path), parent.info.run_id)
            for name, value in read_metrics(root_path, stage).items():
                mlflow.log_metric(f"{stage}.{name}", value)
    return {stage: read_metrics(root_path, stage) for stage in chosen}
