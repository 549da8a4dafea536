"""The nightly pipeline as a Prefect flow: each stage is a DVC stage, run in DAG order.

Reads like its table of contents: check the tracking store, open the pipeline's MLflow parent
run, reproduce each stage through DVC (so dvc.lock records it), and make sure every stage has a
nested run, even one that DVC skipped because nothing changed; end with a summary (per stage: ran
or skipped, time, key figure; where to look), returned and published as a markdown artifact.

Prefect works at this level only: inside a stage, per-item work fans out through padflow.fanout,
which never starts a flow of its own (no top-level run per fan-out); the stage's progress lines
(padflow.progress) stream into its task run's log as they come.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from padflow import tracking
from padflow.config import format_overrides, load_params, project_root, read_run, select_run
from padflow.dvc import DvcError, planned_run, repro_stage
from padflow.params_schema import load_checked_params
from padflow.progress import duration
from padflow.stages import key_figure, read_metrics

SUMMARY_ARTIFACT = "pipeline-summary"  # the Prefect markdown artifact's key: each run adds a version
# Where a run's results are, under the stages' out_dir: the names tasks/evaluate.py (MARKDOWN_FILE,
# ROLLOUT_DIR) and tasks/train.py (POLICY_DIR) write (tests/flows/test_pipeline.py checks they agree;
# importing the stages here would load torch into the flow's process for three names).
RATES_FILE, ROLLOUT_DIR, POLICY_DIR = "rates.md", "rollouts", "policy"


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
    """One DVC stage; True when it ran, False when DVC found it up to date. The stage's output (its
    start and end lines, its progress lines: padflow.progress) is this task run's log as it comes."""
    logger = get_run_logger()
    env = {tracking.PARENT_RUN_ENV: parent_run_id, "MLFLOW_TRACKING_URI": tracking.tracking_uri(Path(root))}
    outcome = repro_stage(Path(root), stage, env, on_line=lambda line: logger.info(line) if line.strip() else None)
    logger.info("%s: %s", stage, "ran" if outcome.ran else "up to date, skipped")
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
        tags={**tracking.run_tags(standalone=False), tracking.STAGE_TAG: stage, "padflow.cached": "true"},
    ):
        tracking.log_stage(params.get(stage, {}), read_metrics(root_path, stage))


@dataclass(frozen=True)
class StageSummary:
    stage: str
    ran: bool  # False: DVC found it up to date (or restored it from its run cache)
    seconds: float  # wall time in the flow, DVC included
    figure: str  # the stage's key figure, e.g. "button_acc 0.93" (padflow.stages.HEADLINES)


@dataclass(frozen=True)
class PipelineSummary:
    """What a pipeline run did and where to look: the flow's return value."""

    run_id: str  # the MLflow parent run
    experiment_id: str
    tracking_uri: str
    profile: str
    overrides: dict[str, Any]
    stages: list[StageSummary]
    metrics: dict[str, dict[str, float]]  # stage → every figure its last run wrote
    places: dict[str, str] = field(default_factory=dict)  # what → path or URL

    def markdown(self) -> str:
        """The summary table and where to look, as markdown (the Prefect artifact; the terminal draws the same)."""
        lines = ["| stage | ran | time | headline |", "|---|---|---|---|"]
        lines += [f"| {s.stage} | {'ran' if s.ran else 'skipped (up to date)'} | {duration(s.seconds)} | {s.figure or '—'} |"
                  for s in self.stages]
        lines += ["", f"profile `{self.profile}`" + (f", overrides `{format_overrides(self.overrides)}`" if self.overrides else "")]
        lines += [f"- **{what}**: `{where}`" for what, where in self.places.items()]
        return "\n".join(lines) + "\n"


