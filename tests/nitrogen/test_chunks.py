"""A chunk folder reads back as written; a broken label parquet or metadata.json is named with what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from padflow.actions import NITROGEN_BUTTON_COLUMNS
from padflow.nitrogen import ChunkError, NitrogenConfig, read_chunk
from tasks.gate import GateConfig


def test_read_chunk_names_the_file_and_what_is_wrong(tmp_path: Path, samples):
    path, actions = samples.released_chunk(tmp_path, "gamma", 0, 0.0, 1.0, samples.FPS, seed=0)
    chunk = read_chunk(path)
    assert np.array_equal(chunk.actions, actions)
    written = pq.read_schema(path / "actions_raw.parquet")
    assert written.names == [*NITROGEN_BUTTON_COLUMNS, "j_left", "j_right"]
    assert chunk.metadata.original_video.resolution == samples.SIZE
    assert json.loads((path / "metadata.json").read_text())["bbox_controller_overlay"] == samples.OVERLAY

    table = pq.read_table(path / "actions_raw.parquet")
    pq.write_table(table.drop_columns(["east"]), path / "actions_raw.parquet")
    with pytest.raises(ChunkError, match=r"actions_raw\.parquet: lacks column\(s\) east") as err:
        read_chunk(path)
    assert err.value.reason == "missing_column"

    pq.write_table(table, path / "actions_raw.parquet")
    meta = json.loads((path / "metadata.json").read_text())
    meta["original_video"]["end_time"] = "soon"
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ChunkError, match=r"metadata\.json: original_video\.end_time: .*number, got 'soon'") as err:
        read_chunk(path)
    assert err.value.reason == "malformed_metadata"


def test_config_is_validated():
    with pytest.raises(ValueError, match=r"labels\n.*Input should be 'raw' or 'processed'"):
        NitrogenConfig(labels="cooked")
    with pytest.raises(ValueError, match=r"sources\n.*at least 1 item"):
        GateConfig(sources=())
