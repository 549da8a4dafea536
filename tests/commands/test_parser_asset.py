"""`padflow parser-asset`: the shell over tasks.parser_train.build_asset (which tests/tasks/test_parser_train.py runs)."""

from pathlib import Path

from padflow.cli import main
from padflow.dvc import STAGE_EXIT_USER_ERROR

REPO = Path(__file__).resolve().parents[2]


def test_a_profile_that_always_trains_needs_an_explicit_folder(monkeypatch, capsys):
    monkeypatch.setenv("PADFLOW_ROOT", str(REPO))
    assert main(["parser-asset", "--profile", "large"]) == STAGE_EXIT_USER_ERROR
    assert "profile large: parser_train.asset is null" in capsys.readouterr().err
