"""`dvc repro` from Python: a failure says whether a retry may help (the flow retries only those)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from padflow.dvc import STAGE_EXIT_TRANSIENT, STAGE_EXIT_USER_ERROR, DvcError, repro_stage


def tiny_repo(root: Path, exit_code: int) -> Path:
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text(f"stages:\n  step:\n    cmd: {sys.executable} -c \"raise SystemExit({exit_code})\"\n")
    return root


@pytest.mark.parametrize("exit_code, transient", [(STAGE_EXIT_USER_ERROR, False), (STAGE_EXIT_TRANSIENT, True), (1, False)])
def test_a_failed_stage_is_transient_only_when_its_command_says_so(tmp_path: Path, exit_code: int, transient: bool):
    with pytest.raises(DvcError) as failed:
        repro_stage(tiny_repo(tmp_path / "repo", exit_code), "step")
    assert failed.value.stage == "step" and failed.value.stage_exit == exit_code
    assert failed.value.transient is transient


def test_dvc_lock_contention_is_transient():
    log = "ERROR: Unable to acquire lock. Most likely another DVC process is running or was terminated abruptly."
    assert DvcError("dvc repro step failed", stage="step", log=log, stage_exit=None).transient
    assert not DvcError("dvc repro step failed", stage="step", log="ERROR: unexpected error", stage_exit=None).transient


def test_the_flow_retries_only_what_may_pass(tmp_path: Path):
    from prefect.states import Failed

    from flows.pipeline import may_pass_on_retry
    from padflow.tracking import TrackingUnavailable

    def retried(exc: BaseException) -> bool:
        return may_pass_on_retry(None, None, Failed(data=exc))

    assert retried(DvcError("x", stage="s", log="", stage_exit=STAGE_EXIT_TRANSIENT))
    assert not retried(DvcError("x", stage="s", log="", stage_exit=STAGE_EXIT_USER_ERROR))
    assert retried(OSError("disk")) and retried(TrackingUnavailable("down"))
    assert not retried(ValueError("train.lr: must be > 0"))


def test_stages_chosen_without_the_stages_that_write_their_inputs_are_named_before_any_runs(tmp_path: Path, make_project):
    from padflow.dvc import unmade_inputs
    from padflow.stages import STAGES

    project = make_project(tmp_path / "project")  # a fresh clone: no stage has run
    assert unmade_inputs(project, STAGES) == []  # the whole pipeline writes what it reads, in order
    train_alone = unmade_inputs(project, ["train"])
    assert any("data/pseudo_label" in p and "stage pseudo_label writes" in p for p in train_alone)
    assert any("data/extract" in p and "stage extract writes" in p for p in train_alone)
    assert unmade_inputs(project, ["ingest"]) == [
        "stage ingest reads data/raw, which stage corpus writes and no earlier run left: run corpus first or add it to --stages"]
    # Your own videos (padflow run --input DIR): every stage but corpus, and none of them needs the corpus's outputs.
    videos = tmp_path / "videos"
    videos.mkdir()
    assert unmade_inputs(project, [s for s in STAGES if s != "corpus"], str(videos)) == []
    (project / "data" / "pseudo_label").mkdir(parents=True)  # what an earlier run left counts
    assert not any("data/pseudo_label" in p for p in unmade_inputs(project, ["train"]))
