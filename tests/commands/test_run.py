"""`padflow run` checks what a user can get wrong before Prefect loads or any stage runs: one line, no traceback."""

from __future__ import annotations

import io
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def project(tmp_path_factory, make_project) -> Path:
    return make_project(tmp_path_factory.mktemp("run") / "project")


def padflow(root: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run the real CLI in `root`; (process, wall seconds, CPU seconds of the child)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PADFLOW_DEBUG")}
    environ.update(PADFLOW_ROOT=str(root), **env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "padflow.cli", *args], cwd=root, env=environ,
                          capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def nothing_ran(root: Path) -> bool:
    return not any((root / name).exists() for name in ("data", "metrics", "mlflow.db", "mlartifacts", "dvc.lock"))


def with_train_lr(root: Path, value: str) -> str:
    """Set params.yaml's train.lr to `value`; returns the original text."""
    text = (root / "params.yaml").read_text()
    train = text.index("\ntrain:")
    bad = text[:train] + re.sub(r"\n  lr: [^\n#]*", f"\n  lr: {value} ", text[train:], count=1)
    (root / "params.yaml").write_text(bad)
    return text


def test_a_bad_train_lr_fails_at_once_before_any_stage(project):
    original = with_train_lr(project, "fast")
    run_yaml = (project / "run.yaml").read_text()
    try:
        proc, wall, cpu = padflow(project, "run", "--profile", "default")
    finally:
        (project / "params.yaml").write_text(original)
    print(f"bad train.lr: exit {proc.returncode} after {wall:.1f} s wall, {cpu:.2f} s CPU")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "train.lr" in proc.stderr and "'fast'" in proc.stderr and "params.yaml" in proc.stderr
    assert cpu < 5.0  # CPU, not wall: the check must not wait on torch, Prefect or a stage (wall depends on the machine's load)
    assert nothing_ran(project) and (project / "run.yaml").read_text() == run_yaml  # not even the profile switched


def test_debug_adds_the_traceback(project):
    original = with_train_lr(project, "-1")
    try:
        proc, _, _ = padflow(project, "--debug", "run")
    finally:
        (project / "params.yaml").write_text(original)
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "train.lr" in proc.stderr


def test_an_unreachable_tracking_server_and_a_missing_input_are_one_line_each(project):
    proc, _, _ = padflow(project, "run", MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    assert proc.returncode == 75 and proc.stderr.count("\n") == 1 and "http://127.0.0.1:9" in proc.stderr
    proc, _, _ = padflow(project, "run", "--input", str(project / "no-such-videos"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no-such-videos" in proc.stderr
    assert nothing_ran(project)


def test_stages_whose_inputs_no_chosen_stage_writes_fail_at_once_naming_the_writer(project):
    proc, _, cpu = padflow(project, "run", "--stages", "extract", "train")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "stage train reads data/pseudo_label, which stage pseudo_label writes" in proc.stderr
    assert "stage extract reads data/ingest, which stage ingest writes" in proc.stderr
    assert cpu < 5.0 and nothing_ran(project)


def test_a_bad_set_value_fails_at_once_naming_the_key_and_changes_nothing(project):
    run_yaml, params = (project / "run.yaml").read_text(), (project / "params.yaml").read_text()
    proc, _, cpu = padflow(project, "run", "--set", "train.lr=fast")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "train.lr" in proc.stderr and "'fast'" in proc.stderr and "--set" in proc.stderr
    proc, _, _ = padflow(project, "run", "--set", "trian.lr=1")
    assert proc.returncode == 2 and "trian is not a section" in proc.stderr
    assert cpu < 5.0 and nothing_ran(project)
    assert (project / "run.yaml").read_text() == run_yaml and (project / "params.yaml").read_text() == params


def test_the_run_ends_with_a_table_of_stages_and_where_to_look():
    from rich.console import Console

    from flows.pipeline import PipelineSummary, StageSummary
    from padflow.commands.run import print_summary

    summary = PipelineSummary(
        run_id="0123456789abcdef", experiment_id="1", tracking_uri="sqlite:////p/mlflow.db", profile="debug",
        overrides={"train": {"lr": 0.0003}},
        stages=[StageSummary("corpus", False, 1.4, "videos 4"), StageSummary("train", True, 125.0, "val_loss 0.4321"),
                StageSummary("evaluate", True, 61.0, "")],
        metrics={}, places={"MLflow run": "http://127.0.0.1:5000/#/experiments/1/runs/0123456789abcdef",
                            "rates": "/p/data/evaluate/rates.md", "rollout GIFs": "/p/data/evaluate/rollouts"})
    screen = Console(width=100, record=True, force_terminal=False, file=io.StringIO())
    print_summary(summary, screen)
    text = screen.export_text()
    lines = text.splitlines()
    assert lines[0].strip() == "pipeline run 01234567 (profile debug)"
    row = next(line for line in lines if "train" in line and "val_loss" in line)
    assert "ran" in row and "2 min 05 s" in row and "val_loss 0.4321" in row
    assert any("corpus" in line and "skipped (up to date)" in line and "1.4 s" in line for line in lines)
    assert "overrides (run.yaml): train.lr=0.0003" in text
    assert "rollout GIFs  /p/data/evaluate/rollouts" in text and "runs/0123456789abcdef" in text
    assert "| train | ran | 2 min 05 s | val_loss 0.4321 |" in summary.markdown()  # the Prefect artifact
