from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from padflow.actions import ACTION_INDEX, noop
from padflow.tables import read_action_table, table_to_actions, write_action_table


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
