"""pseudo_label: an overlay-free video is labelled by the IDM in extract's table format and checked by the gate's suite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.idm import IdmConfig, InverseDynamicsModel, save_idm
from models.idm.scoring import SCORES_FILE
from padflow.actions import ACTION_INDEX
from padflow.chunking import ChunkRule
from padflow.io import write_json
from padflow.tables import read_action_table, read_chunk_index, table_observed, table_to_actions
from padflow.video import write_mp4
from tasks.pseudo_label import REPORT_FILE, PseudoLabelConfig, pseudo_label

FRAMES = 40
EVERY_CHUNK = ChunkRule(chunk_size=8, chunk_stride=8, min_action_density=0.0, static_threshold=0.0)  # keeps all 5 chunks
TINY = IdmConfig(image_size=16, window=8, channels=(8, 8, 16), grid=2, width=16, layers=1, heads=2)


ALL_AXES = {"LEFT_X": 0.5, "LEFT_Y": 0.5, "RIGHT_X": 0.5, "RIGHT_Y": 0.5}


def make_overlay_free_project(root: Path, val_f1: float | None = 0.5, val_r2: dict | None = None) -> None:
    """One ingested video extract found no overlay in, and an IDM to label it with idm_train's validation figures."""
    frames = np.full((FRAMES, 48, 64, 3), 40, np.uint8)
    for i in range(FRAMES):
        frames[i, 10:30, 10 + i : 18 + i] = (230, 200, 60)
    write_mp4(root / "data/ingest/videos/n0.mp4", frames, 30.0, crf=18, preset="ultrafast")
    write_json(root / "data/ingest/ingest_report.json", {"config": {"fps": 30.0}, "files": [
        {"status": "accepted", "video_id": "n0", "output": "videos/n0.mp4", "frames_out": FRAMES, "path": "n0.mp4"}]})
    write_json(root / "data/extract/extract_report.json", {"videos": [
        {"video_id": "n0", "status": "no_overlay", "source": "n0.mp4"}]})
    save_idm(InverseDynamicsModel(TINY), root / "data/idm")
    write_json(root / "data/idm" / SCORES_FILE, {"val": {"button_f1": val_f1, "stick_r2_within_axes": ALL_AXES if val_r2 is None else val_r2}})


def test_a_pseudo_labelled_table_passes_the_gate_suite_and_records_its_source(tmp_path: Path):
    make_overlay_free_project(tmp_path)
    report = pseudo_label(PseudoLabelConfig(min_confidence=0.5), tmp_path, EVERY_CHUNK)
    [row] = report["videos"]
    assert row["status"] == "labelled" and row["reasons"] == []
    table = read_action_table(tmp_path / "data/pseudo_label/n0.parquet")
    actions = table_to_actions(table)
    assert actions.shape == (FRAMES, 21)
    confidence = table.column("confidence").to_numpy()
    assert ((confidence >= 0.5) & (confidence <= 1.0)).all()
    record = json.loads((tmp_path / "data/pseudo_label/n0.json").read_text())
    assert record["source"] == "idm" and record["inliers"] is None
    assert (tmp_path / "data/pseudo_label" / REPORT_FILE).is_file()
    # labelling leaves torch's autograd as it found it: a training step run after it in the same process still learns
    assert torch.is_grad_enabled()


def test_an_unsure_idm_is_quarantined_by_the_confidence_expectation(tmp_path: Path):
    make_overlay_free_project(tmp_path)
    report = pseudo_label(PseudoLabelConfig(min_confidence=0.999, max_low_confidence_share=0.1), tmp_path, EVERY_CHUNK)
    [row] = report["videos"]
    assert row["status"] == "quarantined" and "low_confidence" in row["reasons"]
    assert row["chunks_kept"] == 0 and read_chunk_index(tmp_path / "data/pseudo_label/chunks.parquet", allow_empty=True).empty


def test_labelled_tables_are_cut_into_idm_chunks_the_policy_can_train_on(tmp_path: Path):
    make_overlay_free_project(tmp_path)
    report = pseudo_label(PseudoLabelConfig(min_confidence=0.5), tmp_path, EVERY_CHUNK)
    index = read_chunk_index(tmp_path / "data/pseudo_label/chunks.parquet")
    assert report["videos"][0]["chunks_kept"] == len(index) == FRAMES // 8
    assert index["start_frame"].tolist() == [0, 8, 16, 24, 32]
    assert set(index["label_source"]) == {"idm"} and all(list(b) == [0, 0, 0, 0] for b in index["overlay_box"])
    # the index names the table where the stage left it, not its work folder
    assert set(index["table_path"]) == {"data/pseudo_label/n0.parquet"}
    assert (tmp_path / "data/pseudo_label/n0.parquet").is_file()
    assert list(index["game_box"].iloc[0]) == [0, 0, 64, 48]


