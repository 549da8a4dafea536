"""Normalize one input: validate it decodes completely, then stream-copy or re-encode it to the target format."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from padflow.ingest.config import IngestConfig
from padflow.ingest.forensics import Rejection, VideoProbe, mp4_damage, probe_video
from padflow.ingest.manifest import VideoMeta
from padflow.ingest.report import VIDEOS_DIR, IngestRow, Method, Reason
from padflow.io import file_sha256
from padflow.video.transcode import (
    TARGET_PIX_FMT,
    DecodeStats,
    FFmpegError,
    NotCopyable,
    TranscodeSettings,
    output_size,
    re_encode,
    stream_copy,
)

VIDEO_ID_HEX_DIGITS = 16  # 64 bits of sha256: collisions are negligible for any real corpus
TARGET_CODEC = "h264"
# Demuxers whose H.264 packets (length-prefixed, with avcC extradata and timestamps on every
# packet) go into MP4 unchanged; other containers are re-encoded.
COPYABLE_FORMATS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2"})
NATIVE_SUFFIX = ".native.mp4"  # videos/<video_id>.native.mp4: the native-rate rendition, when there is one


@dataclass(frozen=True)
class IngestJob:
    """One unique, readable input to normalize (picklable: it crosses into worker processes)."""

    path: Path  # resolved absolute path of the input
    display_path: str  # path as reported (relative to the input root)
    sha256: str
    bytes_in: int
    meta: VideoMeta
    output: Path  # OUT/videos/<video_id>.mp4


class Rejected(Exception):
    """Raised inside normalization to abandon a video (and its half-written output)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejection(reason, detail)


@dataclass(frozen=True)
class Normalized:
    method: Method
    size_out: tuple[int, int]
    frames_out: int
    stats: DecodeStats


def video_id_for(sha256: str) -> str:
    return sha256[:VIDEO_ID_HEX_DIGITS]


def native_output(output: Path) -> Path:
    """Where the native-rate rendition of the normalized video `output` goes: videos/<video_id>.native.mp4."""
    return output.with_name(f"{output.stem}{NATIVE_SUFFIX}")


def transcode_settings(cfg: IngestConfig, rate: Fraction | None = None) -> TranscodeSettings:
    """The transcoder's settings for an output at `rate` (default: the normalized rate, cfg.rate)."""
    rate = cfg.rate if rate is None else rate
    return TranscodeSettings(
        rate=rate,
        max_duration_s=cfg.max_duration_s,
        decode_threads=cfg.decode_threads,
        crf=cfg.crf,
        preset=cfg.preset,
        encoder_threads=cfg.encoder_threads,
        gop_size=max(1, round(cfg.keyframe_interval_s * float(rate))),
        scale_filter=cfg.scale_filter,
    )


def check_decoded(stats: DecodeStats, probe: VideoProbe, cfg: IngestConfig) -> None:
    """Raise Rejected when what decoded is not a complete, valid video within the duration bounds."""
    decoded_s = float(stats.end_s)
    if stats.end_s > cfg.max_duration_s:
        raise Rejected("too_long", f"longer than max_duration_s={cfg.max_duration_s:g} s ({stats.stopped_early})")
    if stats.frames == 0:
        raise Rejected("corrupt", f"no frame decodes ({stats.first_error or stats.stopped_early or 'empty stream'})")
    declared = probe.duration_s  # the video stream's own: a longer audio track is no truncation
    if declared is not None and decoded_s < declared - cfg.truncation_tolerance_s:
        cause = stats.stopped_early or stats.first_error or "the stream ends early"
        raise Rejected("truncated", f"decodes {decoded_s:.2f} s of the declared {declared:.2f} s ({cause})")
    if stats.stopped_early:
        raise Rejected("corrupt", stats.stopped_early)
    if stats.errors > cfg.max_decode_errors:
        raise Rejected(
            "corrupt",
            f"{stats.errors} packet(s) fail to decode (max_decode_errors={cfg.max_decode_errors}); "
            f"first: {stats.first_error}",
        )
    if decoded_s < cfg.min_duration_s:
        raise Rejected("too_short", f"{decoded_s:.2f} s is shorter than min_duration_s={cfg.min_duration_s:g} s")


def copyable(probe: VideoProbe, cfg: IngestConfig, rate: Fraction | None = None) -> bool:
    """Worth trying to stream-copy: the container says it is already what normalization makes (at `rate`, default cfg.rate)."""
    rate = cfg.rate if rate is None else rate
    return (
        cfg.stream_copy
        and probe.codec == TARGET_CODEC
        and probe.pix_fmt == TARGET_PIX_FMT
        and any(name in COPYABLE_FORMATS for name in probe.format_name.split(","))
        and probe.fps is not None
        and Fraction(probe.fps).limit_denominator(1001) == rate
        and (probe.width, probe.height) == output_size(probe.width, probe.height, cfg.max_width, cfg.max_height)
    )


