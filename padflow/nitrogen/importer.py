"""Import released label chunks as action tables the gate reads like extracted ones.

Chunks whose video is present locally as `<videos_dir>/<original_video.video_id>.<mp4|mkv|webm|...>`
become padflow action tables. The videos folder is ingested (padflow.ingest: normalized to 30 fps
H.264) into `<out>/ingest`, so the gate's chunk index points at normalized videos; note that
every video in the folder is ingested, so give it a folder of the labelled videos. Each
normalized frame k (time k / fps) takes the label row nearest its time (a tie takes the earlier
row, as ingest's resampler does), so a 60 fps source keeps every other row and a 24 fps source
repeats some. Imports map by the chunk's times, not by start_frame / end_frame, so a local copy
at another frame rate still lines up.

One table per chunk, `<out>/<video_id>_chunk_XXXX.parquet`, its `frame` column counting from 0;
its record `<table_id>.json` says which frames of the normalized video it covers
(`frame_offset`, `expected_frames`), the overlay box scaled to the normalized video, and the chunk's
metadata. The released labels carry neither localization inliers nor per-frame confidence:
records say `inliers: null` with the reason (the gate then skips its weak_localization check), and
tables carry confidence 1.0, also noted in the record. `<out>/import_report.json` lists every chunk
as imported or rejected with its path and reason, and the tables in the shape the gate reads
(`tables`, `ingest_dir`): add the import folder to the gate's `sources`.
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from padflow.actions import ACTION_SCHEMA_VERSION
from padflow.ingest import IngestConfig, IngestRow, ingest
from padflow.io import write_json
from padflow.nitrogen.chunks import (
    REPORT_FORMAT,
    NitrogenChunk,
    NitrogenConfig,
    chunk_labels_file,
    chunk_name,
    find_chunks,
    read_chunk,
)
from padflow.nitrogen.metadata import SAFE_VIDEO_ID, Box, ChunkError, ChunkReason
from padflow.tables import observed_mask, write_action_table

IMPORT_REPORT = "import_report.json"  # the gate reads this name (tasks.gate.TABLE_REPORTS)
IMPORT_INGEST_DIR = "ingest"  # the import's normalized videos, relative to its output folder
# Label positions are compared at micro-row precision, so float noise in the chunk times never
# moves a frame to the neighbouring row.
ROW_POSITION_DECIMALS = 6
INLIERS_NOTE = "imported NitroGen labels: padflow did not localize this overlay; the box is the chunk's bbox_controller_overlay"
CONFIDENCE_NOTE = "the released labels carry no per-frame confidence; 1.0 is written"

ImportReason = Literal[ChunkReason, "video_missing", "video_rejected", "outside_video", "duplicate_chunk"]


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

    `progress(outcome)` is called as each chunk is settled; `ingest_progress` is padflow.ingest's.
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
    unobserved = (meta.model_extra or {}).get("unobserved") or []  # padflow's export adds it: controls the overlay did not show
    try:
        if not isinstance(unobserved, list) or not all(isinstance(n, str) for n in unobserved):
            raise ValueError("not a list of control names")
        observed_mask(unobserved)
    except ValueError as exc:
        detail = f"metadata.json unobserved {unobserved!r}: {exc}"
        return ChunkOutcome(where, "rejected", "malformed_metadata", detail, video_id=row.video_id, **ids), None
    write_action_table(out_dir / f"{table_id}.parquet", chunk.actions[rows], fps, unobserved=unobserved)
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
