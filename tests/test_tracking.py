import shutil
from pathlib import Path

import pytest

from padflow import tracking


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def log_a_stage(root: Path, note: str) -> str:
    (root / "note.txt").write_text(note)
    with tracking.stage_run(root, "corpus") as run:
        tracking.log_stage({"seed": 0}, {"videos": 1.0}, {"corpus": root / "note.txt"})
    return run.info.run_id


def test_a_copied_project_writes_its_artifacts_only_inside_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    original = tmp_path / "original"
    original.mkdir()
    first = log_a_stage(original, "logged in the original")
    before = files_under(original)
    assert any(name.endswith("corpus/note.txt") for name in before)

    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    second = log_a_stage(copy, "logged in the copy")
    assert files_under(original) == before  # nothing new in the original
    assert any(second in name and name.endswith("note.txt") for name in files_under(copy / "mlartifacts"))
    # What the copy logged before it was copied is read from the copy.
    mlflow.set_tracking_uri(tracking.tracking_uri(copy))
    uri = mlflow.get_run(first).info.artifact_uri
    assert uri.startswith((copy / "mlartifacts").resolve().as_uri())
    listed = mlflow.artifacts.download_artifacts(run_id=first, artifact_path="corpus/note.txt", dst_path=str(tmp_path / "dl"))
    assert Path(listed).read_text() == "logged in the original"


def test_a_bare_stage_run_is_tagged_and_a_run_left_running_by_a_dead_process_is_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import socket
    import subprocess

    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    experiment_id = tracking.setup(tmp_path)
    client = mlflow.MlflowClient()
    assert "pipeline" in client.get_experiment(experiment_id).tags[tracking.NOTE_TAG]  # the UI's description
    ended = subprocess.Popen(["true"])  # a process that opened a run and died without closing it
    ended.wait()
    dead = f"{socket.gethostname()}:{ended.pid}:"
    killed = client.create_run(experiment_id, tags={tracking.PID_TAG: dead}, run_name="killed")
    alive = client.create_run(experiment_id, tags=tracking.run_tags(standalone=True), run_name="still running")

    with tracking.stage_run(tmp_path, "corpus") as run:  # the next run starts
        pass
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"  # this process lives
    tags = client.get_run(run.info.run_id).data.tags
    assert tags[tracking.STANDALONE_TAG] == "true"  # no pipeline parent: filtered out by PIPELINE_RUNS_FILTER
    shown = client.search_runs([experiment_id], filter_string=tracking.PIPELINE_RUNS_FILTER)
    assert alive.info.run_id not in {r.info.run_id for r in shown} and run.info.run_id not in {r.info.run_id for r in shown}
    client.set_terminated(alive.info.run_id)
