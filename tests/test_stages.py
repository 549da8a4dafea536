"""A stage's figures on disk: a short headline file for `dvc metrics show`, every figure beside it, plot tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from padflow.stages import (
    HEADLINES, STAGES, details_path, key_figure, metrics_path, plots_dir, read_metrics, stages_to_run, write_metrics)

EXTRACT = {"all_button_accuracy": 0.93154, "all_stick_r2": 0.7, "videos_extracted": 24, "heldout_stick_r2": 0.6,
           "frames": 14424, "extract_wall_s": 61.2}


def test_the_headline_file_holds_the_key_figures_and_the_details_file_every_figure(tmp_path: Path):
    write_metrics(tmp_path, "extract", EXTRACT)
    assert json.loads(metrics_path(tmp_path, "extract").read_text()) == {
        "button_acc": 0.93154, "stick_r2": 0.7, "videos": 24}
    assert json.loads(details_path(tmp_path, "extract").read_text()) == EXTRACT
    assert read_metrics(tmp_path, "extract") == EXTRACT, "readers (padflow results, the flow) see every figure"
    assert key_figure("extract", EXTRACT) == "button_acc 0.9315"
    assert not plots_dir(tmp_path, "extract").exists(), "no plot tables, no folder"


def test_curves_and_plots_become_csv_tables_and_a_rerun_replaces_them(tmp_path: Path):
    write_metrics(tmp_path, "train", {"val_loss": 0.5}, curves={"train_loss": [2.0, 1.5, 1.0], "old": [1.0]})
    write_metrics(tmp_path, "train", {"val_loss": 0.4}, curves={"train_loss": [2.0, 1.0]},
                  plots={"rates_policy": [{"task": "pong", "rate": 0.5}, {"task": "doom", "rate": None}]})
    folder = plots_dir(tmp_path, "train")
    assert sorted(p.name for p in folder.iterdir()) == ["rates_policy.csv", "train_loss.csv"]
    with (folder / "train_loss.csv").open() as handle:
        assert list(csv.DictReader(handle)) == [{"step": "0", "train_loss": "2.0"}, {"step": "1", "train_loss": "1.0"}]
    assert (folder / "rates_policy.csv").read_text().splitlines() == ["task,rate", "pong,0.5", "doom,"]


def test_every_stage_has_a_headline_and_headline_names_line_up_across_stages():
    assert set(HEADLINES) == set(STAGES)
    names = {name for pairs in HEADLINES.values() for name, _ in pairs}
    assert len(names) <= 9, f"dvc metrics show prints a column per name: {sorted(names)}"


def test_a_run_on_your_own_videos_makes_no_corpus_now_or_later_until_it_reads_the_corpus_again(tmp_path: Path):
    from padflow.config import select_run

    (tmp_path / "params.yaml").write_text("ingest: {}\n")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "default.yaml").write_text("ingest: {}\n")
    assert stages_to_run(tmp_path) == list(STAGES)
    assert stages_to_run(tmp_path, ["train", "extract"]) == ["extract", "train"]  # DAG order, whatever order given
    assert "corpus" not in stages_to_run(tmp_path, None, "/videos/mine")
    select_run(tmp_path, input="/videos/mine")  # what `padflow run --input` leaves in run.yaml
    assert stages_to_run(tmp_path) == [s for s in STAGES if s != "corpus"]
    assert stages_to_run(tmp_path, None, "data/raw") == list(STAGES)
    assert stages_to_run(tmp_path, ["corpus"]) == ["corpus"]  # asked for by name: made
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['trian'\]"):
        stages_to_run(tmp_path, ["trian"])
