"""Released NitroGen label chunks come in as gate-ready tables, and padflow's accepted data goes out the same way."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from padflow.actions import ACTION_INDEX, NITROGEN_BUTTON_COLUMNS
from padflow.commands import nitrogen as nitrogen_command
from padflow.nitrogen import (
    ChunkError,
    ChunkMetadata,
    NitrogenConfig,
    OriginalVideo,
    chunk_name,
    export_nitrogen,
    import_nitrogen,
    label_rows,
    read_chunk,
    shard_name,
    write_chunk,
)
from padflow.tables import read_action_table, table_to_actions, write_action_table
from padflow.video import write_mp4
from tasks.gate import GateConfig, collect_inputs, gate_tables, write_chunk_index
from tasks.ingest import IngestConfig, ingest

FPS = 30.0
SECONDS = 3.0
SIZE = (96, 64)  # (width, height) of the test videos
OVERLAY = [60, 40, 96, 64]  # controller overlay box, pixels of SIZE
INGEST = IngestConfig(max_width=128, max_height=96)


def noise_video(path: Path, seed: int, fps: float = FPS, seconds: float = SECONDS) -> Path:
    """A short video whose picture changes every frame (the gate drops static spans)."""
    rng = np.random.default_rng(seed)
    frames = (rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8) for _ in range(round(fps * seconds)))
    write_mp4(path, frames, fps)
    return path


def busy_actions(n: int, seed: int) -> np.ndarray:
    """Labels the gate accepts: a face button tapped every other frame, both sticks moving."""
    rng = np.random.default_rng(seed)
    a = np.zeros((n, 21), np.float32)
    a[::2, ACTION_INDEX["SOUTH"]] = 1
    a[:, ACTION_INDEX["DPAD_UP"]] = rng.integers(0, 2, n)
    a[:, ACTION_INDEX["LEFT_X"]] = np.sin(np.arange(n) / 4)
    a[:, ACTION_INDEX["RIGHT_Y"]] = rng.uniform(-1, 1, n)
    return a


def released_chunk(labels: Path, video_id: str, chunk_id: int, start_s: float, end_s: float, fps: float, seed: int) -> tuple[Path, np.ndarray]:
    """One chunk in the released layout (one label row per frame of a `fps` video)."""
    first, last = round(start_s * fps), round(end_s * fps)
    actions = busy_actions(last - first, seed)
    meta = ChunkMetadata(
        uuid=f"{chunk_name(video_id, chunk_id)}_actions",
        chunk_id=chunk_id,
        chunk_size=last - first,
        game="Test Game",
        controller_type="xbox",
        bbox_game_area=None,
        bbox_controller_overlay=tuple(float(v) for v in OVERLAY),
        original_video=OriginalVideo(
            video_id=video_id, url=f"https://example.invalid/{video_id}", resolution=SIZE, start_time=start_s,
            end_time=end_s, duration=SECONDS, start_frame=first, end_frame=last,
        ),
    )  # fmt: skip
    path = write_chunk(labels / shard_name(0) / video_id / chunk_name(video_id, chunk_id), actions, meta)
    return path, actions


@pytest.fixture
def released(tmp_path: Path) -> dict:
    """Two videos with 1.5 s chunks: `alpha` at 30 fps, `beta` at 60 fps (imported onto 30 fps frames)."""
    labels, videos = tmp_path / "nitrogen/actions", tmp_path / "videos"
    noise_video(videos / "alpha.mp4", seed=1)
    noise_video(videos / "beta.mp4", seed=2, fps=60.0)
    chunks = {}
    for video_id, fps in (("alpha", FPS), ("beta", 60.0)):
        for n in range(2):
            chunks[(video_id, n)] = released_chunk(labels, video_id, n, 1.5 * n, 1.5 * (n + 1), fps, seed=n + 10 * len(video_id))
    return {"labels": labels, "videos": videos, "chunks": chunks}


def test_read_chunk_names_the_file_and_what_is_wrong(tmp_path: Path):
    path, actions = released_chunk(tmp_path, "gamma", 0, 0.0, 1.0, FPS, seed=0)
    chunk = read_chunk(path)
    assert np.array_equal(chunk.actions, actions)
    written = pq.read_schema(path / "actions_raw.parquet")
    assert written.names == [*NITROGEN_BUTTON_COLUMNS, "j_left", "j_right"]
    assert chunk.metadata.original_video.resolution == SIZE
    assert json.loads((path / "metadata.json").read_text())["bbox_controller_overlay"] == OVERLAY

    table = pq.read_table(path / "actions_raw.parquet")
    pq.write_table(table.drop_columns(["east"]), path / "actions_raw.parquet")
    with pytest.raises(ChunkError, match=r"actions_raw\.parquet: lacks column\(s\) east") as err:
        read_chunk(path)
    assert err.value.reason == "missing_column"

    pq.write_table(table, path / "actions_raw.parquet")
    meta = json.loads((path / "metadata.json").read_text())
    meta["original_video"]["end_time"] = "soon"
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ChunkError, match=r"metadata\.json: original_video\.end_time must be a number") as err:
        read_chunk(path)
    assert err.value.reason == "malformed_metadata"


def test_boxes_are_read_as_pixel_lists_or_xywh_in_pixels_or_normalized(tmp_path: Path):
    path, _ = released_chunk(tmp_path, "gamma", 0, 0.0, 1.0, FPS, seed=0)
    meta = json.loads((path / "metadata.json").read_text())
    for box in ({"x": 60, "y": 40, "w": 36, "h": 24}, {"x": 0.625, "y": 0.625, "w": 0.375, "h": 0.375}):
        meta["bbox_controller_overlay"] = box
        (path / "metadata.json").write_text(json.dumps(meta))
        assert read_chunk(path).metadata.bbox_controller_overlay == tuple(float(v) for v in OVERLAY)


def test_label_rows_map_by_time_onto_the_normalized_rate():
    # 60 fps labels onto 30 fps frames: every other row; a chunk starting at 1.5 s starts at frame 45
    offset, rows = label_rows(1.5, 3.0, 90, 30.0, frames=90)
    assert offset == 45 and rows.tolist() == list(range(0, 90, 2))
    # same rate: one row per frame; a chunk running past the video's end is cut at its last frame
    offset, rows = label_rows(2.0, 4.0, 60, 30.0, frames=90)
    assert offset == 60 and rows.tolist() == list(range(30))
    assert len(label_rows(5.0, 6.0, 30, 30.0, frames=90)[1]) == 0


@pytest.mark.slow
def test_imported_chunks_pass_the_gate_and_land_on_the_right_frames(released, tmp_path: Path):
    out = tmp_path / "project/data/nitrogen"
    report = import_nitrogen(released["labels"], released["videos"], out, ingest_cfg=INGEST)
    assert [c.status for c in report.chunks] == ["imported"] * 4, report.chunks
    for c in report.chunks:
        table = table_to_actions(read_action_table(out / f"{c.table_id}.parquet"))
        expected = released["chunks"][(c.nitrogen_video_id, int(c.table_id[-4:]))][1]
        step = 2 if c.nitrogen_video_id == "beta" else 1  # 60 fps labels, 30 fps frames
        assert np.array_equal(table, expected[::step]), c.path
        assert c.frame_offset == (45 if c.table_id.endswith("1") else 0) and c.frames == 45
        record = json.loads((out / f"{c.table_id}.json").read_text())
        assert record["inliers"] is None and "did not localize" in record["inliers_note"]
        assert record["box"] == OVERLAY  # the normalized video keeps the 96x64 size

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
    assert all(box == OVERLAY for box in index.overlay_box.map(list))


def test_bad_chunks_are_reported_with_path_and_reason_while_the_others_import(released, tmp_path: Path):
    (released["videos"] / "beta.mp4").unlink()
    broken = released["chunks"][("alpha", 1)][0]
    table = pq.read_table(broken / "actions_raw.parquet")
    pq.write_table(table.drop_columns(["j_right"]), broken / "actions_raw.parquet")
    out = tmp_path / "imported"
    report = import_nitrogen(released["labels"], released["videos"], out, ingest_cfg=INGEST)
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


@pytest.mark.slow
def test_export_then_import_gives_back_the_same_actions(tmp_path: Path):
    root = tmp_path / "project"
    noise_video(tmp_path / "raw/a.mp4", seed=3)
    noise_video(tmp_path / "raw/b.mp4", seed=4, seconds=2.0)
    ingested = ingest(tmp_path / "raw", root / "data/ingest", INGEST)
    extract = root / "data/extract"
    truth = {}
    for i, row in enumerate(ingested.accepted):
        truth[row.video_id] = busy_actions(row.frames_out, seed=i)
        write_action_table(extract / f"{row.video_id}.parquet", truth[row.video_id], FPS)
        (extract / f"{row.video_id}.json").write_text(json.dumps({"inliers": 80, "box": OVERLAY}))
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
    assert meta["uuid"] == f"{video_id}_chunk_0001_actions" and meta["bbox_controller_overlay"] == OVERLAY
    assert meta["original_video"]["start_frame"] == 30 and meta["original_video"]["end_time"] == 2.0
    assert meta["original_video"]["resolution"] == list(SIZE) and meta["bbox_game_area"][2:] == list(SIZE)

    back = import_nitrogen(tmp_path / "release", root / "data/ingest/videos", tmp_path / "back", ingest_cfg=INGEST)
    assert [c.status for c in back.chunks] == ["imported"] * 5
    for c in back.chunks:
        # the exported video_id names the normalized video, which the import ingests again
        table = table_to_actions(read_action_table(tmp_path / "back" / f"{c.table_id}.parquet"))
        assert np.array_equal(table, truth[c.nitrogen_video_id][c.frame_offset : c.frame_offset + c.frames])
    assert sum(c.frames for c in back.chunks) == sum(len(a) for a in truth.values())


def test_import_command_json_lists_chunks_and_tables(released, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("PADFLOW_ROOT", str(tmp_path))  # no params.yaml there: default settings
    (released["videos"] / "beta.mp4").unlink()
    parser = argparse.ArgumentParser()
    nitrogen_command.register(parser.add_subparsers())
    out = tmp_path / "imported"
    args = parser.parse_args(["import-nitrogen", str(released["labels"]), "--videos", str(released["videos"]),
                              "--out", str(out), "--json"])  # fmt: skip
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(c["path"], c["status"], c["reason"]) for c in printed["chunks"]] == [
        ("SHARD_0000/alpha/alpha_chunk_0000", "imported", None),
        ("SHARD_0000/alpha/alpha_chunk_0001", "imported", None),
        ("SHARD_0000/beta/beta_chunk_0000", "rejected", "video_missing"),
        ("SHARD_0000/beta/beta_chunk_0001", "rejected", "video_missing"),
    ]
    assert [Path(t["path"]) for t in printed["tables"]] == [out / "alpha_chunk_0000.parquet", out / "alpha_chunk_0001.parquet"]
    assert all(Path(t["path"]).is_file() for t in printed["tables"])


def test_config_is_validated():
    with pytest.raises(ValueError, match="labels must be one of"):
        NitrogenConfig(labels="cooked")
    with pytest.raises(ValueError, match="sources must name at least one folder"):
        GateConfig(sources=())
