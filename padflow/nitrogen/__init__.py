"""The released NitroGen dataset layout: read and write its label chunks, import them, export padflow's.

Layout (the dataset's `actions/` folder)::

    SHARD_XXXX/<video_id>/<video_id>_chunk_XXXX/
        actions_raw.parquet        one row per video frame (see chunks)
        actions_processed.parquet  optional; the same columns after the dataset's own filtering
        metadata.json              uuid "<video_id>_chunk_<n>_actions", chunk_id, chunk_size, game,
                                   controller_type, bbox_game_area, bbox_controller_overlay,
                                   original_video {video_id, url, resolution, start_time, end_time,
                                   duration, start_frame, end_frame} (see metadata)

A chunk spans 20 seconds of its video.

- `metadata`: metadata.json as pydantic models (what is read leniently, what is written exactly).
- `chunks`: a chunk folder: its label parquet, reading and writing whole chunks.
- `importer`: released chunks → gate-ready action tables (`import_nitrogen`).
- `exporter`: the gate's accepted tables → released chunks (`export_nitrogen`).
"""

from padflow.nitrogen.chunks import (
    ACTIONS_DIR,
    ACTIONS_FILES,
    REPORT_FORMAT,
    NitrogenChunk,
    NitrogenConfig,
    chunk_name,
    find_chunks,
    read_actions,
    read_chunk,
    shard_name,
    write_chunk,
)
from padflow.nitrogen.exporter import EXPORT_REPORT, ExportReport, export_nitrogen
from padflow.nitrogen.importer import (
    IMPORT_INGEST_DIR,
    IMPORT_REPORT,
    ChunkOutcome,
    ImportReport,
    find_video,
    import_nitrogen,
    label_rows,
    scale_box,
)
from padflow.nitrogen.metadata import (
    METADATA_FILE,
    Box,
    ChunkError,
    ChunkMetadata,
    OriginalVideo,
    parse_metadata,
    read_metadata,
)

__all__ = [
    "ACTIONS_DIR",
    "ACTIONS_FILES",
    "EXPORT_REPORT",
    "IMPORT_INGEST_DIR",
    "IMPORT_REPORT",
    "METADATA_FILE",
    "REPORT_FORMAT",
    "Box",
    "ChunkError",
    "ChunkMetadata",
    "ChunkOutcome",
    "ExportReport",
    "ImportReport",
    "NitrogenChunk",
    "NitrogenConfig",
    "OriginalVideo",
    "chunk_name",
    "export_nitrogen",
    "find_chunks",
    "find_video",
    "import_nitrogen",
    "label_rows",
    "parse_metadata",
    "read_actions",
    "read_chunk",
    "read_metadata",
    "scale_box",
    "shard_name",
    "write_chunk",
]
