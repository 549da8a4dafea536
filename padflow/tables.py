"""Action tables (one Parquet file per video, NitroGen's column layout) and the chunk index.

Schema (one row per video frame):

    frame       int64            0, 1, 2, ... (contiguous)
    t           float64          seconds from the start of the video (frame / fps): the frame's
                                 presentation time at the table's own rate, the source's for
                                 extracted tables (docs/overlay.md, "Frame rates")
    south ... guide              17 bool columns, NITROGEN_BUTTON_COLUMNS order
    j_left      fixed list<float32>[2]   (x, y) in [-1, 1], x right, y up
    j_right     fixed list<float32>[2]
    confidence  float32          [0, 1]; 1.0 for ground truth

Schema metadata: `padflow.action_schema` (the action layout's version) and `padflow.unobserved`,
a JSON list of the controls (canonical names of padflow.actions: buttons and axes) the table has no
reading of, because the overlay's skin does not draw them (a GameCube pad has no BACK, an SNES pad
no sticks). An unobserved control is never "not pressed": its cells hold the neutral value (False,
0.0) only so the file keeps NitroGen's layout and every row stays a valid action, and they are not
labels. Every reader takes the mask with the values (`table_observed`: (21,) bool, True = observed);
a table without the key (written before it existed, or by other tools) observes everything.

The same layout carries ground truth (corpus sidecars), extraction output and imported labels,
so they can be compared column by column.

The chunk index (`CHUNK_INDEX_SCHEMA`, one row per training chunk) is what the gate stage writes
and the train stage reads (`write_chunk_index`, `read_chunk_index`). Its `observed` column is the
chunk's table's mask (21 bools in the unified action order); an index without it (older, or built
another way) is read as observing everything (`chunk_observed`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from padflow.actions import (
    ACTION_DIM,
    ACTION_INDEX,
    ACTION_NAMES,
    ACTION_SCHEMA_VERSION,
    AXIS_INDEX,
    BUTTON_INDEX,
    NITROGEN_BUTTON_COLUMNS,
    NITROGEN_STICK_COLUMNS,
    canonical_name,
    validate_action,
)
from padflow.io import atomic_path, file_sha256

if TYPE_CHECKING:
    import pandas as pd

STICK_COLUMNS: tuple[str, ...] = tuple(NITROGEN_STICK_COLUMNS)  # ("j_left", "j_right")
ACTION_TABLE_SCHEMA = pa.schema(
    [pa.field("frame", pa.int64()), pa.field("t", pa.float64())]
    + [pa.field(c, pa.bool_()) for c in NITROGEN_BUTTON_COLUMNS]
    + [pa.field(c, pa.list_(pa.float32(), 2)) for c in STICK_COLUMNS]
    + [pa.field("confidence", pa.float32())],
    metadata={"padflow.action_schema": ACTION_SCHEMA_VERSION},
)
_BUTTON_POS = [BUTTON_INDEX[c.upper()] for c in NITROGEN_BUTTON_COLUMNS]
RATE_DENOMINATOR = 1001  # frame rates are exact fractions with at most this denominator (as padflow.ingest states them)
TICK_TOLERANCE = 1e-6  # frames: float error in row times; within it, a tie (the earlier row wins)
UNOBSERVED_KEY = b"padflow.unobserved"  # schema metadata: JSON list of the controls the table has no reading of


def observed_mask(unobserved: Iterable[str] = ()) -> np.ndarray:
    """(21,) bool in the unified action order: False for each named control (any accepted spelling)."""
    mask = np.ones(ACTION_DIM, dtype=bool)
    for name in unobserved:
        mask[ACTION_INDEX[canonical_name(name)]] = False
    return mask


def unobserved_names(mask: np.ndarray) -> tuple[str, ...]:
    """The canonical names a (21,) observed mask leaves out, in the unified action order."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (ACTION_DIM,):
        raise ValueError(f"observed mask must have shape ({ACTION_DIM},), got {mask.shape}")
    return tuple(name for name, seen in zip(ACTION_NAMES, mask) if not seen)


