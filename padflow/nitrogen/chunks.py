"""Chunk folders of the released layout: read and write their label parquet and metadata.json.

A chunk folder `SHARD_XXXX/<video_id>/<video_id>_chunk_XXXX/` holds:

    actions_raw.parquet        one row per video frame: the 17 boolean button columns
                               (NITROGEN_BUTTON_COLUMNS) and the sticks `j_left` / `j_right`
                               as (x, y) pairs in [-1, 1], x right, y up
    actions_processed.parquet  optional; the same columns after the dataset's own filtering
    metadata.json              see padflow.nitrogen.metadata

Rows are spread evenly over [start_time, end_time): row i labels the frame shown at
start_time + i * (end_time - start_time) / rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from padflow.actions import (
    ACTION_DIM,
    ACTION_SCHEMA_VERSION,
    AXIS_INDEX,
    BUTTON_INDEX,
    NITROGEN_BUTTON_COLUMNS,
    NITROGEN_STICK_COLUMNS,
    validate_action,
)
from padflow.config import config
from padflow.io import atomic_path, write_json
from padflow.nitrogen.metadata import ID_DIGITS, METADATA_FILE, ChunkError, ChunkMetadata, read_metadata
from padflow.tables import actions_to_table

ACTIONS_FILES = {"raw": "actions_raw.parquet", "processed": "actions_processed.parquet"}
ACTIONS_DIR = "actions"  # the dataset's top folder, above the shards
REPORT_FORMAT = 1  # of import_report.json and export_report.json; bump when their layout changes
STICK_TOLERANCE = 1e-6  # float noise beyond ±1 that is clipped instead of rejected

Labels = Literal["raw", "processed"]  # the keys of ACTIONS_FILES


@config
class NitrogenConfig:
    chunk_seconds: Annotated[float, Field(gt=0, description="length of an exported chunk, seconds (the released dataset's: 20)")] = 20.0
    videos_per_shard: Annotated[int, Field(ge=1, description="exported videos per SHARD_XXXX folder")] = 100
    labels: Annotated[Labels, Field(description="which label file import reads: raw (actions_raw.parquet) or processed (actions_processed.parquet)")] = "raw"  # fmt: skip


@dataclass(frozen=True)
class NitrogenChunk:
    path: Path  # the chunk folder
    actions: np.ndarray  # (T, 21) float32 unified actions, one row per frame
    metadata: ChunkMetadata


def chunk_name(video_id: str, chunk_id: int) -> str:
    return f"{video_id}_chunk_{chunk_id:0{ID_DIGITS}d}"


def shard_name(index: int) -> str:
    return f"SHARD_{index:0{ID_DIGITS}d}"


def read_chunk(chunk_dir: str | Path, labels: str = "raw") -> NitrogenChunk:
    """One chunk folder → actions (T, 21) and metadata; ChunkError names the file and what is wrong."""
    chunk_dir = Path(chunk_dir)
    if labels not in ACTIONS_FILES:
        raise ValueError(f"labels must be one of {list(ACTIONS_FILES)}, got {labels!r}")
    metadata = read_metadata(chunk_dir / METADATA_FILE)
    actions = read_actions(chunk_dir / ACTIONS_FILES[labels])
    return NitrogenChunk(chunk_dir, actions, metadata)


def read_actions(path: Path) -> np.ndarray:
    """An actions_raw / actions_processed parquet → (T, 21) float32; ChunkError names the column."""
    if not path.is_file():
        raise ChunkError("missing_file", f"{path}: file not found")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ChunkError("unreadable", f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in (*NITROGEN_BUTTON_COLUMNS, *NITROGEN_STICK_COLUMNS) if c not in table.column_names]
    if missing:
        raise ChunkError("missing_column", f"{path}: lacks column(s) {', '.join(missing)}")
    if table.num_rows == 0:
        raise ChunkError("bad_values", f"{path}: has no rows")
    actions = np.zeros((table.num_rows, ACTION_DIM), np.float32)
    for column in NITROGEN_BUTTON_COLUMNS:
        actions[:, BUTTON_INDEX[column.upper()]] = _button_column(path, column, table.column(column))
    for column, (x_axis, y_axis) in NITROGEN_STICK_COLUMNS.items():
        xy = _stick_column(path, column, table.column(column))
        actions[:, AXIS_INDEX[x_axis]], actions[:, AXIS_INDEX[y_axis]] = xy[:, 0], xy[:, 1]
    try:
        return validate_action(actions, str(path))
    except ValueError as exc:
        raise ChunkError("bad_values", str(exc)) from None


def _button_column(path: Path, name: str, column: pa.ChunkedArray) -> np.ndarray:
    if column.null_count:
        raise ChunkError("bad_values", f"{path}: column {name} has {column.null_count} null value(s)")
    if pa.types.is_boolean(column.type):
        return column.to_numpy(zero_copy_only=False).astype(np.float32)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        if np.isin(values, (0.0, 1.0)).all():
            return values.astype(np.float32)
    raise ChunkError("bad_values", f"{path}: column {name} must be boolean (or 0/1), got {column.type}")


def _stick_column(path: Path, name: str, column: pa.ChunkedArray) -> np.ndarray:
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise ChunkError("bad_values", f"{path}: column {name} must hold (x, y) pairs, got {kind}")
    array = column.combine_chunks()
    lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
    if array.null_count or (lengths != 2).any():
        raise ChunkError("bad_values", f"{path}: column {name} must hold an (x, y) pair in every row")
    values = array.flatten()
    if values.null_count or not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        raise ChunkError("bad_values", f"{path}: column {name} must hold numeric (x, y) pairs, got {kind}")
    xy = values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, 2)
    within = np.abs(xy) <= 1.0 + STICK_TOLERANCE
    return np.where(within, np.clip(xy, -1.0, 1.0), xy)


def write_chunk(chunk_dir: str | Path, actions: np.ndarray, metadata: ChunkMetadata) -> Path:
    """Write actions_raw.parquet and metadata.json (atomically) into `chunk_dir`."""
    chunk_dir = Path(chunk_dir)
    columns = [*NITROGEN_BUTTON_COLUMNS, *NITROGEN_STICK_COLUMNS]
    table = actions_to_table(actions, fps=1.0).select(columns)  # fps only sets the dropped `t`
    table = table.replace_schema_metadata({"padflow.action_schema": ACTION_SCHEMA_VERSION})
    with atomic_path(chunk_dir / ACTIONS_FILES["raw"]) as tmp:
        pq.write_table(table, tmp)
    write_json(chunk_dir / METADATA_FILE, metadata.to_dict())
    return chunk_dir


def find_chunks(labels_dir: Path) -> list[Path]:
    """Chunk folders (holding a metadata.json or a label parquet) anywhere below `labels_dir`, sorted."""
    markers = (METADATA_FILE, *ACTIONS_FILES.values())
    return sorted({p.parent for name in markers for p in labels_dir.rglob(name) if p.is_file()})


def chunk_labels_file(chunk: NitrogenChunk) -> str:
    return next((name for name in ACTIONS_FILES.values() if (chunk.path / name).is_file()), "")
