"""The released NitroGen dataset layout: read and write its label chunks, import them, export padflow's.

Layout (the dataset's `actions/` folder)::

    SHARD_XXXX/<video_id>/<video_id>_chunk_XXXX/
        actions_raw.parquet        one row per video frame: the 17 boolean button columns
                                   (NITROGEN_BUTTON_COLUMNS) and the sticks `j_left` / `j_right`
                                   as (x, y) pairs in [-1, 1], x right, y up
        actions_processed.parquet  optional; the same columns after the dataset's own filtering
        metadata.json              uuid "<video_id>_chunk_<n>_actions", chunk_id, chunk_size, game,
                                   controller_type, bbox_game_area, bbox_controller_overlay,
                                   original_video {video_id, url, resolution, start_time, end_time,
                                   duration, start_frame, end_frame}

A chunk spans 20 seconds of its video. Conventions padflow assumes (the released files could not
be inspected offline, so reading is lenient where writing is exact):

- Boxes. padflow writes `[x0, y0, x1, y1]` in pixels of `original_video.resolution`. It reads
  that, or a mapping `{x, y, w, h}` (also `width` / `height`), in pixels, or normalized to the
  frame when every value is <= 1; a box reaching past the frame is clipped to it. A null
  `bbox_game_area` is accepted; a chunk without `bbox_controller_overlay` is not (training must
  mask the overlay).
- `resolution` is `[width, height]` (also read: "WxH", or {width, height}).
- `chunk_id` is written as the zero-padded string of the folder name; an integer is read too.
  `chunk_size` is written as the chunk's number of rows; it is kept on import, never trusted:
  lengths come from the parquet rows and the chunk's times.
- Rows are spread evenly over [start_time, end_time): row i labels the frame shown at
  start_time + i * (end_time - start_time) / rows. Imports map by these times, not by
  start_frame / end_frame, so a local copy at another frame rate still lines up.

Import (`import_nitrogen`): chunks whose video is present locally as
`<videos_dir>/<original_video.video_id>.<mp4|mkv|webm|...>` become padflow action tables that the
gate reads like extracted ones. The videos folder is ingested (tasks.ingest: normalized to 30 fps
H.264) into `<out>/ingest`, so the gate's chunk index points at normalized videos; note that
every video in the folder is ingested, so give it a folder of the labelled videos. Each
normalized frame k (time k / fps) takes the label row nearest its time (a tie takes the earlier
row, as ingest's resampler does), so a 60 fps source keeps every other row and a 24 fps source
repeats some. One table per chunk, `<out>/<video_id>_chunk_XXXX.parquet`, its `frame` column
counting from 0; its record `<table_id>.json` says which frames of the normalized video it covers
(`frame_offset`, `expected_frames`), the overlay box scaled to the normalized video, and the chunk's
metadata. The released labels carry neither localization inliers nor per-frame confidence:
records say `inliers: null` with the reason (the gate then skips its weak_localization check), and
tables carry confidence 1.0, also noted in the record. `<out>/import_report.json` lists every chunk
as imported or rejected with its path and reason, and the tables in the shape the gate reads
(`tables`, `ingest_dir`): add the import folder to the gate's `sources`.

Export (`export_nitrogen`): every table with a chunk in the gate's accepted-chunk index, whole
(the release labels whole videos and leaves idle filtering to its users), cut into 20-second
chunks under `<out>/actions/SHARD_XXXX/<video_id>/`, `chunk_id` counting per video in frame order;
existing chunk folders of the same names are overwritten. Rows are frames of padflow's
normalized video, so `original_video` describes that video: its video_id, `resolution` (the
normalized size, in which both boxes are given), frames and times, plus `fps`, and the source's
`url`, `source` and `licence` from the ingest report (normalization keeps the timeline, so the
times hold for the source at `url`). `bbox_controller_overlay` is the localization box,
`bbox_game_area` the gate's game box. Export then import gives back the same actions (importing
re-ingests the normalized video, whose new MP4 bytes give it a new padflow video_id; the
exported id stays in each table's record as the chunk's original_video.video_id).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from padflow.actions import (
    ACTION_DIM,
    ACTION_SCHEMA_VERSION,
    AXIS_INDEX,
    BUTTON_INDEX,
    NITROGEN_BUTTON_COLUMNS,
    NITROGEN_STICK_COLUMNS,
    validate_action,
)
from padflow.io import atomic_path, write_json
from padflow.tables import actions_to_table, read_action_table, table_to_actions, write_action_table
from tasks.ingest import REPORT_FILE as INGEST_REPORT
from tasks.ingest import IngestConfig, IngestRow, accepted_videos, ingest, read_report

ACTIONS_FILES = {"raw": "actions_raw.parquet", "processed": "actions_processed.parquet"}
METADATA_FILE = "metadata.json"
ACTIONS_DIR = "actions"  # the dataset's top folder, above the shards
IMPORT_REPORT = "import_report.json"  # the gate reads this name (tasks.gate.TABLE_REPORTS)
EXPORT_REPORT = "export_report.json"
IMPORT_INGEST_DIR = "ingest"  # the import's normalized videos, relative to its output folder
REPORT_FORMAT = 1
ID_DIGITS = 4  # SHARD_0000, <video_id>_chunk_0000
SAFE_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]+")  # video ids become file names
STICK_TOLERANCE = 1e-6  # float noise beyond ±1 that is clipped instead of rejected
# Label positions are compared at micro-row precision, so float noise in the chunk times never
# moves a frame to the neighbouring row.
ROW_POSITION_DECIMALS = 6
INLIERS_NOTE = "imported NitroGen labels: padflow did not localize this overlay; the box is the chunk's bbox_controller_overlay"
CONFIDENCE_NOTE = "the released labels carry no per-frame confidence; 1.0 is written"

ChunkReason = Literal["missing_file", "unreadable", "missing_column", "bad_values", "malformed_metadata"]
ImportReason = Literal[ChunkReason, "video_missing", "video_rejected", "outside_video", "duplicate_chunk"]
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), pixels


@dataclass(frozen=True)
class NitrogenConfig:
    chunk_seconds: float = 20.0  # length of an exported chunk, seconds (the released dataset's)
    videos_per_shard: int = 100  # exported videos per SHARD_XXXX folder
    labels: str = "raw"  # which label file import reads: raw (actions_raw) or processed (actions_processed)

    def __post_init__(self) -> None:
        if self.chunk_seconds <= 0:
            raise ValueError(f"chunk_seconds must be > 0, got {self.chunk_seconds}")
        if self.videos_per_shard < 1:
            raise ValueError(f"videos_per_shard must be >= 1, got {self.videos_per_shard}")
        if self.labels not in ACTIONS_FILES:
            raise ValueError(f"labels must be one of {list(ACTIONS_FILES)}, got {self.labels!r}")


class ChunkError(ValueError):
    """A chunk folder that cannot be read; `reason` is its short code, the message names the file."""

    def __init__(self, reason: ChunkReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class OriginalVideo:
    video_id: str
    url: str | None
    resolution: tuple[int, int]  # (width, height), pixels: the space of the chunk's boxes
    start_time: float  # seconds into the video where the chunk starts
    end_time: float  # seconds into the video where the chunk ends (exclusive)
    duration: float | None  # the whole video, seconds
    start_frame: int
    end_frame: int  # exclusive
    extra: Mapping[str, Any] = field(default_factory=dict)  # other keys, kept as found

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id, "url": self.url, "resolution": list(self.resolution),
            "start_time": self.start_time, "end_time": self.end_time, "duration": self.duration,
            "start_frame": self.start_frame, "end_frame": self.end_frame, **self.extra,
        }  # fmt: skip


@dataclass(frozen=True)
class ChunkMetadata:
    uuid: str
    chunk_id: int
    chunk_size: int
    game: str
    controller_type: str
    bbox_game_area: Box | None  # pixels of original_video.resolution; None when the source gives none
    bbox_controller_overlay: Box
    original_video: OriginalVideo
    extra: Mapping[str, Any] = field(default_factory=dict)  # other keys, kept as found

    def to_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "chunk_id": f"{self.chunk_id:0{ID_DIGITS}d}",
            "chunk_size": self.chunk_size,
            "game": self.game,
            "controller_type": self.controller_type,
            "bbox_game_area": None if self.bbox_game_area is None else _box_json(self.bbox_game_area),
            "bbox_controller_overlay": _box_json(self.bbox_controller_overlay),
            "original_video": self.original_video.to_dict(),
            **self.extra,
        }


def _box_json(box: Box) -> list[float | int]:
    """Whole pixels as integers, the rest as floats."""
    return [int(v) if float(v).is_integer() else float(v) for v in box]


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


def read_metadata(path: Path) -> ChunkMetadata:
    """A chunk's metadata.json, validated; ChunkError names the field that is missing or wrong."""
    if not path.is_file():
        raise ChunkError("missing_file", f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChunkError("malformed_metadata", f"{path}: not valid JSON ({exc})") from None
    return parse_metadata(data, str(path))


def parse_metadata(data: Any, where: str) -> ChunkMetadata:
    if not isinstance(data, Mapping):
        raise ChunkError("malformed_metadata", f"{where}: must be a JSON object, got {type(data).__name__}")
    fields = ("uuid", "chunk_id", "chunk_size", "game", "controller_type", "bbox_game_area",
              "bbox_controller_overlay", "original_video")  # fmt: skip
    missing = [f for f in fields if f not in data]
    if missing:
        raise ChunkError("malformed_metadata", f"{where}: lacks field(s) {', '.join(missing)}")
    video = _original_video(data["original_video"], where)
    game_area = None if data["bbox_game_area"] is None else _box(data["bbox_game_area"], video.resolution, where, "bbox_game_area")
    return ChunkMetadata(
        uuid=_string(data["uuid"], where, "uuid"),
        chunk_id=_integer(data["chunk_id"], where, "chunk_id", digits_ok=True),
        chunk_size=_integer(data["chunk_size"], where, "chunk_size"),
        game=_string(data["game"], where, "game"),
        controller_type=_string(data["controller_type"], where, "controller_type"),
        bbox_game_area=game_area,
        bbox_controller_overlay=_box(data["bbox_controller_overlay"], video.resolution, where, "bbox_controller_overlay"),
        original_video=video,
        extra={k: v for k, v in data.items() if k not in fields},
    )


def _original_video(data: Any, where: str) -> OriginalVideo:
    name = "original_video"
    if not isinstance(data, Mapping):
        raise ChunkError("malformed_metadata", f"{where}: {name} must be an object, got {data!r}")
    keys = ("video_id", "url", "resolution", "start_time", "end_time", "duration", "start_frame", "end_frame")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ChunkError("malformed_metadata", f"{where}: {name} lacks field(s) {', '.join(missing)}")
    video_id = _string(data["video_id"], where, f"{name}.video_id")
    if not SAFE_VIDEO_ID.fullmatch(video_id):
        raise ChunkError("malformed_metadata", f"{where}: {name}.video_id {video_id!r} may only hold letters, digits, _ and -")
    url = data["url"]
    if url is not None and not isinstance(url, str):
        raise ChunkError("malformed_metadata", f"{where}: {name}.url must be a string or null, got {url!r}")
    start, end = (_number(data[k], where, f"{name}.{k}") for k in ("start_time", "end_time"))
    if not 0.0 <= start < end:
        raise ChunkError("malformed_metadata", f"{where}: {name} needs 0 <= start_time < end_time, got {start} and {end}")
    first, last = (_integer(data[k], where, f"{name}.{k}") for k in ("start_frame", "end_frame"))
    if not 0 <= first <= last:
        raise ChunkError("malformed_metadata", f"{where}: {name} needs 0 <= start_frame <= end_frame, got {first} and {last}")
    duration = None if data["duration"] is None else _number(data["duration"], where, f"{name}.duration")
    return OriginalVideo(
        video_id=video_id, url=url, resolution=_resolution(data["resolution"], where),
        start_time=start, end_time=end, duration=duration, start_frame=first, end_frame=last,
        extra={k: v for k, v in data.items() if k not in keys},
    )  # fmt: skip


def _resolution(value: Any, where: str) -> tuple[int, int]:
    size: Any = value
    if isinstance(value, str) and re.fullmatch(r"\d+x\d+", value):
        size = [int(v) for v in value.split("x")]
    elif isinstance(value, Mapping) and {"width", "height"} <= set(value):
        size = [value["width"], value["height"]]
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(_is_int(v) and v > 0 for v in size):
        return int(size[0]), int(size[1])
    raise ChunkError("malformed_metadata", f"{where}: original_video.resolution must be [width, height] in pixels, got {value!r}")


def _box(value: Any, resolution: tuple[int, int], where: str, name: str) -> Box:
    """A box as [x0, y0, x1, y1] pixels, or {x, y, w, h} in pixels or normalized (all <= 1) → pixels."""
    width, height = resolution
    if isinstance(value, Mapping):
        w, h = value.get("w", value.get("width")), value.get("h", value.get("height"))
        parts = [value.get("x"), value.get("y"), w, h]
        if not all(_is_number(v) for v in parts):
            raise ChunkError("malformed_metadata", f"{where}: {name} as an object needs numeric x, y, w, h; got {dict(value)!r}")
        x, y, w, h = (float(v) for v in parts)
        if max(x, y, w, h) <= 1.0:
            x, y, w, h = x * width, y * height, w * width, h * height
        box = (x, y, x + w, y + h)
    elif isinstance(value, (list, tuple)) and len(value) == 4 and all(_is_number(v) for v in value):
        box = tuple(float(v) for v in value)
    else:
        raise ChunkError("malformed_metadata", f"{where}: {name} must be [x0, y0, x1, y1] or {{x, y, w, h}}, got {value!r}")
    # A box reaching past the frame edge is clipped to it; one with nothing inside is malformed.
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(width)), min(box[3], float(height))
    if not (x0 < x1 and y0 < y1):
        raise ChunkError("malformed_metadata", f"{where}: {name} {list(box)} is empty or outside the {width}x{height} frame")
    return x0, y0, x1, y1


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(value: Any, where: str, name: str) -> float:
    if not _is_number(value):
        raise ChunkError("malformed_metadata", f"{where}: {name} must be a number, got {value!r}")
    return float(value)