def actions_to_table(actions: np.ndarray, fps: float, confidence: np.ndarray | None = None, unobserved: Iterable[str] = ()) -> pa.Table:
    """(T, 21) unified actions → an Arrow table in the action-table schema.

    The `unobserved` controls are recorded in the schema metadata and their cells written neutral
    (whatever `actions` holds there is no reading).
    """
    actions = validate_action(actions, "actions")
    if actions.ndim != 2:
        raise ValueError(f"actions must be (T, {ACTION_DIM}), got {actions.shape}")
    mask = observed_mask(unobserved)
    actions = np.where(mask, actions, 0.0).astype(np.float32)
    n = len(actions)
    conf = np.ones(n, np.float32) if confidence is None else np.asarray(confidence, np.float32)
    if conf.shape != (n,):
        raise ValueError(f"confidence must have shape ({n},), got {conf.shape}")
    columns = [pa.array(np.arange(n, dtype=np.int64)), pa.array(np.arange(n) / fps)]
    columns += [pa.array(actions[:, i] > 0.5) for i in _BUTTON_POS]
    for col, (ax, ay) in NITROGEN_STICK_COLUMNS.items():
        xy = np.ascontiguousarray(actions[:, [AXIS_INDEX[ax], AXIS_INDEX[ay]]], dtype=np.float32)
        columns.append(pa.FixedSizeListArray.from_arrays(pa.array(xy.reshape(-1)), 2))
    columns.append(pa.array(conf))
    metadata = {**ACTION_TABLE_SCHEMA.metadata, UNOBSERVED_KEY: json.dumps(list(unobserved_names(mask))).encode()}
    return pa.Table.from_arrays(columns, schema=ACTION_TABLE_SCHEMA.with_metadata(metadata))


def table_unobserved(table: pa.Table) -> tuple[str, ...]:
    """The controls an action table has no reading of (canonical names, unified order); () for a table without the key."""
    raw = (table.schema.metadata or {}).get(UNOBSERVED_KEY)
    if raw is None:
        return ()
    try:
        names = json.loads(raw)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("not a list of control names")
        return unobserved_names(observed_mask(names))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError; so is an unknown control name
        raise ValueError(f"action table metadata {UNOBSERVED_KEY.decode()} = {raw.decode(errors='replace')!r}: {exc}") from None


def table_observed(table: pa.Table) -> np.ndarray:
    """(21,) bool observed mask of an action table (True = a reading, False = unobserved); all True without the key."""
    return observed_mask(table_unobserved(table))


def table_to_actions(table: pa.Table) -> np.ndarray:
    """An action table → (T, 21) float32 unified actions; ValueError names a missing column.

    Unobserved controls read as neutral here: take `table_observed(table)` with the values.
    """
    missing = [f.name for f in ACTION_TABLE_SCHEMA if f.name not in table.column_names]
    if missing:
        raise ValueError(f"action table lacks column(s) {', '.join(missing)}")
    out = np.zeros((table.num_rows, ACTION_DIM), dtype=np.float32)
    for col, pos in zip(NITROGEN_BUTTON_COLUMNS, _BUTTON_POS):
        out[:, pos] = table.column(col).to_numpy(zero_copy_only=False).astype(np.float32)
    for col, (ax, ay) in NITROGEN_STICK_COLUMNS.items():
        flat = table.column(col).combine_chunks().flatten().to_numpy(zero_copy_only=False)
        xy = flat.reshape(-1, 2)
        out[:, AXIS_INDEX[ax]], out[:, AXIS_INDEX[ay]] = xy[:, 0], xy[:, 1]
    return out


def table_times(table: pa.Table) -> np.ndarray:
    """(T,) float64 seconds of each row from the table's row 0 (the `t` column); ValueError when it is missing."""
    if "t" not in table.column_names:
        raise ValueError("action table lacks column t")
    return table.column("t").to_numpy(zero_copy_only=False).astype(np.float64)


def rows_at_rate(t: np.ndarray, rate: float) -> np.ndarray:
    """The row of a table for each step of a `rate` frames/s timeline that starts at the table's row 0.

    `t`: the table's row times, seconds, ascending (table_times). Step k (time k / rate) takes the
    row nearest it, the earlier on a tie, as ingest's resampler gives a tick the source frame
    nearest it; there is a step for every tick before the last row's frame ends (its time plus the
    table's frame step). A table at `rate` maps step k to row k; a 60 fps table at rate 30 gives
    rows 0, 2, 4, ...; a 24 fps one repeats a row now and then. See docs/overlay.md, "Frame rates".
    """
    t = np.asarray(t, dtype=np.float64)
    if not rate > 0:
        raise ValueError(f"rate must be > 0 frames/s, got {rate}")
    # Exact as ingest states rates (29.97 → 30000/1001): a float32 copy of a rate (the chunk index's
    # `fps`) would drift by a frame over a few hours of ticks.
    rate = float(Fraction(float(rate)).limit_denominator(RATE_DENOMINATOR))
    if len(t) == 0:
        return np.zeros(0, np.int64)
    step = float(np.median(np.diff(t))) if len(t) > 1 else 1.0 / rate
    ticks = np.arange(max(1, int(np.ceil((t[-1] + step) * rate - TICK_TOLERANCE)))) / rate
    after = np.clip(np.searchsorted(t, ticks), 0, len(t) - 1)
    before = np.clip(after - 1, 0, None)
    nearer_after = (t[after] - ticks) < (ticks - t[before]) - TICK_TOLERANCE / rate
    return np.where(nearer_after, after, before).astype(np.int64)


