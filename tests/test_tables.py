from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from padflow.actions import ACTION_INDEX, noop
from padflow.tables import (
    CHUNK_INDEX_SCHEMA,
    read_action_table,
    read_chunk_index,
    table_to_actions,
    write_action_table,
    write_chunk_index,
)


def test_round_trip_keeps_every_action_value(tmp_path: Path):
    rng = np.random.default_rng(0)
    actions = np.zeros((50, 21), np.float32)
    actions[:, :17] = rng.integers(0, 2, (50, 17))
    actions[:, 17:] = rng.uniform(-1, 1, (50, 4)).astype(np.float32)
    path = write_action_table(tmp_path / "v.parquet", actions, fps=30.0)
    table = read_action_table(path)
    assert np.array_equal(table_to_actions(table), actions)
    assert table.column("t").to_numpy()[30] == pytest.approx(1.0)
    assert table.schema.metadata[b"padflow.action_schema"] == b"padflow-action/1"


def test_columns_follow_nitrogen_names(tmp_path: Path):
    a = noop()[None].repeat(3, 0)
    a[1, ACTION_INDEX["SOUTH"]] = 1
    a[2, ACTION_INDEX["LEFT_Y"]] = 0.5
    table = read_action_table(write_action_table(tmp_path / "v.parquet", a, 30.0))
    assert table.column("south").to_pylist() == [False, True, False]
    assert table.column("j_left").to_pylist()[2] == [0.0, 0.5]


def test_missing_column_and_bad_file_are_named(tmp_path: Path):
    path = write_action_table(tmp_path / "v.parquet", noop()[None], 30.0)
    table = pq.read_table(path).drop_columns(["j_right"])
    with pytest.raises(ValueError, match="lacks column.*j_right"):
        table_to_actions(table)
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(ValueError, match="junk.parquet: not a readable Parquet"):
        read_action_table(junk)


def chunk_rows(n: int) -> list[dict]:
    return [{"video_id": "v", "video_path": "data/ingest/videos/v.mp4", "table_path": "data/extract/v.parquet",
             "start_frame": 16 * i, "frames": 16, "fps": 30.0, "overlay_box": [0, 0, 10, 10], "game_box": [0, 0, 160, 90],
             "game": "unknown", "density": 0.5, "motion": 30.0} for i in range(n)]


def test_chunk_index_round_trip_keeps_the_schema(tmp_path: Path):
    import pandas as pd

    path = write_chunk_index(pd.DataFrame(chunk_rows(3), columns=[f.name for f in CHUNK_INDEX_SCHEMA]), tmp_path / "chunks.parquet")
    assert pq.read_schema(path).remove_metadata().equals(CHUNK_INDEX_SCHEMA)
    index = read_chunk_index(path)
    assert index["start_frame"].tolist() == [0, 16, 32] and list(index["overlay_box"][0]) == [0, 0, 10, 10]


def test_chunk_index_reader_names_what_is_missing(tmp_path: Path):
    import pandas as pd

    with pytest.raises(ValueError, match="no chunk index; run the gate stage first"):
        read_chunk_index(tmp_path / "chunks.parquet")
    pd.DataFrame(chunk_rows(1)).drop(columns=["game_box"]).to_parquet(tmp_path / "partial.parquet")
    with pytest.raises(ValueError, match="lacks column.*game_box"):
        read_chunk_index(tmp_path / "partial.parquet")
    path = write_chunk_index(pd.DataFrame([], columns=[f.name for f in CHUNK_INDEX_SCHEMA]), tmp_path / "empty.parquet")
    with pytest.raises(ValueError, match="no chunks; nothing to train on"):
        read_chunk_index(path)
