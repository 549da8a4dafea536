"""The backbone end to end on the debug profile: real DVC stages, a real Prefect run, a real MLflow store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from padflow import tracking
from padflow.stages import read_metrics

pytestmark = pytest.mark.slow

BACKBONE = ["corpus", "ingest"]


def dvc(root: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def lock_hashes(root: Path) -> dict[str, str]:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {
        f"{stage}:{out['path']}": out["md5"]
        for stage, body in lock["stages"].items()
        for out in body.get("outs", [])
    }


def client(root: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking.tracking_uri(root))


def test_dvc_repro_builds_corpus_and_ingest_then_does_nothing(project: Path):
    first = dvc(project, "repro", "ingest")
    assert "Running stage 'corpus'" in first and "Running stage 'ingest'" in first
    raw = sorted((project / "data/raw").glob("*.mp4"))
    assert len(raw) == 4, "the debug corpus makes four videos"
    assert not list((project / "data/raw").glob("*.parquet")), "ground truth stays out of what ingest reads"
    assert len(list((project / "data/corpus_truth").glob("*.parquet"))) == 4
    report = json.loads((project / "data/ingest/ingest_report.json").read_text())
    assert {row["status"] for row in report["files"]} == {"accepted"}
    assert set(lock_hashes(project)) >= {"corpus:data/raw", "corpus:data/corpus_truth", "ingest:data/ingest"}

    second = dvc(project, "repro", "ingest")
    assert "Running stage" not in second

    metrics = read_metrics(project, "corpus")
    assert metrics["videos"] == 4 and metrics["share_no_overlay"] == 0.25 and metrics["frames_per_s"] > 0
    runs = client(project).search_runs(
        [client(project).get_experiment_by_name("padflow").experiment_id], order_by=["start_time ASC"]
    )
    assert [r.info.run_name for r in runs] == ["corpus", "ingest"], "plain dvc repro logs one run per stage"


def test_flow_runs_stages_as_nested_mlflow_runs_and_matches_dvc(project: Path, prefect_harness):
    from flows.pipeline import SUMMARY_ARTIFACT, pipeline

    summary = pipeline(stages=BACKBONE, root=str(project))
    result = summary.metrics
    assert result["corpus"]["videos"] == 4 and result["ingest"]["accepted"] == 4
    assert [(s.stage, s.ran, s.figure) for s in summary.stages] == [("corpus", True, "videos 4"), ("ingest", True, "videos 4")]
    assert summary.places["MLflow run"].endswith(f"/runs/{summary.run_id}")
    assert summary.places["rates"] == str(project / "data/evaluate/rates.md")

    mlflow = client(project)
    experiment = mlflow.get_experiment_by_name("padflow").experiment_id
    [parent] = mlflow.search_runs([experiment], filter_string=f"tags.{tracking.PIPELINE_TAG} = 'true'")
    children = {
        r.info.run_name: r
        for r in mlflow.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    }
    assert set(children) == set(BACKBONE)
    corpus = children["corpus"]
    assert corpus.data.params["corpus.videos"] == "4" and corpus.data.params["corpus.max_lag_frames"] == "2"
    assert corpus.data.metrics["share_no_overlay"] == 0.25 and "frames_per_s" in corpus.data.metrics
    artifacts = {a.path for a in mlflow.list_artifacts(corpus.info.run_id, "corpus")}
    assert "corpus/contact_sheet.png" in artifacts
    ingest = children["ingest"]
    assert ingest.data.metrics["accepted"] == 4
    assert any(a.path.endswith("ingest_report.json") for a in mlflow.list_artifacts(ingest.info.run_id, "ingest"))
    assert parent.data.metrics["corpus/videos"] == 4  # one MLflow section per stage

    # The flow went through DVC: plain `dvc repro` now has nothing left to do.
    assert "Running stage" not in dvc(project, "repro", "ingest")

    # A second pipeline run skips both stages in DVC but still gets a nested run per stage.
    pipeline(stages=BACKBONE, root=str(project))
    parents = mlflow.search_runs([experiment], filter_string=f"tags.{tracking.PIPELINE_TAG} = 'true'",
                                 order_by=["start_time DESC"])
    cached = mlflow.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")
    assert {r.info.run_name for r in cached} == set(BACKBONE)
    assert all(r.data.tags.get("padflow.cached") == "true" for r in cached)
    assert all(r.data.metrics for r in cached), "a skipped stage still reports its last metrics"

    # Each run publishes its summary table as a Prefect markdown artifact.
    from prefect.artifacts import Artifact

    artifact = Artifact.get(SUMMARY_ARTIFACT)
    assert "| corpus | skipped (up to date) |" in artifact.data and parents[0].info.run_id in artifact.data


def test_unreachable_tracking_server_fails_before_any_stage(project: Path, prefect_harness, monkeypatch):
    from flows.pipeline import pipeline

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(tracking.TrackingUnavailable, match="http://127.0.0.1:9 is unreachable"):
        pipeline(stages=BACKBONE, root=str(project))
    assert not (project / "data").exists(), "no stage ran"


def test_whole_pipeline_reproduces_and_a_gate_param_reruns_only_what_follows_it(project: Path):
    first = dvc(project, "repro")
    for stage in ("corpus", "ingest", "parser_train", "extract", "gate", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first, stage
    assert "Running stage" not in dvc(project, "repro"), "a second repro is a no-op"

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["gate"]["min_action_density"] = 0.4
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    again = dvc(project, "repro")
    ran = {stage for stage in ("corpus", "ingest", "parser_train", "extract", "gate", "train", "evaluate")
           if f"Running stage '{stage}'" in again}
    assert "gate" in ran and ran <= {"gate", "train", "evaluate"}, "nothing upstream of the gate re-runs"
    gate = read_metrics(project, "gate")
    assert {"hours_in", "hours_kept", "pct_kept", "chunks_kept"} <= set(gate)


def test_where_to_look_names_the_files_the_stages_write():
    import flows.pipeline as flow
    import tasks.evaluate
    import tasks.train

    assert (flow.RATES_FILE, flow.ROLLOUT_DIR, flow.POLICY_DIR) == (
        tasks.evaluate.MARKDOWN_FILE, tasks.evaluate.ROLLOUT_DIR, tasks.train.POLICY_DIR)