def normalize(path: Path, output: Path, probe: VideoProbe, cfg: IngestConfig, rate: Fraction | None = None) -> Normalized:
    """Write the video at `rate` (default: the normalized rate) to `output` (atomically); Rejected if the input is unusable."""
    settings = transcode_settings(cfg, rate)

    def check(stats: DecodeStats) -> None:
        check_decoded(stats, probe, cfg)

    if copyable(probe, cfg, settings.rate):
        try:
            frames, stats = stream_copy(path, output, probe, settings, check)
            return Normalized("stream_copy", (probe.width, probe.height), frames, stats)
        except NotCopyable:
            pass
    size = output_size(probe.width, probe.height, cfg.max_width, cfg.max_height)
    frames, stats = re_encode(path, output, probe, size, settings, check)
    return Normalized("re_encode", size, frames, stats)


def ingest_one(job: IngestJob, cfg: IngestConfig) -> IngestRow:
    """Probe, validate and normalize one unique input; a bad input becomes a rejected row, never an error."""
    base = {
        "path": job.display_path,
        "sha256": job.sha256,
        "source": job.meta.source,
        "licence": job.meta.licence,
        "url": job.meta.url,
        "game": job.meta.game,
        "skin": job.meta.skin,
        "bytes_in": job.bytes_in,
        "processed": True,
    }
    probe = probe_video(job.path)
    if isinstance(probe, Rejection):
        return IngestRow(status="rejected", reason=probe.reason, detail=probe.detail, **base)
    declared = probe.duration_s if probe.duration_s is not None else probe.container_duration_s
    base.update(fps_in=probe.fps, size_in=(probe.width, probe.height), duration_s=declared)
    # Bounds the container already breaks are rejected before paying for a full decode.
    if probe.width < cfg.min_width or probe.height < cfg.min_height:
        detail = f"{probe.width}x{probe.height} frames, smaller than min_width x min_height = {cfg.min_width}x{cfg.min_height}"
        return IngestRow(status="rejected", reason="too_small", detail=detail, **base)
    if declared is not None and declared > cfg.max_duration_s:
        detail = f"declares {declared:.2f} s, more than max_duration_s={cfg.max_duration_s:g} s"
        return IngestRow(status="rejected", reason="too_long", detail=detail, **base)
    if probe.duration_s is not None and probe.duration_s < cfg.min_duration_s:
        detail = f"declares {probe.duration_s:.2f} s, less than min_duration_s={cfg.min_duration_s:g} s"
        return IngestRow(status="rejected", reason="too_short", detail=detail, **base)
    native_rate = cfg.native_rate(probe.fps)
    native_path = job.output if native_rate == cfg.rate else native_output(job.output)
    native: Normalized | None = None
    try:
        result = normalize(job.path, job.output, probe, cfg)
        if native_path != job.output:
            # Labels at the source rate: extraction reads this rendition (same size, the source's frames).
            try:
                native = normalize(job.path, native_path, probe, cfg, native_rate)
            except BaseException:
                job.output.unlink(missing_ok=True)  # both renditions or neither: no half-ingested video
                raise
    except Rejected as rejected:
        reason, detail = rejected.rejection.reason, rejected.rejection.detail
        if reason == "corrupt" and probe.format_name.startswith("mov,mp4"):
            # A cut-off MP4 whose index comes first opens, then fails to decode where the data stops.
            damage = mp4_damage(job.path)
            if damage is not None:
                reason, detail = damage.reason, f"{damage.detail}; {detail}"
        return IngestRow(status="rejected", reason=reason, detail=detail, **base)
    except PermissionError as exc:
        return IngestRow(status="rejected", reason="unreadable", detail=f"no permission to read: {exc}", **base)
    except (FFmpegError, ValueError) as exc:  # PyAV raises ValueError for unsupported inputs
        return IngestRow(status="rejected", reason="corrupt", detail=f"{type(exc).__name__}: {exc}", **base)
    stats = result.stats
    base["duration_s"] = round(float(stats.end_s), 6)
    fps_in = "unknown" if probe.fps is None else f"{probe.fps:.3f}"
    notes = [
        f"{result.method.replace('_', '-')}: {probe.codec} {probe.width}x{probe.height} @ {fps_in} fps → "
        f"{result.size_out[0]}x{result.size_out[1]} @ {cfg.fps:g} fps, {stats.frames} → {result.frames_out} frames"
    ]
    if stats.errors:
        notes.append(f"{stats.errors} undecodable packet(s) skipped")
    if stats.dropped_bad_pts:
        notes.append(f"{stats.dropped_bad_pts} frame(s) with non-increasing timestamps dropped")
    if native is not None:
        notes.append(f"native rendition: {native.method.replace('_', '-')} @ {float(native_rate):g} fps, {native.frames_out} frames")
    sha256_out = file_sha256(job.output)
    return IngestRow(
        status="accepted",
        reason=None,
        detail="; ".join(notes),
        video_id=video_id_for(job.sha256),
        frames_in=stats.frames,
        output=f"{VIDEOS_DIR}/{job.output.name}",
        method=result.method,
        size_out=result.size_out,
        frames_out=result.frames_out,
        bytes_out=job.output.stat().st_size,
        sha256_out=sha256_out,
        output_native=f"{VIDEOS_DIR}/{native_path.name}",
        fps_native=float(native_rate),
        frames_native=result.frames_out if native is None else native.frames_out,
        sha256_native=sha256_out if native is None else file_sha256(native_path),
        **base,
    )
