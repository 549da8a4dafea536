"""`padflow results` renders the figures a run wrote, and refuses when there are none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from padflow.commands.results import render

REPO = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path) -> Path:
    for name in ("params.yaml", "run.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    return tmp_path


def test_the_page_holds_every_metric_a_run_wrote_and_the_rates_table(tmp_path: Path):
    root = _project(tmp_path)
    (root / "metrics").mkdir()
    (root / "metrics" / "gate.json").write_text(json.dumps({"kept_hours_share": 0.806, "tables_accepted": 21}))
    (root / "metrics" / "evaluate.json").write_text(json.dumps({"policy_rate": 0.4333}))
    (root / "data" / "evaluate").mkdir(parents=True)
    (root / "data" / "evaluate" / "rates.md").write_text("| task | policy |\n|---|---|\n| pong_hold_15s | 1.00 |\n")

    page = render(root)

    assert "| `kept_hours_share` | 0.806 |" in page
    assert "| `tables_accepted` | 21 |" in page
    assert "| `policy_rate` | 0.4333 |" in page
    assert "| pong_hold_15s | 1.00 |" in page
    assert page.index("## gate") < page.index("## evaluate")  # pipeline order, not file order
    assert "## train" not in page  # a stage with no metrics file gets no section


def test_no_metrics_is_an_error_that_says_what_to_run(tmp_path: Path):
    with pytest.raises(ValueError, match="no metrics files; run the pipeline first"):
        render(_project(tmp_path))
