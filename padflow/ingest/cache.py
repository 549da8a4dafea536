"""Incremental ingest: reuse what the previous run recorded, write per-video records, remove stale outputs.

A re-run decodes only inputs whose sha256 it has not recorded under the same normalization
settings (same config and PyAV/FFmpeg versions); a recorded output is reused when its bytes
still match the recorded sha256_out. Outputs of videos that left the input are deleted, but only
files this stage recorded in its previous report and whose bytes are unchanged. All of it happens
in the run's work folder, a hard-linked copy of the previous output (`link_tree`), which replaces
the output only when the run succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from padflow.ingest.config import IngestConfig
from padflow.ingest.report import REPORT_FILE, REPORT_FORMAT, VIDEOS_DIR, IngestRow
from padflow.io import file_sha256, write_text


def link_tree(previous: Path, work: Path) -> None:
    """Make the empty folder `work` hold what `previous` holds, as hard links (a copy where the file
    system has none): the run reuses and replaces files in `work` while `previous` stays untouched,
    since every write here renames a new file over the old link (padflow.io.atomic_path)."""
    if not previous.is_dir():
        return
    for folder, dirs, files in os.walk(previous):
        here = Path(folder)
        there = work / here.relative_to(previous)
        for name in dirs:
            if (here / name).is_symlink():
                os.symlink(os.readlink(here / name), there / name)
            else:
                (there / name).mkdir()
        for name in files:
            source, dest = here / name, there / name
            if source.is_symlink():
                os.symlink(os.readlink(source), dest)
                continue
            try:
                os.link(source, dest)
            except OSError:
                shutil.copy2(source, dest)


def previous_report(out: Path) -> dict[str, Any]:
    """The last run's report, or {} when there is none or it cannot be trusted."""
    try:
        report = json.loads((out / REPORT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return report if isinstance(report, dict) and report.get("format") == REPORT_FORMAT else {}


def reusable(previous: Mapping[str, Any], fingerprint: Mapping[str, Any], out: Path) -> dict[str, IngestRow]:
    """Previous outcomes by input sha256 that still hold: same settings and, if accepted, intact output."""
    if previous.get("fingerprint") != fingerprint:
        return {}
    rows: dict[str, IngestRow] = {}
    for data in previous.get("files", []):
        row = IngestRow.from_dict(data)
        if row.sha256 is None or row.reason in ("duplicate", "unreadable", "escapes_root"):
            continue  # these depend on the other inputs or the file system, not on the bytes
        if row.status == "accepted" and not _output_intact(out, row):
            continue
        rows.setdefault(row.sha256, row)
    return rows


def _output_intact(out: Path, row: IngestRow) -> bool:
    """Both renditions of an accepted row are there with the bytes recorded."""
    return _file_intact(out, row.output, row.sha256_out) and _file_intact(out, row.output_native, row.sha256_native)


def _file_intact(out: Path, relative: str | None, sha256: str | None) -> bool:
    path = out / (relative or "")
    try:
        return relative is not None and path.is_file() and file_sha256(path) == sha256
    except OSError:
        return False


def video_record(row: IngestRow, cfg: IngestConfig) -> dict[str, Any]:
    """The per-video record written beside each output video."""
    return {
        "video_id": row.video_id,
        "sha256": row.sha256,
        "original_path": row.path,
        "source": row.source,
        "licence": row.licence,
        "url": row.url,
        "skin": row.skin,
        "fps": cfg.fps,
        "frames": row.frames_out,
        "output_native": row.output_native,
        "fps_native": row.fps_native,
        "frames_native": row.frames_native,
        "width": row.size_out[0] if row.size_out else None,
        "height": row.size_out[1] if row.size_out else None,
        "duration_s": row.duration_s,
        "fps_in": row.fps_in,
        "method": row.method,
    }


def write_record(out: Path, row: IngestRow, cfg: IngestConfig) -> None:
    path = out / VIDEOS_DIR / f"{row.video_id}.json"
    text = json.dumps(video_record(row, cfg), indent=2, sort_keys=True) + "\n"
    try:
        if path.read_text() == text:
            return  # unchanged: keep its mtime
    except OSError:
        pass
    write_text(path, text)


def remove_stale(out: Path, previous: Mapping[str, Any], keep: set[str]) -> list[str]:
    """Delete outputs the previous run recorded whose input is gone; never files it did not write."""
    removed = []
    for data in previous.get("files", []):
        row = IngestRow.from_dict(data)
        if row.status != "accepted" or row.video_id is None or row.video_id in keep or row.output is None:
            continue
        video = out / row.output
        if not video.is_file() or file_sha256(video) != row.sha256_out:
            continue  # changed since it was written: no longer ours to delete
        video.unlink()
        removed.append(row.output)
        if row.output_native not in (None, row.output) and _file_intact(out, row.output_native, row.sha256_native):
            (out / row.output_native).unlink()
            removed.append(row.output_native)
        record = video.with_suffix(".json")
        try:
            if json.loads(record.read_text()).get("sha256") == row.sha256:
                record.unlink()
        except (OSError, json.JSONDecodeError, AttributeError):
            pass
    return removed