def video_rate_actions(table: pa.Table, rate: float | None) -> np.ndarray:
    """(T', 21) actions of a table at `rate` frames/s, one per step (rows_at_rate); the table's own rows
    when `rate` is None or NaN (an index without `fps`). A chunk index's `fps` is its video's rate."""
    actions = table_to_actions(table)
    if rate is None or not np.isfinite(rate) or rate <= 0:
        return actions
    return actions[rows_at_rate(table_times(table), float(rate))]


def write_action_table(
    path: str | Path, actions: np.ndarray, fps: float, confidence: np.ndarray | None = None, unobserved: Iterable[str] = ()
) -> Path:
    table = actions_to_table(actions, fps, confidence, unobserved)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_action_table(path: str | Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValueError(f"{path}: not a readable Parquet action table ({exc})") from None


# The accepted-chunk index: one row per training chunk.
# An overlay-free video's overlay_box in the index: nothing to mask. Not a null, which pyarrow 25 reads
# back from Parquet as an empty list.
NO_OVERLAY_BOX: tuple[int, int, int, int] = (0, 0, 0, 0)
OVERLAY_LABELS, IDM_LABELS = "overlay", "idm"
# Who labelled a chunk: its controller overlay (extract, or labels imported from NitroGen's data, which
# were read from overlays too) or the inverse dynamics model of an overlay-free video (pseudo_label).
LABEL_SOURCES: tuple[str, ...] = (OVERLAY_LABELS, IDM_LABELS)
CHUNK_INDEX_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string()),
        pa.field("video_path", pa.string()),  # normalized video, relative to the project root
        pa.field("table_path", pa.string()),  # its action table, relative to the project root
        pa.field("start_frame", pa.int64()),  # first frame of the chunk, in video_path's frames
        pa.field("frames", pa.int32()),  # chunk length, timesteps
        pa.field("fps", pa.float32()),  # video_path's rate = the chunk's step rate; table rows are taken at it (rows_at_rate)
        pa.field("overlay_box", pa.list_(pa.int32(), 4)),  # (x0, y0, x1, y1) to mask in training
        pa.field("game_box", pa.list_(pa.int32(), 4)),  # (x0, y0, x1, y1) of the game picture
        pa.field("game", pa.string()),  # title when the source says, else "unknown"
        pa.field("density", pa.float32()),  # share of timesteps with any action
        pa.field("motion", pa.float32()),  # largest grey-level change between frames in the chunk
        pa.field("label_source", pa.string()),  # LABEL_SOURCES: who labelled the chunk's table
        pa.field("observed", pa.list_(pa.bool_(), ACTION_DIM)),  # its table's mask, unified order: False = unobserved
    ]
)
# What a reader of the index needs (where each chunk is, what to mask, its game); fps, density and
# motion are the gate's notes, which an index built another way (bench/truth_chunk_index.py) may lack;
# without `observed`, every control is observed; without `label_source`, the overlay labelled it.
CHUNK_INDEX_REQUIRED: tuple[str, ...] = ("video_id", "video_path", "table_path", "start_frame", "frames", "overlay_box", "game_box", "game")


def write_chunk_index(index: pd.DataFrame, path: str | Path) -> Path:
    """A DataFrame with the columns of CHUNK_INDEX_SCHEMA → Parquet at `path` (atomically); a chunk without `observed`
    observes everything, one without `label_source` was labelled from its overlay."""
    if "label_source" not in index.columns:
        index = index.assign(label_source=OVERLAY_LABELS)
    observed = CHUNK_INDEX_SCHEMA.field("observed")
    base = pa.schema([f for f in CHUNK_INDEX_SCHEMA if f.name != observed.name])
    table = pa.Table.from_pandas(index.drop(columns=[observed.name], errors="ignore"), schema=base, preserve_index=False)
    mask = pa.array(chunk_observed(index).reshape(-1))
    table = table.append_column(observed, pa.FixedSizeListArray.from_arrays(mask, ACTION_DIM))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_chunk_index(path: str | Path, allow_empty: bool = False) -> pd.DataFrame:
    """The chunk index as a DataFrame; ValueError names a missing file, a missing column or (unless allowed) an empty index."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no chunk index; run the gate stage first")
    df = pq.read_table(path).to_pandas()
    missing = [c for c in CHUNK_INDEX_REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: chunk index lacks column(s) {', '.join(missing)}")
    if df.empty and not allow_empty:
        raise ValueError(f"{path}: chunk index has no chunks (the gate accepted no action table: its report beside it "
                         f"says why); nothing to train on")
    return df.reset_index(drop=True)


def index_box(value: object) -> tuple[int, int, int, int] | None:
    """An index box cell as ints; None for a missing or empty one (NO_OVERLAY_BOX: the chunk has no overlay to mask)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    x0, y0, x1, y1 = (int(v) for v in value)  # type: ignore[union-attr]
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def chunk_label_source(index: pd.DataFrame) -> np.ndarray:
    """(N,) who labelled each chunk (LABEL_SOURCES); overlay for an index without the column or a chunk without a value."""
    if "label_source" not in index.columns:
        return np.full(len(index), OVERLAY_LABELS, dtype=object)
    return np.array([OVERLAY_LABELS if _missing(v) else str(v) for v in index["label_source"]], dtype=object)


