"""Export padflow's accepted action tables in the released NitroGen layout.

Every table with a chunk in the gate's accepted-chunk index is written whole (the release labels
whole videos and leaves idle filtering to its users), cut into 20-second chunks under
`<out>/actions/SHARD_XXXX/<video_id>/`, `chunk_id` counting per video in frame order; existing
chunk folders of the same names are overwritten. Rows are the table's, at its own rate (its
record's `fps`: an extracted table has the source's, e.g. 60 fps, as the release does; docs/overlay.md,
"Frame rates"), so `original_video` describes that video: its video_id, `resolution` (the normalized size, in
which both boxes are given), frames and times, plus `fps`, and the source's `url`, `source` and
`licence` from the ingest report (normalization keeps the timeline, so the times hold for the
source at `url`). `bbox_controller_overlay` is the localization box, `bbox_game_area` the gate's
game box. Export then import gives back the same actions (importing re-ingests the normalized
video, whose new MP4 bytes give it a new padflow video_id; the exported id stays in each table's
record as the chunk's original_video.video_id). The release has no notion of a control the overlay
did not show: a table's unobserved controls (padflow.tables) go into each chunk's metadata as
padflow's addition `unobserved` (their cells hold the neutral value, which is no label), and import
reads them back.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from padflow.ingest.report import REPORT_FILE as INGEST_REPORT
from padflow.ingest.report import accepted_videos, native_video, read_report
from padflow.io import write_json
from padflow.nitrogen.chunks import ACTIONS_DIR, REPORT_FORMAT, NitrogenConfig, chunk_name, shard_name, write_chunk
from padflow.nitrogen.metadata import ChunkMetadata, OriginalVideo
from padflow.tables import read_action_table, table_to_actions, unobserved_names

EXPORT_REPORT = "export_report.json"


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
            fps = float(record.get("fps") or row["fps"])  # the table's own rate, not the index's step rate
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
    _, native_fps, native_frames = native_video(ingested)
    at_native = native_fps is not None and abs(native_fps - fps) < 1e-6 * fps
    frames = native_frames if at_native and native_frames else int(ingested.get("frames_out") or last)
    video = OriginalVideo(
        video_id=video_id,
        url=ingested.get("url"),
        resolution=tuple(ingested["size_out"]),
        start_time=first / fps,
        end_time=last / fps,
        duration=frames / fps,
        start_frame=first,
        end_frame=last,
        fps=fps,  # the keys below are padflow's additions to original_video
        source=ingested.get("source"),
        licence=ingested.get("licence"),
        sha256=ingested.get("sha256"),
    )
    localization = record.get("localization") or {}
    controller = record.get("controller_type") or localization.get("skin_id") or "unknown"
    unobserved = () if row.get("observed") is None else unobserved_names(np.asarray(row["observed"], bool))
    return ChunkMetadata(
        **({"unobserved": list(unobserved)} if unobserved else {}),  # padflow's addition, as the keys of original_video
        uuid=f"{chunk_name(video_id, chunk_id)}_actions",
        chunk_id=chunk_id,
        chunk_size=len(actions),
        game=str(row.get("game") or "unknown"),
        controller_type=str(controller),
        bbox_game_area=tuple(float(v) for v in row["game_box"]),
        bbox_controller_overlay=tuple(float(v) for v in row["overlay_box"]),
        original_video=video,
    )