def _integer(value: Any, where: str, name: str, digits_ok: bool = False) -> int:
    if digits_ok and isinstance(value, str) and value.isdigit():
        return int(value)
    if not _is_int(value) or value < 0:
        raise ChunkError("malformed_metadata", f"{where}: {name} must be a non-negative integer, got {value!r}")
    return value


def _string(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ChunkError("malformed_metadata", f"{where}: {name} must be a non-empty string, got {value!r}")
    return value


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


def label_rows(start_time: float, end_time: float, rows: int, fps: float, frames: int) -> tuple[int, np.ndarray]:
    """(first frame, label row of each frame) for the frames of a `fps`-rate video a chunk covers.

    Row i of the chunk sits at start_time + i * step (step = (end - start) / rows); frame k at
    k / fps takes the nearest row, the earlier one on a tie. Frames past `frames` are left out.
    """
    step = (end_time - start_time) / rows
    first = max(0, math.floor((start_time - step) * fps))
    last = min(frames, math.ceil(end_time * fps) + 1)
    ticks = np.arange(first, max(first, last))
    position = np.round((ticks / fps - start_time) / step, ROW_POSITION_DECIMALS)
    row = np.ceil(position - 0.5).astype(np.int64)
    inside = (row >= 0) & (row < rows)
    if not inside.any():
        return 0, np.zeros(0, np.int64)
    return int(ticks[inside][0]), row[inside]


def scale_box(box: Box, source: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """A pixel box in a `source`-sized frame → whole pixels of a `target`-sized frame, rounded outward."""
    sx, sy = target[0] / source[0], target[1] / source[1]
    x0, y0, x1, y1 = box
    return (max(0, math.floor(x0 * sx)), max(0, math.floor(y0 * sy)),
            min(target[0], math.ceil(x1 * sx)), min(target[1], math.ceil(y1 * sy)))  # fmt: skip


@dataclass(frozen=True)
class ChunkOutcome:
    """What import made of one chunk folder."""

    path: str  # the chunk folder, relative to the labels folder
    status: Literal["imported", "rejected"]
    reason: ImportReason | None  # None when imported
    detail: str  # what was wrong, or what was done
    uuid: str | None = None
    nitrogen_video_id: str | None = None
    video_id: str | None = None  # padflow's id of the normalized video
    table_id: str | None = None  # the action table written (<out>/<table_id>.parquet)
    frame_offset: int | None = None  # first frame of the normalized video the table covers
    frames: int | None = None  # rows of the table


@dataclass(frozen=True)
class ImportReport:
    labels_dir: str
    videos_dir: str
    out_dir: str
    chunks: tuple[ChunkOutcome, ...]
    tables: tuple[Mapping[str, Any], ...]  # the gate's listing: table_id, video_id, status, game, path, ...

    def summary(self) -> dict[str, int]:
        rejected = [c for c in self.chunks if c.status == "rejected"]
        counts: dict[str, int] = defaultdict(int)
        for c in rejected:
            counts[f"rejected_{c.reason}"] += 1
        return {"chunks": len(self.chunks), "imported": len(self.chunks) - len(rejected), "rejected": len(rejected),
                "frames": sum(c.frames or 0 for c in self.chunks), **dict(sorted(counts.items()))}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "labels_dir": self.labels_dir,
            "videos_dir": self.videos_dir,
            "ingest_dir": IMPORT_INGEST_DIR,
            "summary": self.summary(),
            "tables": [dict(t) for t in self.tables],
            "chunks": [asdict(c) for c in self.chunks],
        }


def import_nitrogen(
    labels_dir: str | Path,
    videos_dir: str | Path,
    out_dir: str | Path,
    cfg: NitrogenConfig = NitrogenConfig(),
    ingest_cfg: IngestConfig = IngestConfig(),
    progress: Callable[[ChunkOutcome], None] | None = None,
    ingest_progress: Callable[[int, int, IngestRow], None] | None = None,
) -> ImportReport:
    """Turn released label chunks whose video is present into gate-ready action tables (see the module doc).

    `progress(outcome)` is called as each chunk is settled; `ingest_progress` is tasks.ingest's.
    """
    labels_dir, videos_dir, out_dir = Path(labels_dir), Path(videos_dir), Path(out_dir)
    if not labels_dir.is_dir():
        raise ValueError(f"{labels_dir}: labels folder not found (give the dataset's actions/ folder or a shard)")
    if not videos_dir.is_dir():
        raise ValueError(f"{videos_dir}: videos folder not found")
    outcomes: dict[str, ChunkOutcome] = {}
    pending: list[tuple[str, NitrogenChunk, Path]] = []  # (chunk path, chunk, local video)
    seen: dict[str, str] = {}  # uuid → the chunk path that had it first

    def settle(outcome: ChunkOutcome) -> None:
        outcomes[outcome.path] = outcome
        if progress:
            progress(outcome)

    for chunk_dir in find_chunks(labels_dir):
        where = chunk_dir.relative_to(labels_dir).as_posix()
        try:
            chunk = read_chunk(chunk_dir, cfg.labels)
        except ChunkError as exc:
            settle(ChunkOutcome(where, "rejected", exc.reason, str(exc)))
            continue
        meta = chunk.metadata
        ids = {"uuid": meta.uuid, "nitrogen_video_id": meta.original_video.video_id}
        if meta.uuid in seen:
            settle(ChunkOutcome(where, "rejected", "duplicate_chunk", f"same uuid as {seen[meta.uuid]}", **ids))
            continue
        seen[meta.uuid] = where
        video = find_video(videos_dir, meta.original_video.video_id, ingest_cfg.extensions)
        if video is None:
            exts = "|".join(e.lstrip(".") for e in ingest_cfg.extensions)
            detail = f"no video {meta.original_video.video_id}.<{exts}> in {videos_dir} (fetch it from {meta.original_video.url})"
            settle(ChunkOutcome(where, "rejected", "video_missing", detail, **ids))
            continue
        pending.append((where, chunk, video))

    ingested: dict[str, IngestRow] = {}
    if pending:
        report = ingest(videos_dir, out_dir / IMPORT_INGEST_DIR, ingest_cfg, ingest_cfg.workers, ingest_progress)
        ingested = {row.path: row for row in report.files}
    tables: list[dict[str, Any]] = []
    root = videos_dir.resolve()
    for where, chunk, video in pending:
        outcome, table = _import_chunk(where, chunk, ingested.get(video.relative_to(root).as_posix()), video, out_dir, ingest_cfg.fps)
        settle(outcome)
        if table is not None:
            tables.append(table)

    _remove_stale_tables(out_dir, {t["table_id"] for t in tables})
    report = ImportReport(
        labels_dir=str(labels_dir),
        videos_dir=str(videos_dir),
        out_dir=str(out_dir),
        chunks=tuple(outcomes[k] for k in sorted(outcomes)),
        tables=tuple(tables),
    )
    write_json(out_dir / IMPORT_REPORT, report.to_dict())
    return report


def find_video(videos_dir: Path, video_id: str, extensions: tuple[str, ...]) -> Path | None:
    """`<videos_dir>/<video_id>.<ext>` for the first ingestible suffix present (resolved), else None."""
    for ext in extensions:
        path = videos_dir.resolve() / f"{video_id}{ext}"
        if path.is_file():
            return path
    return None


def _import_chunk(
    where: str, chunk: NitrogenChunk, row: IngestRow | None, video: Path, out_dir: Path, fps: float
) -> tuple[ChunkOutcome, dict[str, Any] | None]:
    meta, original = chunk.metadata, chunk.metadata.original_video
    ids = {"uuid": meta.uuid, "nitrogen_video_id": original.video_id}
    if row is None or row.status != "accepted" or row.video_id is None or row.size_out is None:
        why = "not ingested" if row is None else f"{row.reason}: {row.detail}"
        return ChunkOutcome(where, "rejected", "video_rejected", f"ingest rejected {video}: {why}", **ids), None
    frames_out = row.frames_out or 0
    offset, rows = label_rows(original.start_time, original.end_time, len(chunk.actions), fps, frames_out)
    if len(rows) == 0:
        detail = (f"chunk spans {original.start_time:.2f}-{original.end_time:.2f} s but {video.name} "
                  f"lasts {frames_out / fps:.2f} s")  # fmt: skip
        return ChunkOutcome(where, "rejected", "outside_video", detail, video_id=row.video_id, **ids), None
    table_id = chunk_name(original.video_id, meta.chunk_id)
    write_action_table(out_dir / f"{table_id}.parquet", chunk.actions[rows], fps)
    box = scale_box(meta.bbox_controller_overlay, original.resolution, row.size_out)
    write_json(out_dir / f"{table_id}.json", {
        "source": "nitrogen",
        "video_id": row.video_id,
        "table_id": table_id,
        "frame_offset": offset,
        "expected_frames": len(rows),
        "fps": fps,
        "inliers": None,
        "inliers_note": INLIERS_NOTE,
        "box": list(box),
        "confidence_note": CONFIDENCE_NOTE,
        "game": meta.game,
        "controller_type": meta.controller_type,
        "action_schema": ACTION_SCHEMA_VERSION,
        "nitrogen": {"chunk": where, "labels_file": chunk_labels_file(chunk), "metadata": meta.to_dict()},
    })
    ends = f"frames {offset}-{offset + len(rows) - 1} of {row.video_id} at {fps:g} fps"
    _, unclipped = label_rows(original.start_time, original.end_time, len(chunk.actions), fps, sys.maxsize)
    clipped = "" if len(unclipped) == len(rows) else f"; cut at the video's end (last label row used: {rows[-1]})"
    outcome = ChunkOutcome(
        where, "imported", None, f"{len(chunk.actions)} label rows → {len(rows)} {ends}{clipped}",
        video_id=row.video_id, table_id=table_id, frame_offset=offset, frames=len(rows), **ids,
    )
    table = {"table_id": table_id, "video_id": row.video_id, "status": "imported", "game": meta.game,
             "path": f"{table_id}.parquet", "frame_offset": offset, "frames": len(rows)}  # fmt: skip
    return outcome, table


def chunk_labels_file(chunk: NitrogenChunk) -> str:
    return next((name for name in ACTIONS_FILES.values() if (chunk.path / name).is_file()), "")


def _remove_stale_tables(out_dir: Path, keep: set[str]) -> None:
    """Delete tables (and records) a previous import listed that this one did not write."""
    try:
        previous = json.loads((out_dir / IMPORT_REPORT).read_text())
    except (OSError, json.JSONDecodeError):
        return
    if not isinstance(previous, dict) or previous.get("format") != REPORT_FORMAT:
        return
    for table in previous.get("tables", []):
        table_id = table.get("table_id")
        if table_id and table_id not in keep and SAFE_VIDEO_ID.fullmatch(table_id):
            for suffix in (".parquet", ".json"):
                (out_dir / f"{table_id}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class ExportReport:
    out_dir: str
    chunks: tuple[str, ...]  # chunk folders written, relative to out_dir
    skipped: tuple[Mapping[str, str], ...]  # tables not exported: {table_path, reason}
    videos: int

    def to_dict(self) -> dict[str, Any]:
        return {"format": REPORT_FORMAT, "out_dir": self.out_dir, "videos": self.videos,
                "chunks": list(self.chunks), "skipped": [dict(s) for s in self.skipped]}  # fmt: skip


def export_nitrogen(
    gate_dir: str | Path, out_dir: str | Path, root: str | Path, cfg: NitrogenConfig = NitrogenConfig()
) -> ExportReport:
    """Write every table of the gate's accepted-chunk index as released-layout chunks under out_dir/actions."""
    gate_dir, out_dir, root = Path(gate_dir), Path(out_dir), Path(root)
    index_path = gate_dir / "chunks.parquet"
    if not index_path.is_file():
        raise ValueError(f"{index_path}: chunk index not found; run the gate stage first")
    try:
        index = pq.read_table(index_path).to_pylist()
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValueError(f"{index_path}: not a readable chunk index ({exc})") from None
    by_table: dict[str, Mapping[str, Any]] = {}
    for row in index:
        by_table.setdefault(row["table_path"], row)
    by_video: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in by_table.values():
        by_video[row["video_id"]].append(row)

    ingest_reports: dict[Path, dict[str, Mapping[str, Any]]] = {}
    written: list[str] = []
    skipped: list[dict[str, str]] = []
    for number, video_id in enumerate(sorted(by_video)):
        shard = shard_name(number // cfg.videos_per_shard)
        pieces: list[tuple[int, np.ndarray, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]] = []
        for row in by_video[video_id]:
            try:
                pieces.append(_export_source(row, root, ingest_reports))
            except ValueError as exc:
                skipped.append({"table_path": row["table_path"], "reason": str(exc)})
        chunk_id = 0
        for offset, actions, row, record, ingested in sorted(pieces, key=lambda p: p[0]):
            fps = float(row["fps"])
            size = max(1, round(cfg.chunk_seconds * fps))
            for start in range(0, len(actions), size):
                piece = actions[start : start + size]
                first, last = offset + start, offset + start + len(piece)
                metadata = _export_metadata(video_id, chunk_id, piece, first, last, fps, row, record, ingested)
                name = chunk_name(video_id, chunk_id)
                write_chunk(out_dir / ACTIONS_DIR / shard / video_id / name, piece, metadata)
                written.append(f"{ACTIONS_DIR}/{shard}/{video_id}/{name}")
                chunk_id += 1
    report = ExportReport(str(out_dir), tuple(written), tuple(skipped), len(by_video))
    write_json(out_dir / EXPORT_REPORT, report.to_dict())
    return report


def _export_source(
    row: Mapping[str, Any], root: Path, ingest_reports: dict[Path, dict[str, Mapping[str, Any]]]
) -> tuple[int, np.ndarray, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]:
    """(frame offset, actions, index row, table record, ingest row) of one accepted table; ValueError says why not."""
    table_path = root / row["table_path"]
    actions = table_to_actions(read_action_table(table_path))
    record_path = table_path.with_suffix(".json")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{record_path}: table record unreadable ({exc})") from None
    # Normalized videos live in <ingest dir>/videos/, beside the report that describes them.
    ingest_dir = (root / row["video_path"]).parent.parent
    if ingest_dir not in ingest_reports:
        ingest_reports[ingest_dir] = accepted_videos(read_report(ingest_dir))
    ingested = ingest_reports[ingest_dir].get(row["video_id"])
    if ingested is None or not ingested.get("size_out"):
        raise ValueError(f"{ingest_dir / INGEST_REPORT}: no accepted video {row['video_id']}")
    return int(record.get("frame_offset", 0)), actions, row, record, ingested


def _export_metadata(
    video_id: str,
    chunk_id: int,
    actions: np.ndarray,
    first: int,
    last: int,
    fps: float,
    row: Mapping[str, Any],
    record: Mapping[str, Any],
    ingested: Mapping[str, Any],
) -> ChunkMetadata:
    """One exported chunk's metadata: frames [first, last) of the normalized video."""
    frames = int(ingested.get("frames_out") or last)
    video = OriginalVideo(
        video_id=video_id,
        url=ingested.get("url"),
        resolution=tuple(ingested["size_out"]),
        start_time=first / fps,
        end_time=last / fps,
        duration=frames / fps,
        start_frame=first,
        end_frame=last,
        extra={"fps": fps, "source": ingested.get("source"), "licence": ingested.get("licence"),
               "sha256": ingested.get("sha256")},  # fmt: skip
    )
    localization = record.get("localization") or {}
    controller = record.get("controller_type") or localization.get("skin_id") or "unknown"
    return ChunkMetadata(
        uuid=f"{chunk_name(video_id, chunk_id)}_actions",
        chunk_id=chunk_id,
        chunk_size=len(actions),
        game=str(row.get("game") or "unknown"),
        controller_type=str(controller),
        bbox_game_area=tuple(float(v) for v in row["game_box"]),
        bbox_controller_overlay=tuple(float(v) for v in row["overlay_box"]),
        original_video=video,
    )
