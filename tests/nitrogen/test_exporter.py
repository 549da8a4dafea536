"""padflow's accepted data goes out in the released layout, and comes back the same through import."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from padflow.ingest import ingest
from padflow.nitrogen import NitrogenConfig, export_nitrogen, import_nitrogen
from padflow.tables import observed_mask, read_action_table, table_to_actions, table_unobserved, write_action_table, write_chunk_index
from tasks.gate import GateConfig, collect_inputs, gate_tables


@pytest.mark.slow
def test_export_then_import_gives_back_the_same_actions(samples, tmp_path: Path):
    root = tmp_path / "project"
    samples.noise_video(tmp_path / "raw/a.mp4", seed=3)
    samples.noise_video(tmp_path / "raw/b.mp4", seed=4, seconds=2.0)
    ingested = ingest(tmp_path / "raw", root / "data/ingest", samples.INGEST)
    extract = root / "data/extract"
    truth = {}
    unobserved = {}  # the second video's overlay does not show BACK and GUIDE
    for i, row in enumerate(ingested.accepted):
        truth[row.video_id] = samples.busy_actions(row.frames_out, seed=i)
        unobserved[row.video_id] = ("BACK", "GUIDE") if i else ()
        truth[row.video_id][:, ~observed_mask(unobserved[row.video_id])] = 0.0  # neutral cells: no labels
        write_action_table(extract / f"{row.video_id}.parquet", truth[row.video_id], samples.FPS, unobserved=unobserved[row.video_id])
        (extract / f"{row.video_id}.json").write_text(json.dumps({"inliers": 80, "box": samples.OVERLAY}))
    listing = {"videos": [{"video_id": v, "status": "extracted"} for v in truth]}
    (extract / "extract_report.json").write_text(json.dumps(listing))
    cfg = GateConfig()
    inputs, skipped = collect_inputs(cfg, root)
    _, index, _ = gate_tables(inputs, skipped, cfg, root, root / "data/gate")
    write_chunk_index(index, root / "data/gate/chunks.parquet")

    exported = export_nitrogen(root / "data/gate", tmp_path / "release", root, NitrogenConfig(chunk_seconds=1.0))
    assert len(exported.chunks) == 5 and not exported.skipped  # 3 s + 2 s in 1 s chunks
    video_id = min(truth)
    meta = json.loads((tmp_path / "release/actions/SHARD_0000" / video_id / f"{video_id}_chunk_0001/metadata.json").read_text())
    assert meta["uuid"] == f"{video_id}_chunk_0001_actions" and meta["bbox_controller_overlay"] == samples.OVERLAY
    assert meta["original_video"]["start_frame"] == 30 and meta["original_video"]["end_time"] == 2.0
    assert meta["original_video"]["resolution"] == list(samples.SIZE) and meta["bbox_game_area"][2:] == list(samples.SIZE)

    back = import_nitrogen(tmp_path / "release", root / "data/ingest/videos", tmp_path / "back", ingest_cfg=samples.INGEST)
    assert [c.status for c in back.chunks] == ["imported"] * 5
    for c in back.chunks:
        # the exported video_id names the normalized video, which the import ingests again
        table = table_to_actions(read_action_table(tmp_path / "back" / f"{c.table_id}.parquet"))
        assert np.array_equal(table, truth[c.nitrogen_video_id][c.frame_offset : c.frame_offset + c.frames])
        assert table_unobserved(read_action_table(tmp_path / "back" / f"{c.table_id}.parquet")) == unobserved[c.nitrogen_video_id]
    assert sum(c.frames for c in back.chunks) == sum(len(a) for a in truth.values())
