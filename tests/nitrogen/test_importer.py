"""Released NitroGen label chunks come in as gate-ready tables, mapped by time onto the normalized video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from padflow.nitrogen import import_nitrogen, label_rows
from padflow.tables import read_action_table, table_to_actions
from tasks.gate import GateConfig, collect_inputs, gate_tables


def test_label_rows_map_by_time_onto_the_normalized_rate():
    # 60 fps labels onto 30 fps frames: every other row; a chunk starting at 1.5 s starts at frame 45
    offset, rows = label_rows(1.5, 3.0, 90, 30.0, frames=90)
    assert offset == 45 and rows.tolist() == list(range(0, 90, 2))
    # same rate: one row per frame; a chunk running past the video's end is cut at its last frame
    offset, rows = label_rows(2.0, 4.0, 60, 30.0, frames=90)
    assert offset == 60 and rows.tolist() == list(range(30))
    assert len(label_rows(5.0, 6.0, 30, 30.0, frames=90)[1]) == 0


@pytest.mark.slow
def test_imported_chunks_pass_the_gate_and_land_on_the_right_frames(released, samples, tmp_path: Path):
    out = tmp_path / "project/data/nitrogen"
    report = import_nitrogen(released["labels"], released["videos"], out, ingest_cfg=samples.INGEST)
    assert [c.status for c in report.chunks] == ["imported"] * 4, report.chunks
    for c in report.chunks:
        table = table_to_actions(read_action_table(out / f"{c.table_id}.parquet"))
        expected = released["chunks"][(c.nitrogen_video_id, int(c.table_id[-4:]))][1]
        step = 2 if c.nitrogen_video_id == "beta" else 1  # 60 fps labels, 30 fps frames
        assert np.array_equal(table, expected[::step]), c.path
        assert c.frame_offset == (45 if c.table_id.endswith("1") else 0) and c.frames == 45
        record = json.loads((out / f"{c.table_id}.json").read_text())
        assert record["inliers"] is None and "did not localize" in record["inliers_note"]
        assert record["box"] == samples.OVERLAY  # the normalized video keeps the 96x64 size

    root = tmp_path / "project"
    cfg = GateConfig(sources=("data/nitrogen",), ingest_dir="data/ingest")
    inputs, skipped = collect_inputs(cfg, root)
    assert len(inputs) == 4 and not skipped
    gate, index, _ = gate_tables(inputs, skipped, cfg, root, root / "data/gate")
    assert [v.status for v in gate.verdicts] == ["accepted"] * 4, gate.verdicts
    assert all("weak_localization not checked" in v.notes[0] for v in gate.verdicts)
    # gate chunks of the second label chunk start at its frame offset in the normalized video
    second = index[index.table_path.str.endswith("alpha_chunk_0001.parquet")]
    assert second.start_frame.tolist() == [45, 61]
    assert set(index.game) == {"Test Game"}
    assert all(box == samples.OVERLAY for box in index.overlay_box.map(list))


def test_bad_chunks_are_reported_with_path_and_reason_while_the_others_import(released, samples, tmp_path: Path):
    (released["videos"] / "beta.mp4").unlink()
    broken = released["chunks"][("alpha", 1)][0]
    table = pq.read_table(broken / "actions_raw.parquet")
    pq.write_table(table.drop_columns(["j_right"]), broken / "actions_raw.parquet")
    out = tmp_path / "imported"
    report = import_nitrogen(released["labels"], released["videos"], out, ingest_cfg=samples.INGEST)
    by_path = {c.path: c for c in report.chunks}
    assert by_path["SHARD_0000/alpha/alpha_chunk_0000"].status == "imported"
    assert by_path["SHARD_0000/alpha/alpha_chunk_0001"].reason == "missing_column"
    assert "j_right" in by_path["SHARD_0000/alpha/alpha_chunk_0001"].detail
    for n in range(2):
        beta = by_path[f"SHARD_0000/beta/beta_chunk_000{n}"]
        assert (beta.status, beta.reason) == ("rejected", "video_missing")
        assert "beta.<mp4|" in beta.detail
    listing = json.loads((out / "import_report.json").read_text())
    assert [t["table_id"] for t in listing["tables"]] == ["alpha_chunk_0000"]
    assert listing["summary"] == {"chunks": 4, "imported": 1, "rejected": 3, "frames": 45,
                                  "rejected_missing_column": 1, "rejected_video_missing": 2}  # fmt: skip
