"""`padflow import-nitrogen` / `padflow export-nitrogen`: the released NitroGen label layout in and out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from padflow.commands.ingest import load_config as load_ingest_config
from padflow.config import PARAMS_FILE, load_section, project_root
from padflow.ingest import IngestRow
from padflow.nitrogen import (
    EXPORT_REPORT,
    IMPORT_REPORT,
    ChunkOutcome,
    ImportReport,
    NitrogenConfig,
    export_nitrogen,
    import_nitrogen,
)

SECTION = "nitrogen"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import-nitrogen",
        help="turn released NitroGen label chunks into action tables the gate reads",
        description=(
            "Reads SHARD_XXXX/<video_id>/<video_id>_chunk_XXXX/ folders below LABELS_DIR; a chunk is imported when "
            "its video is in VIDEOS_DIR as <video_id>.<mp4|mkv|webm|...>. Videos are ingested into DIR/ingest. "
            "Add DIR to the gate's `sources` to train on the result."
        ),
    )
    p.add_argument("labels", type=Path, metavar="LABELS_DIR", help="the dataset's actions/ folder, a shard, or any folder above chunks")
    p.add_argument("--videos", type=Path, required=True, metavar="VIDEOS_DIR", help="folder of the labelled videos")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (tables, records, ingest/, report)")
    p.add_argument("--json", action="store_true", help="print one JSON object with `chunks` and `tables`")
    p.set_defaults(func=run_import)

    p = subparsers.add_parser(
        "export-nitrogen",
        help="write the gate's accepted tables in the released NitroGen layout (20 s chunks, SHARD folders)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (actions/SHARD_XXXX/...)")
    p.add_argument("--gate-dir", type=Path, default=Path("data/gate"), metavar="DIR",
                   help="gate output holding chunks.parquet, relative to the project root (default: data/gate)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the export report as one JSON object")
    p.set_defaults(func=run_export)


def load_config() -> NitrogenConfig:
    """NitrogenConfig from params.yaml's `nitrogen` section when params.yaml exists, else the defaults."""
    if (project_root() / PARAMS_FILE).is_file():
        return load_section(NitrogenConfig, SECTION)
    return NitrogenConfig()


def json_summary(report: ImportReport, out_dir: Path) -> dict[str, Any]:
    """The --json shape: every chunk (path, status imported|rejected, reason) and every table written."""
    chunks = [
        {"path": c.path, "status": c.status, "reason": c.reason, "detail": c.detail, "table_id": c.table_id,
         "video_id": c.video_id, "frame_offset": c.frame_offset, "frames": c.frames}
        for c in report.chunks
    ]  # fmt: skip
    tables = [{**t, "path": str(out_dir / t["path"])} for t in report.tables]
    return {"chunks": chunks, "tables": tables, "summary": report.summary(), "report": str(out_dir / IMPORT_REPORT)}


def run_import(args) -> int:
    cfg, ingest_cfg = load_config(), load_ingest_config()

    def progress(outcome: ChunkOutcome) -> None:
        why = "" if outcome.status == "imported" else f" ({outcome.reason}: {outcome.detail})"
        print(f"{outcome.status} {outcome.path}{why}", file=sys.stderr, flush=True)

    def ingest_progress(done: int, total: int, row: IngestRow) -> None:
        why = "" if row.status == "accepted" else f" ({row.reason}: {row.detail})"
        print(f"[ingest {done}/{total}] {row.status} {row.path}{why}", file=sys.stderr, flush=True)

    report = import_nitrogen(args.labels, args.videos, args.out, cfg, ingest_cfg, progress, ingest_progress)
    if args.json:
        print(json.dumps(json_summary(report, Path(args.out)), indent=2))
        return 0
    s = report.summary()
    print(
        f"\n{s['imported']} chunk(s) imported ({s['frames']} frames), {s['rejected']} rejected; "
        f"report: {Path(args.out) / IMPORT_REPORT}"
    )
    return 0


def run_export(args) -> int:
    root = project_root()
    gate_dir = args.gate_dir if args.gate_dir.is_absolute() else root / args.gate_dir
    report = export_nitrogen(gate_dir, args.out, root, load_config())
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    for skipped in report.skipped:
        print(f"skipped  {skipped['table_path']}: {skipped['reason']}")
    print(
        f"{len(report.chunks)} chunk(s) of {report.videos} video(s) written under {Path(args.out)}; "
        f"report: {Path(args.out) / EXPORT_REPORT}"
    )
    return 0
