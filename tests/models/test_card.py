"""The model card: data digest and licences from the extraction records, params, metrics, intended use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from models.card import CARD_FILE, index_provenance, write_card
from padflow.tables import CHUNK_INDEX_SCHEMA, data_fingerprint, write_action_table, write_chunk_index


def chunk_index_with_records(root: Path) -> Path:
    """Three videos' tables, two with extraction records naming their licence, and a chunk index over them."""
    rows = []
    for v, licence in enumerate(("CC-BY-4.0", "CC-BY-4.0", None)):
        table = f"data/extract/v{v}.parquet"
        write_action_table(root / table, np.zeros((32, 21), np.float32), 30.0)
        if licence:
            record = {"video_id": f"v{v}", "source": {"licence": licence, "source": "my channel"}}
            (root / table).with_suffix(".json").write_text(json.dumps(record))
        for start in (0, 16):
            rows.append({"video_id": f"v{v}", "video_path": f"data/ingest/videos/v{v}.mp4", "table_path": table,
                         "start_frame": start, "frames": 16, "fps": 30.0, "overlay_box": [0, 0, 8, 8],
                         "game_box": [0, 0, 64, 48], "game": "pong", "density": 1.0, "motion": 1.0})
    return write_chunk_index(pd.DataFrame(rows, columns=[f.name for f in CHUNK_INDEX_SCHEMA]), root / "data/gate/chunks.parquet")


def test_card_names_the_data_its_licences_params_and_metrics(tmp_path: Path):
    index = chunk_index_with_records(tmp_path)
    data = index_provenance(index, tmp_path)
    assert data["digest"] == data_fingerprint(index, tmp_path)
    assert (data["chunks"], data["videos"], data["games"]) == (6, 3, ["pong"])
    assert data["licences"] == {"CC-BY-4.0": 2, "unknown": 1} and data["sources"] == {"my channel": 2, "unknown": 1}

    card = write_card(tmp_path / "policy", title="a policy", summary="What it is.", data=data,
                      params={"train": {"lr": 0.001, "betas": (0.9, 0.95)}, "seed": 0}, metrics={"val_loss": 0.25},
                      intended_use="Playing the simulator's tasks.", limitations="Few videos.", usage="load it", tags=["gamepad"])
    text = card.read_text()
    assert card.name == CARD_FILE
    front = yaml.safe_load(text.split("---")[1])
    assert front["license"] == "other" and "gamepad" in front["tags"]
    for expected in (data["digest"], "- CC-BY-4.0: 2", "- unknown: 1", "| val_loss | 0.25 |", "## Intended use",
                     "Playing the simulator's tasks.", "lr: 0.001"):
        assert expected in text, expected
