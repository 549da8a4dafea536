"""dvc.yaml's plots and metrics as a user reads them: `dvc plots show` draws every plot into one HTML
page, `dvc metrics show` is a table of headline figures that fits in 120 columns.

Small files stand in for a run's outputs (what padflow.stages.write_metrics and the stages write);
no stage runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from padflow.stages import STAGES, write_metrics

# A default run's figures, by the names the stages use (docs/results.md), with wide values.
RUN = {
    "corpus": {"videos": 24, "minutes": 8.013, "frames": 14424, "corpus_wall_s": 172.613},
    "ingest": {"accepted": 24, "hours_accepted": 0.133561, "rejected": 0, "ingest_wall_s": 10.0812},
    "parser_train": {"val_held_out_button_accuracy": 0.931512, "val_held_out_stick_r2": 0.667912, "parser_train_wall_s": 653.812},
    "extract": {"all_button_accuracy": 0.934121, "all_stick_r2": 0.712345, "videos_extracted": 21, "extract_wall_s": 1234.567},
    "gate": {"pct_kept": 80.6123, "hours_kept": 0.107612, "gate_wall_s": 12.3456},
    "idm_train": {"val_button_accuracy": 0.912345, "val_stick_r2": -0.123456, "idm_train_wall_s": 98.7654},
    "pseudo_label": {"labelled": 3, "pseudo_button_accuracy": 0.871234, "pseudo_stick_r2": 0.412345, "pseudo_label_wall_s": 45.678},
    "train": {"val_loss": 0.123456, "val_button_f1": 0.5, "train_wall_s": 2345.678},
    "evaluate": {"policy.overall": 0.433333, "policy.overall.ci_low": 0.301234, "policy.overall.ci_high": 0.571234,
                 "policy.held_out.overall": 0.251234, "blind.overall": 0.233333, "prior.overall": 0.201234, "random.overall": 0.1, "evaluate_wall_s": 456.789},
}
CURVES = {"parser_train": {"train_loss": [6.0, 5.0, 4.2]}, "idm_train": {"train_loss": [1.0, 0.8]},
          "train": {"train_loss": [2.0, 1.4, 1.1, 0.9]}}
PLAYERS = ("policy", "scripted", "random", "noop")
PICTURES = ("data/evaluate/plots/rates_by_task.png", "data/parser/report/confusion.png", "data/gate/density_hist.png")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, make_project) -> Path:
    """A project copy holding the metrics, plot tables and pictures a run leaves."""
    root = make_project(tmp_path_factory.mktemp("plots") / "project", profile="default")
    for stage in STAGES:
        plots = None
        if stage == "evaluate":
            plots = {f"rates_{p}": [{"task": "pong_hold_15s", "rate": 0.5}, {"task": "doom_basic_first_shot", "rate": 1.0}]
                     for p in PLAYERS}
        write_metrics(root, stage, RUN[stage], CURVES.get(stage), plots)
    for rel in PICTURES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((24, 32, 3), 128, np.uint8)).save(root / rel)
    return root


def dvc(root: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "400"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_dvc_plots_show_draws_every_plot_into_one_html_page(finished: Path):
    dvc(finished, "plots", "show", "-o", "plots_html")
    page = (finished / "plots_html" / "index.html").read_text()
    drawn = re.findall(r"vegaEmbed\('#([^']+)'", page)
    assert drawn == ["parser_training_loss", "policy_training_loss", "IDM_training_loss", "completion_rate_by_task"]
    for player in PLAYERS:
        assert f"rates_{player}.csv" in page, "one panel per player"
    assert '"train_loss": "1.4"' in page or '"train_loss": 1.4' in page, "the curve's values are in the page"
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == len(PICTURES) and all((finished / "plots_html" / src).is_file() for src in images)


def test_dvc_metrics_show_is_a_row_per_stage_within_120_columns(finished: Path):
    table = dvc(finished, "metrics", "show").rstrip("\n").splitlines()
    print("\n".join(table))
    assert max(len(line) for line in table) <= 120, [len(line) for line in table]
    rows = [line for line in table if line.startswith("metrics/")]
    assert [r.split()[0] for r in rows] == [f"metrics/{s}.json" for s in STAGES], "in pipeline order"
    header = table[0].split()
    assert header[0] == "Path" and {"button_acc", "completion", "held_out", "blind", "videos"} <= set(header)
