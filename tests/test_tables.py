from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from padflow.actions import ACTION_INDEX, noop
from padflow.tables import (
    CHUNK_INDEX_SCHEMA,
    UNOBSERVED_KEY,
    chunk_observed,
    read_action_table,
    read_chunk_index,
    table_observed,
    table_to_actions,
    table_unobserved,
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
    with pytest.raises(ValueError, match=r"no chunks \(the gate accepted no action table: its report beside it says why\); nothing to train on"):
        read_chunk_index(path)


def test_unobserved_controls_round_trip_with_their_mask(tmp_path: Path):
    actions = noop()[None].repeat(4, 0)
    actions[:, ACTION_INDEX["BACK"]] = 1  # whatever a reading says about an unobserved control is not kept
    actions[:, ACTION_INDEX["RIGHT_X"]] = 0.7
    actions[:, ACTION_INDEX["SOUTH"]] = 1
    path = write_action_table(tmp_path / "v.parquet", actions, 30.0, unobserved=["right_x", "SELECT", "RIGHT_Y"])
    table = read_action_table(path)
    assert table_unobserved(table) == ("BACK", "RIGHT_X", "RIGHT_Y")
    mask = table_observed(table)
    assert mask.sum() == 18 and not mask[[ACTION_INDEX["BACK"], ACTION_INDEX["RIGHT_X"], ACTION_INDEX["RIGHT_Y"]]].any()
    values = table_to_actions(table)
    assert (values[:, ~mask] == 0).all() and (values[:, ACTION_INDEX["SOUTH"]] == 1).all()


def test_a_table_without_the_list_observes_everything_and_a_bad_list_is_named(tmp_path: Path):
    path = write_action_table(tmp_path / "v.parquet", noop()[None], 30.0)
    old = pq.read_table(path).replace_schema_metadata({"padflow.action_schema": "padflow-action/1"})
    assert table_observed(old).all() and table_unobserved(read_action_table(path)) == ()
    bad = old.replace_schema_metadata({UNOBSERVED_KEY: b'["TURBO"]'})
    with pytest.raises(ValueError, match="padflow.unobserved.*TURBO"):
        table_observed(bad)


def test_chunk_index_carries_each_chunks_mask_and_an_old_index_observes_everything(tmp_path: Path):
    import pandas as pd

    rows = chunk_rows(2)
    rows[1]["observed"] = [i != ACTION_INDEX["GUIDE"] for i in range(21)]
    path = write_chunk_index(pd.DataFrame(rows, columns=[f.name for f in CHUNK_INDEX_SCHEMA]), tmp_path / "chunks.parquet")
    mask = chunk_observed(read_chunk_index(path))
    assert mask.shape == (2, 21) and mask[0].all() and mask[1].sum() == 20 and not mask[1, ACTION_INDEX["GUIDE"]]
    pd.DataFrame(chunk_rows(1)).to_parquet(tmp_path / "old.parquet")  # written before the column existed
    assert chunk_observed(read_chunk_index(tmp_path / "old.parquet")).all()


def test_a_table_is_read_at_another_rate_by_the_row_nearest_each_step():
    from padflow.tables import rows_at_rate

    at60 = np.arange(121) / 60  # a 60 fps table: the 30 fps video's frame k is source frame 2k
    assert rows_at_rate(at60, 30).tolist() == list(range(0, 121, 2))
    assert rows_at_rate(np.arange(36) / 30, 30).tolist() == list(range(36))
    at24 = rows_at_rate(np.arange(48) / 24, 30)  # 2 s: 60 steps, a row repeated now and then, none skipped
    assert len(at24) == 60 and set(at24.tolist()) == set(range(48)) and (np.diff(at24) >= 0).all()
    ntsc = 30000 / 1001  # four hours of steps at the chunk index's float32 copy of the rate still land on their rows
    hours = np.arange(4 * 3600 * 30) / ntsc
    assert (rows_at_rate(hours, np.float32(ntsc)) == np.arange(len(hours))).all()
