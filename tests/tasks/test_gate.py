"""The gate catches each kind of broken table for exactly its reason, and keeps good data.

The suite itself (padflow.expectations) is tested here too: its cases share the broken tables
with the stage's batch test.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from padflow.actions import ACTION_INDEX
from padflow.expectations import TableValidator, reading_reasons, table_frame
from padflow.tables import actions_to_table, chunk_observed, observed_mask, read_chunk_index, write_action_table
from padflow.video import write_mp4
from padflow.chunking import covered_frames, cut_chunks
from tasks.gate import GateConfig, GateFailed, stage

FPS = 30.0
N = 90
CFG = GateConfig(max_button_hold_s=2.0)


def busy_actions(n: int = N) -> np.ndarray:
    """A plausible table: SOUTH tapped every few frames, left stick swinging."""
    a = np.zeros((n, 21), np.float32)
    a[::4, ACTION_INDEX["SOUTH"]] = 1
    a[:, ACTION_INDEX["LEFT_X"]] = np.sin(np.arange(n) / 5).astype(np.float32)
    return a


def with_column(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def broken_tables() -> dict[str, pa.Table]:
    good = actions_to_table(busy_actions(), FPS)
    frames = np.arange(N)
    frames[N // 2 :] += 5  # five frames missing in the middle, timestamps consistent with frames
    gap = with_column(with_column(good, "frame", pa.array(frames)), "t", pa.array(frames / FPS))
    left = good.column("j_left").to_pylist()
    nan_axis = with_column(good, "j_left", pa.array([[np.nan, y] if i == 10 else [x, y] for i, (x, y) in enumerate(left)],
                                                    pa.list_(pa.float32(), 2)))
    far_axis = with_column(good, "j_left", pa.array([[3.0, y] if i == 10 else [x, y] for i, (x, y) in enumerate(left)],
                                                    pa.list_(pa.float32(), 2)))
    stuck = busy_actions()
    stuck[:, ACTION_INDEX["NORTH"]] = 1  # held for the whole 3 s table
    low_conf = np.where(np.arange(N) % 2 == 0, 0.1, 0.9).astype(np.float32)
    wrong_dtype = with_column(good, "south", pa.array(good.column("south").to_numpy(zero_copy_only=False).astype(np.float64)))
    return {
        "frame_gap": gap,
        "axis_nan": nan_axis,
        "axis_out_of_range": far_axis,
        "stuck_button": actions_to_table(stuck, FPS),
        "low_confidence": actions_to_table(busy_actions(), FPS, low_conf),
        "dtype": wrong_dtype,
    }


@pytest.fixture(scope="module")
def validator() -> TableValidator:
    return TableValidator(CFG)


def test_good_table_passes(validator):
    df = table_frame(actions_to_table(busy_actions(), FPS), FPS, inliers=60, min_confidence=CFG.min_confidence)
    assert validator.validate("good", df, N) == ([], [])


@pytest.mark.parametrize("reason", list(broken_tables()))
def test_each_broken_table_is_quarantined_for_exactly_its_reason(validator, reason):
    df = table_frame(broken_tables()[reason], FPS, inliers=60, min_confidence=CFG.min_confidence)
    reasons, failed = validator.validate(reason, df, N)
    assert reasons == [reason], failed
    assert failed and all(name.startswith("expect_") for name in failed)


def test_weak_localization_and_wrong_length_are_named(validator):
    df = table_frame(actions_to_table(busy_actions(), FPS), FPS, inliers=5, min_confidence=CFG.min_confidence)
    assert validator.validate("weak", df, N)[0] == ["weak_localization"]
    df = table_frame(actions_to_table(busy_actions(), FPS), FPS, inliers=60, min_confidence=CFG.min_confidence)
    assert set(validator.validate("short", df, N + 30)[0]) == {"frame_gap", "duration"}


def test_data_docs_asked_of_a_validator_without_a_folder_say_so(validator):
    with pytest.raises(ValueError, match="without docs_dir"):
        validator.build_docs()


def test_density_filter_keeps_and_drops_at_the_exact_boundary():
    a = np.zeros((32, 21), np.float32)
    a[0:8, ACTION_INDEX["EAST"]] = 1  # chunk 0: 8 of 16 timesteps act → density 0.5 → kept
    a[16:23, ACTION_INDEX["EAST"]] = 1  # chunk 1: 7 of 16 → 0.4375 → dropped
    chunks = cut_chunks(a, np.full(32, 100.0, np.float32), GateConfig())
    assert [(start, density, verdict) for start, density, _, verdict in chunks] == [(0, 0.5, "kept"), (16, 0.4375, "density")]
    # a stick inside the dead zone does not count as acting; outside it does
    b = np.zeros((16, 21), np.float32)
    b[:, ACTION_INDEX["RIGHT_Y"]] = 0.05
    assert cut_chunks(b, np.full(16, 100.0, np.float32), GateConfig())[0][3] == "density"
    b[:, ACTION_INDEX["RIGHT_Y"]] = 0.06
    assert cut_chunks(b, np.full(16, 100.0, np.float32), GateConfig())[0][3] == "kept"


def test_overlapping_chunks_start_every_stride_and_count_each_frame_once():
    a = busy_actions(40)
    chunks = cut_chunks(a, np.full(40, 100.0, np.float32), GateConfig(chunk_stride=4))
    assert [c[0] for c in chunks] == [0, 4, 8, 12, 16, 20, 24]  # the last chunk ends at frame 40
    assert covered_frames([0, 4, 8], 16) == 24
    assert covered_frames([0, 20, 24], 16) == 16 + 20
    with pytest.raises(ValueError, match="chunk_stride must be in"):
        GateConfig(chunk_stride=17)


def test_static_span_is_dropped_even_when_buttons_move():
    a = busy_actions(16)
    assert cut_chunks(a, np.zeros(16, np.float32), GateConfig())[0][3] == "static"


def broken_batch(root: Path, reasons: tuple[str, ...] | None = None) -> None:
    """data/extract and data/ingest under `root` where every table is broken (one per reason; default: all)."""
    extract, ingest = root / "data/extract", root / "data/ingest"
    videos, files = [], []
    tables = broken_tables()
    for i, reason in enumerate(reasons or tables):
        table = tables[reason]
        vid = f"v{i}"
        extract.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, extract / f"{vid}.parquet")
        (extract / f"{vid}.json").write_text(json.dumps({"inliers": 60, "box": [0, 0, 10, 10]}))
        videos.append({"video_id": vid, "status": "extracted"})
        files.append({"video_id": vid, "status": "accepted", "frames_out": N, "output": f"videos/{vid}.mp4"})
    (extract / "extract_report.json").write_text(json.dumps({"videos": videos}))
    ingest.mkdir(parents=True)
    (ingest / "ingest_report.json").write_text(json.dumps({"files": files, "config": {"fps": FPS}}))


def test_batch_where_everything_fails_stops_the_stage_with_a_clear_message(tmp_path: Path):
    broken_batch(tmp_path)
    params = {"gate": {"max_button_hold_s": 2.0}}
    with pytest.raises(GateFailed, match=r"only 0.0% of .* input minutes with an overlay survived .* at least 20%.*gate_failed/gate_report.json"):
        stage(params, tmp_path)
    report = json.loads((tmp_path / "data/gate_failed/gate_report.json").read_text())
    assert report["totals"]["quarantined"] == 6, "the failed batch's report is kept for reading"
    assert {tuple(v["reasons"]) for v in report["videos"]} == {(r,) for r in broken_tables()}
    assert (tmp_path / "data/gate_failed/data_docs/index.html").is_file()
    assert not (tmp_path / "data/gate").exists(), "a failed batch publishes no chunk index"


def test_a_batch_without_one_overlay_says_so_instead_of_a_share_of_nothing(tmp_path: Path):
    extract, ingest = tmp_path / "data/extract", tmp_path / "data/ingest"
    extract.mkdir(parents=True)
    ingest.mkdir(parents=True)
    videos = [{"video_id": f"v{i}", "status": "no_overlay", "reason": "no overlay: the best fit has 10 inliers"} for i in range(3)]
    (extract / "extract_report.json").write_text(json.dumps({"videos": videos}))
    files = [{"video_id": f"v{i}", "status": "accepted", "frames_out": N, "output": f"videos/v{i}.mp4"} for i in range(3)]
    (ingest / "ingest_report.json").write_text(json.dumps({"files": files, "config": {"fps": FPS}}))
    with pytest.raises(GateFailed, match=r"none of the 3 videos has an overlay extract could read.*'no_overlay': 3"):
        stage({"gate": {}}, tmp_path)


def test_a_failing_batch_leaves_the_previous_gate_outputs_intact(tmp_path: Path):
    one_good_video(tmp_path)
    params = {"gate": {"max_button_hold_s": 2.0, "static_threshold": 1.0}}
    umask = os.umask(0o027)
    try:
        stage(params, tmp_path)
    finally:
        os.umask(umask)
    gate = tmp_path / "data/gate"
    modes = {oct(p.stat().st_mode & 0o777) for p in [gate, *gate.rglob("*")] if p.is_file()}
    assert modes == {oct(0o640)}, f"every output gets the mode of any new file (0666 less the umask): {modes}"
    modes = {oct(p.stat().st_mode & 0o777) for p in [gate, *gate.rglob("*")] if p.is_dir()}
    assert modes == {oct(0o750)}, f"every folder gets the mode of any new folder: {modes}"
    before = {p.relative_to(gate): p.read_bytes() for p in gate.rglob("*") if p.is_file()}
    assert len(read_chunk_index(gate / "chunks.parquet")) == 2

    shutil.rmtree(tmp_path / "data/extract")
    shutil.rmtree(tmp_path / "data/ingest")
    broken_batch(tmp_path, ("frame_gap",))
    with pytest.raises(GateFailed, match=r"data/gate keeps the previous outputs"):
        stage(params, tmp_path)
    after = {p.relative_to(gate): p.read_bytes() for p in gate.rglob("*") if p.is_file()}
    assert after == before, "the failed batch changed the previous gate outputs"
    assert json.loads((tmp_path / "data/gate_failed/gate_report.json").read_text())["totals"]["accepted"] == 0
    assert [p.name for p in (tmp_path / "data").iterdir() if p.name.startswith(".")] == [], "no temp folder left"

    shutil.rmtree(tmp_path / "data/extract")
    shutil.rmtree(tmp_path / "data/ingest")
    one_good_video(tmp_path)
    stage(params, tmp_path)
    assert not (tmp_path / "data/gate_failed").exists(), "a passing batch removes the stale failure report"


def test_config_is_validated():
    with pytest.raises(ValueError, match=r"min_action_density\s+Input should be less than or equal to 1"):
        replace(GateConfig(), min_action_density=1.5)


def test_unobserved_values_are_not_labels_for_the_suite_or_the_density_filter(validator):
    no_right_x = actions_to_table(busy_actions(), FPS, unobserved=["RIGHT_X"])
    right = no_right_x.column("j_right").to_pylist()
    # another tool may leave NaN in an unobserved cell: no expectation judges it
    nan_cells = with_column(no_right_x, "j_right", pa.array([[np.nan, y] for _, y in right], pa.list_(pa.float32(), 2)))
    df = table_frame(nan_cells, FPS, inliers=60, min_confidence=CFG.min_confidence)
    assert validator.validate("no_right_x", df, N, unobserved=("RIGHT_X",)) == ([], [])
    assert validator.validate("no_right_x", df, N)[0] == ["axis_nan"]
    # a chunk whose only activity is on an unobserved control does not act
    a = np.zeros((16, 21), np.float32)
    a[:, ACTION_INDEX["BACK"]] = 1
    assert cut_chunks(a, np.full(16, 100.0, np.float32), GateConfig())[0][3] == "kept"
    assert cut_chunks(a, np.full(16, 100.0, np.float32), GateConfig(), observed_mask(["BACK"]))[0][3] == "density"


def test_a_reading_is_judged_as_the_gate_judges_the_table_extract_writes_from_it(validator):
    sure, unsure = np.ones(N, np.float32), np.where(np.arange(N) % 2 == 0, 0.1, 0.9).astype(np.float32)
    assert reading_reasons(validator, "sure", busy_actions(), sure, FPS, ()) == []
    assert reading_reasons(validator, "unsure", busy_actions(), unsure, FPS, ()) == ["low_confidence"]
    held = busy_actions()
    held[:, ACTION_INDEX["NORTH"]] = 1  # held for the whole 3 s: stuck, unless the skin does not show NORTH
    assert reading_reasons(validator, "held", held, sure, FPS, ()) == ["stuck_button"]
    assert reading_reasons(validator, "held", held, sure, FPS, ("NORTH",)) == []


def one_good_video(root: Path, unobserved: tuple[str, ...] = ()) -> None:
    """data/extract and data/ingest under `root` with one 32-frame video whose table the gate accepts (2 chunks)."""
    extract, ingest = root / "data/extract", root / "data/ingest"
    rng = np.random.default_rng(0)
    write_mp4(ingest / "videos/v.mp4", (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(32)), FPS)
    write_action_table(extract / "v.parquet", busy_actions(32), FPS, unobserved=unobserved)
    (extract / "v.json").write_text(json.dumps({"localization": {"inliers": 60, "box": [40, 30, 64, 48]}}))
    (extract / "extract_report.json").write_text(json.dumps({"videos": [{"video_id": "v", "status": "extracted"}]}))
    files = [{"video_id": "v", "status": "accepted", "frames_out": 32, "output": "videos/v.mp4"}]
    (ingest / "ingest_report.json").write_text(json.dumps({"files": files, "config": {"fps": FPS}}))


def test_overlay_free_videos_are_not_a_loss_the_batch_expectation_counts(tmp_path: Path):
    """A corpus of mostly walkthroughs (profiles/idm.yaml): extract's no_overlay videos are pseudo_label's input."""
    one_good_video(tmp_path)
    report = json.loads((tmp_path / "data/extract/extract_report.json").read_text())
    ingest = json.loads((tmp_path / "data/ingest/ingest_report.json").read_text())
    for i in range(9):  # nine overlay-free videos as long as the one with an overlay: 10 % of the input hours are kept
        report["videos"].append({"video_id": f"n{i}", "status": "no_overlay", "reason": "no overlay"})
        ingest["files"].append({"video_id": f"n{i}", "status": "accepted", "frames_out": 32, "output": f"videos/n{i}.mp4"})
    (tmp_path / "data/extract/extract_report.json").write_text(json.dumps(report))
    (tmp_path / "data/ingest/ingest_report.json").write_text(json.dumps(ingest))
    totals = stage({"gate": {"max_button_hold_s": 2.0, "static_threshold": 1.0}}, tmp_path).metrics
    assert totals["pct_kept"] == pytest.approx(10.0) and totals["hours_overlay_free"] == pytest.approx(9 * 32 / FPS / 3600, abs=1e-5)
    assert totals["skipped"] == 9 and totals["chunks_kept"] == 2


def test_a_table_with_unobserved_controls_is_accepted_and_its_chunks_carry_the_mask(tmp_path: Path):
    one_good_video(tmp_path, unobserved=("BACK", "GUIDE", "RIGHT_X", "RIGHT_Y"))
    stage({"gate": {"max_button_hold_s": 2.0, "static_threshold": 1.0}}, tmp_path)
    verdict = json.loads((tmp_path / "data/gate/gate_report.json").read_text())["videos"][0]
    assert verdict["status"] == "accepted" and verdict["chunks_kept"] == 2, verdict
    assert verdict["unobserved"] == ["BACK", "GUIDE", "RIGHT_X", "RIGHT_Y"]
    mask = chunk_observed(read_chunk_index(tmp_path / "data/gate/chunks.parquet"))
    assert mask.shape == (2, 21) and (mask == observed_mask(["BACK", "GUIDE", "RIGHT_X", "RIGHT_Y"])).all()