def test_an_idm_at_the_never_press_baseline_keeps_its_labels_out_of_training(tmp_path: Path):
    make_overlay_free_project(tmp_path, val_f1=0.0, val_r2={"LEFT_X": 0.0, "LEFT_Y": -0.2, "RIGHT_X": None, "RIGHT_Y": None})
    report = pseudo_label(PseudoLabelConfig(min_confidence=0.5), tmp_path, EVERY_CHUNK)
    admission = report["idm_admission"]
    assert admission["admitted"] == [] and admission["reasons"][0] == "buttons: validation F1 0.0 below 0.2"
    assert "RIGHT_Y: validation R² within video unmeasured below 0.1" in admission["reasons"]
    [row] = report["videos"]
    # labelled, checked and written as before, so it can be scored; the index train reads is empty
    assert row["status"] == "labelled" and row["chunks_kept"] == 0
    assert (tmp_path / "data/pseudo_label/n0.parquet").is_file()
    assert read_chunk_index(tmp_path / "data/pseudo_label/chunks.parquet", allow_empty=True).empty


def test_only_the_controls_the_idm_reads_well_train_the_policy(tmp_path: Path):
    make_overlay_free_project(tmp_path, val_f1=0.05, val_r2={"LEFT_X": 0.6, "LEFT_Y": 0.4, "RIGHT_X": -0.2, "RIGHT_Y": None})
    # an unsure IDM's buttons would fail the confidence bar; not admitted, they are not checked or trained on
    report = pseudo_label(PseudoLabelConfig(min_confidence=0.999, max_low_confidence_share=0.1), tmp_path, EVERY_CHUNK)
    assert report["idm_admission"]["admitted"] == ["LEFT_X", "LEFT_Y"]
    assert report["videos"][0]["status"] == "labelled"
    index = read_chunk_index(tmp_path / "data/pseudo_label/chunks.parquet")
    observed = np.stack(index["observed"].to_numpy())
    assert observed.sum(axis=1).tolist() == [2] * len(index)
    assert observed[:, ACTION_INDEX["LEFT_X"]].all() and not observed[:, ACTION_INDEX["SOUTH"]].any()
    # the table keeps every reading, for the score against truth
    assert table_observed(read_action_table(tmp_path / "data/pseudo_label/n0.parquet")).all()


def test_an_idm_exported_without_its_scores_is_named(tmp_path: Path):
    make_overlay_free_project(tmp_path)
    (tmp_path / "data/idm" / SCORES_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="scores.json"):
        pseudo_label(PseudoLabelConfig(min_confidence=0.5), tmp_path, EVERY_CHUNK)


def make_unknown_skin_project(root: Path, overlay_flashes: bool) -> None:
    """One video with an overlay extract recorded unknown_skin at OVERLAY_BOX (no library skin explains it), and an IDM
    (the same weights on every call)."""
    torch.manual_seed(0)
    make_overlay_free_project(root)
    frames = np.zeros((FRAMES, 48, 64, 3), np.uint8)
    frames[:, :, :40] = 40  # the game picture: the left 40 px
    for i in range(FRAMES):
        frames[i, 10:30, 5 + i // 2 : 13 + i // 2] = (230, 200, 60)
        x0, y0, x1, y1 = OVERLAY_BOX
        frames[i, y0:y1, x0:x1] = 255 if overlay_flashes and i % 2 else 128  # the unknown overlay, over the game
    write_mp4(root / "data/ingest/videos/n0.mp4", frames, 30.0, crf=18, preset="ultrafast")
    write_json(root / "data/extract/extract_report.json", {"videos": [
        {"video_id": "n0", "status": "unknown_skin", "source": "n0.mp4", "box": list(OVERLAY_BOX)}]})


OVERLAY_BOX = (24, 30, 38, 44)


def test_an_unknown_skin_video_is_labelled_with_its_overlay_masked_and_never_read(tmp_path: Path):
    tables = {}
    for flashes in (False, True):
        root = tmp_path / f"flashes_{flashes}"
        make_unknown_skin_project(root, overlay_flashes=flashes)
        report = pseudo_label(PseudoLabelConfig(min_confidence=0.5), root, EVERY_CHUNK)
        [row] = report["videos"]
        assert row["extract_status"] == "unknown_skin" and row["status"] == "labelled"
        record = json.loads((root / "data/pseudo_label/n0.json").read_text())
        assert record["box"] == list(OVERLAY_BOX) and "masked" in record["inliers_note"]
        index = read_chunk_index(root / "data/pseudo_label/chunks.parquet")
        # training masks the same box
        assert all(list(b) == list(OVERLAY_BOX) for b in index["overlay_box"])
        assert list(record["game_box"]) == [0, 0, 40, 48]
        tables[flashes] = table_to_actions(read_action_table(root / "data/pseudo_label/n0.parquet"))
    # what the unknown overlay shows changes no press and moves no stick beyond what the video encoder spreads past its
    # box (~5e-4 here): the IDM never sees it
    np.testing.assert_array_equal(tables[False][:, :17], tables[True][:, :17])
    np.testing.assert_allclose(tables[False], tables[True], atol=0.005)


def test_an_unknown_skin_row_without_its_box_is_named(tmp_path: Path):
    make_overlay_free_project(tmp_path)
    write_json(tmp_path / "data/extract/extract_report.json", {"videos": [
        {"video_id": "n0", "status": "unknown_skin", "source": "n0.mp4", "box": None}]})
    with pytest.raises(ValueError, match="video n0 is unknown_skin but records no overlay box"):
        pseudo_label(PseudoLabelConfig(min_confidence=0.5), tmp_path, EVERY_CHUNK)
    assert not (tmp_path / "data/pseudo_label").exists()  # nothing half-written