def mlflow_run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page: on the tracking server, or on `mlflow ui` over the project's store (started as the README says)."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith("http") else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def places(root: Path, params: dict[str, Any], tracking_uri: str, experiment_id: str, run_id: str) -> dict[str, str]:
    """Where to look after a run: the MLflow run, the rates table, the rollout GIFs, the policy, the figures."""
    out = {"MLflow run": mlflow_run_url(tracking_uri, experiment_id, run_id)}
    if not tracking_uri.startswith("http"):
        out["MLflow UI"] = f"uv run mlflow ui --backend-store-uri {tracking_uri} --host 127.0.0.1 --port 5000"
    evaluate_dir = root / str((params.get("evaluate") or {}).get("out_dir", "data/evaluate"))
    train_dir = root / str((params.get("train") or {}).get("out_dir", "data/train"))
    out.update({"rates": str(evaluate_dir / RATES_FILE), "rollout GIFs": str(evaluate_dir / ROLLOUT_DIR),
                "policy": str(train_dir / POLICY_DIR), "every figure": str(root / "metrics" / "details"),
                "plots": "uv run dvc plots show"})
    return out


@flow(name="pipeline", log_prints=True)
def pipeline(
    profile: str | None = None,
    input_dir: str | None = None,
    stages: list[str] | None = None,
    root: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> PipelineSummary:
    """Run the stages (default: all, in order); returns what ran, the figures and where to look.

    `profile` selects profiles/<profile>.yaml; `input_dir` points ingest at a folder or manifest of
    the user's own videos instead of the corpus (which is then not made, in this run and the next ones,
    until `input_dir` is the corpus's folder, data/raw, again: padflow.stages.stages_to_run); `overrides`
    ({section: {key: value}}, `padflow run --set`) are laid over the profile (None keeps run.yaml's,
    {} clears them). All three are written into run.yaml (select_run), so `dvc repro` sees exactly
    what this run used. The summary is also this flow run's markdown artifact (`pipeline-summary`).
    """
    import mlflow
    from prefect.artifacts import create_markdown_artifact

    root_path = Path(root).resolve() if root else project_root()
    # the whole params.yaml, before run.yaml changes or any stage runs
    load_checked_params(root_path, profile, overrides)
    source, chosen = planned_run(root_path, stages, input_dir, "input_dir")
    select_run(root_path, profile=profile, input=source, overrides=overrides)
    experiment_id = tracking.setup(root_path)  # raises TrackingUnavailable before any stage runs
    params = load_params(root_path / "params.yaml")
    run_overrides = {k: v for k, v in read_run(root_path)["overrides"].items() if v}
    done: list[StageSummary] = []
    with mlflow.start_run(
        experiment_id=experiment_id, run_name="pipeline",
        tags={**tracking.run_tags(standalone=False), tracking.PIPELINE_TAG: "true", "padflow.profile": str(params.get("profile", ""))},
    ) as parent:
        mlflow.log_params({"profile": str(params.get("profile", "")), "stages": ",".join(chosen),
                           "overrides": format_overrides(run_overrides) or "none"})
        for stage in chosen:
            started = time.monotonic()
            ran = reproduce(stage, str(root_path), parent.info.run_id)
            if not ran:
                record_skipped_stage(stage, str(root_path), parent.info.run_id)
            metrics = read_metrics(root_path, stage)
            tracking.log_pipeline_metrics(stage, metrics)
            done.append(StageSummary(stage, ran, time.monotonic() - started, key_figure(stage, metrics)))
    uri = tracking.tracking_uri(root_path)
    summary = PipelineSummary(
        run_id=parent.info.run_id, experiment_id=str(experiment_id), tracking_uri=uri, profile=str(params.get("profile", "")),
        overrides=run_overrides, stages=done, metrics={stage: read_metrics(root_path, stage) for stage in chosen},
        places=places(root_path, params, uri, str(experiment_id), parent.info.run_id),
    )
    create_markdown_artifact(markdown=summary.markdown(), key=SUMMARY_ARTIFACT,
                             description="padflow pipeline run: per stage ran/skipped, time, headline figure; where to look")
    return summary