def merge_chunk_indexes(paths: Iterable[str | Path], label_sources: Iterable[str]) -> pd.DataFrame:
    """The chunks of every index at `paths` whose label source is one of `label_sources`, in that order.

    An index may be empty (pseudo_label keeps no chunk when the IDM labels nothing as acting); the
    merge may not: the ValueError says how many chunks each index had of each source.
    """
    import pandas as pd  # here: reading an action table does not need pandas

    wanted = list(label_sources)
    parts, seen = [], []
    for path in paths:
        index = read_chunk_index(path, allow_empty=True)
        sources = chunk_label_source(index)
        index = index.assign(label_source=sources)
        counts = pd.Series(sources, dtype=object).value_counts().to_dict()
        seen.append(f"{path}: {counts or 'no chunks'}")
        parts.append(index[np.isin(sources, wanted)])
    merged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if merged.empty:
        raise ValueError(f"no chunk labelled by {wanted} to train on ({'; '.join(seen) or 'no index given'})")
    return merged


def chunk_observed(index: pd.DataFrame) -> np.ndarray:
    """(N, 21) bool observed mask of every chunk of an index; all True for an index without the `observed` column."""
    if "observed" not in index.columns:
        return np.ones((len(index), ACTION_DIM), dtype=bool)
    rows = [np.ones(ACTION_DIM, bool) if _missing(v) else np.asarray(v, dtype=bool) for v in index["observed"]]
    mask = np.stack(rows) if rows else np.ones((0, ACTION_DIM), bool)
    if mask.shape != (len(index), ACTION_DIM):
        raise ValueError(f"chunk index column observed must hold {ACTION_DIM} bools per chunk, got shape {mask.shape}")
    return mask


def _missing(value: object) -> bool:
    """A chunk's `observed` cell left empty (None, or NaN from a DataFrame built without the column)."""
    return value is None or (isinstance(value, float) and np.isnan(value))


def data_fingerprint(index_path: Path, root: Path) -> str:
    """sha256 of the chunk index and of every action table it points at (videos are named by their content).

    A new gate output (new chunks, or new labels in the same chunks) must start training afresh,
    not resume a finished run on the old data and export it again.
    """
    digest = hashlib.sha256(file_sha256(index_path).encode())
    for table in sorted(read_chunk_index(index_path)["table_path"].astype(str).unique()):
        digest.update(file_sha256(root / table).encode())
    return digest.hexdigest()[:16]


def table_frame_offset(table_path: Path) -> int:
    """Video frame of the table's row 0: `frame_offset` of the record beside the table (imported labels), else 0."""
    record = Path(table_path).with_suffix(".json")
    if record.is_file():
        return int(json.loads(record.read_text()).get("frame_offset", 0) or 0)
    return 0


def chunk_actions(index: pd.DataFrame, root: Path, horizon: int) -> np.ndarray:
    """(N, horizon, 21) float32 action chunks for every row of a chunk index (tables relative to `root`).

    A chunk steps at the index's `fps` (its video's rate); a table at another rate gives each step the
    row nearest its time (rows_at_rate). An index without `fps` steps at each table's own rate.
    Unobserved controls read as neutral: take `chunk_observed(index)` with the values.
    """
    out = np.zeros((len(index), horizon, ACTION_DIM), np.float32)
    tables: dict[str, tuple[np.ndarray, int]] = {}
    rates = index["fps"].to_numpy(np.float64) if "fps" in index.columns else np.full(len(index), np.nan)
    for i, row in enumerate(index.itertuples()):
        if int(row.frames) != horizon:
            raise ValueError(f"chunk {i} of {row.table_path} has {row.frames} frames; {horizon} expected")
        if row.table_path not in tables:
            path = Path(root) / row.table_path
            tables[row.table_path] = (video_rate_actions(read_action_table(path), rates[i]), table_frame_offset(path))
        actions, offset = tables[row.table_path]
        start = int(row.start_frame) - offset
        if start < 0 or start + horizon > len(actions):
            raise ValueError(f"{row.table_path}: chunk at frame {row.start_frame} runs outside the table ({len(actions)} rows)")
        out[i] = actions[start : start + horizon]
    return out
