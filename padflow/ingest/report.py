"""The ingest report: one row per input file, the config and run totals; what later stages read.

Gate, extract, overlay scoring and nitrogen read it through `read_report(ingest_dir)` and
`accepted_videos(report)`; nothing else of the ingest stage is theirs to import.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

Status = Literal["accepted", "rejected"]
Reason = Literal[
    "corrupt",  # the container or the video stream does not decode
    "truncated",  # the file ends before the container says it should (or is empty)
    "not_a_video",  # not a media file at all (text, a still image, ...)
    "no_video_stream",  # a media file without a video stream (audio only)
    "too_short",  # shorter than IngestConfig.min_duration_s
    "too_long",  # longer than IngestConfig.max_duration_s
    "too_small",  # frames narrower or shorter than IngestConfig.min_width / min_height
    "duplicate",  # same bytes as another input, which is the one ingested
    "unreadable",  # missing, not a regular file, or no permission to read it
    "escapes_root",  # the path or a symlink in it resolves outside the input root
]
Method = Literal["stream_copy", "re_encode"]
REASONS: tuple[str, ...] = get_args(Reason)

REPORT_FILE = "ingest_report.json"
METRICS_FILE = "ingest_metrics.json"
VIDEOS_DIR = "videos"
REPORT_FORMAT = 2  # bump when the report's layout changes (2: native-rate renditions)
UNKNOWN = "unknown"


@dataclass(frozen=True)
class IngestRow:
    """One input file's outcome, as written to ingest_report.json."""

    path: str  # relative to the input root (posix)
    status: Status
    reason: Reason | None  # None when accepted
    detail: str  # human-readable: what was wrong, or what was done
    sha256: str | None = None  # of the input bytes
    video_id: str | None = None
    source: str = UNKNOWN
    licence: str = UNKNOWN
    url: str | None = None
    game: str = UNKNOWN
    skin: str | None = None  # the manifest's declared overlay skin (extract's localization names it at any lead)
    bytes_in: int | None = None
    duration_s: float | None = None  # input duration, seconds: decoded if accepted, else as declared
    fps_in: float | None = None  # declared average rate of the input, frames/s
    size_in: tuple[int, int] | None = None  # (width, height) of the input, pixels
    frames_in: int | None = None  # frames decoded from the input
    output: str | None = None  # output video, relative to OUT
    method: Method | None = None
    size_out: tuple[int, int] | None = None  # (width, height) of the output, pixels
    frames_out: int | None = None
    bytes_out: int | None = None
    sha256_out: str | None = None
    # The native-rate rendition extraction reads (padflow.ingest: labels at the source rate): the
    # source's frames at its own rate (up to IngestConfig.native_max_fps), same size as `output`.
    # When that rate is the normalized one, it is `output` itself (and its frames, bytes and hash).
    output_native: str | None = None  # relative to OUT
    fps_native: float | None = None  # its constant rate, frames/s
    frames_native: int | None = None
    sha256_native: str | None = None
    processed: bool = False  # decoded in this run (False: reused from the previous report)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        for key in ("size_in", "size_out"):
            if row[key] is not None:
                row[key] = list(row[key])
        return row

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IngestRow:
        known = {f.name for f in dataclasses.fields(cls)}
        row = {k: v for k, v in data.items() if k in known}
        for key in ("size_in", "size_out"):
            if row.get(key) is not None:
                row[key] = tuple(row[key])
        return cls(**row)


@dataclass(frozen=True)
class IngestReport:
    input: str
    output: str
    files: tuple[IngestRow, ...]
    removed: tuple[str, ...]  # outputs deleted because their input left (relative to OUT)
    config: Mapping[str, Any]
    fingerprint: Mapping[str, Any]
    wall_s: float
    ignored: int = 0  # files in an input folder skipped for their suffix

    @property
    def accepted(self) -> tuple[IngestRow, ...]:
        return tuple(r for r in self.files if r.status == "accepted")

    def summary(self) -> dict[str, float]:
        """Flat numbers for DVC and MLflow: counts by status and reason, hours accepted, work done."""
        accepted = self.accepted
        rejected = [r for r in self.files if r.status == "rejected"]
        frames_in = sum(r.frames_in or 0 for r in self.files if r.processed)
        seconds_in = sum(r.duration_s or 0.0 for r in self.files if r.processed)
        metrics: dict[str, float] = {
            "files": len(self.files),
            "accepted": len(accepted),
            "rejected": len(rejected),
            **{f"rejected_{reason}": sum(r.reason == reason for r in rejected) for reason in REASONS},
            "hours_accepted": round(sum(r.duration_s or 0.0 for r in accepted) / 3600, 6),
            "frames_out": sum(r.frames_out or 0 for r in accepted),
            "frames_native": sum(r.frames_native or r.frames_out or 0 for r in accepted),
            "native_renditions": sum(r.output_native is not None and r.output_native != r.output for r in accepted),
            "processed": sum(r.processed for r in self.files),
            "reused": sum(not r.processed and r.sha256 is not None and r.reason != "duplicate" for r in self.files),
            "stream_copied": sum(r.method == "stream_copy" for r in accepted),
            "removed": len(self.removed),
            "ignored": self.ignored,
        }
        # Throughput of this run's decoding work (0 when everything was reused).
        metrics["input_frames_per_s"] = round(frames_in / self.wall_s, 1) if self.wall_s > 0 else 0.0
        metrics["video_s_per_s"] = round(seconds_in / self.wall_s, 2) if self.wall_s > 0 else 0.0
        return metrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "input": self.input,
            "output": self.output,
            "config": dict(self.config),
            "fingerprint": dict(self.fingerprint),
            "wall_s": round(self.wall_s, 3),
            "summary": self.summary(),
            "files": [r.to_dict() for r in self.files],
            "removed": list(self.removed),
        }


def read_report(ingest_dir: Path) -> dict[str, Any]:
    """The ingest report in `ingest_dir`; ValueError naming the file when it is missing or malformed."""
    path = ingest_dir / REPORT_FILE
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: ingest report not found (run the ingest stage first)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: ingest report unreadable ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("files"), list):
        raise ValueError(f"{path}: not an ingest report (no 'files' list)")
    return report


def accepted_videos(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The accepted rows of an ingest report by video id, in report order."""
    return {row["video_id"]: row for row in report["files"] if row.get("status") == "accepted" and row.get("video_id")}


def native_video(row: Mapping[str, Any]) -> tuple[str, float | None, int]:
    """(path relative to the ingest folder, frames/s, frames) of the rendition labels are read from:
    the native-rate one; the normalized video for a report written before renditions existed
    (its rate is then the report config's `fps`, returned as None)."""
    if row.get("output_native"):
        return str(row["output_native"]), float(row["fps_native"]), int(row.get("frames_native") or 0)
    return str(row["output"]), None, int(row.get("frames_out") or 0)
