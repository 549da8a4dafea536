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
