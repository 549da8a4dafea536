"""IngestConfig: how videos are normalized and which are accepted (params.yaml `ingest`)."""

from __future__ import annotations

from dataclasses import asdict
from fractions import Fraction
from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from padflow.config import config
from padflow.video.transcode import library_versions

# Bump when a change in padflow.ingest / padflow.video.transcode changes output bytes, so recorded
# outputs are not reused.
NORMALIZER_VERSION = 2  # 2: native-rate renditions
ScaleFilter = Literal["area", "bilinear", "bicubic", "lanczos", "fast_bilinear", "point"]
X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
SCALE_FILTERS: tuple[str, ...] = get_args(ScaleFilter)
X264_PRESETS: tuple[str, ...] = get_args(X264Preset)
DEFAULT_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".ts", ".wmv", ".mpg", ".mpeg")


@config
class IngestConfig:
    fps: Annotated[float, Field(ge=1.0, le=240.0, description=(
        "output frame rate, frames/s: constant; inputs are resampled to it by their timestamps. The gate, "
        "training and every reader of the normalized video step at this rate"))] = 30.0
    native_max_fps: Annotated[float, Field(ge=1.0, le=240.0, description=(
        "labels are read at the source's own frame rate up to this, frames/s: a video whose rate (capped "
        "here) differs from `fps` gets a second, native-rate rendition that extraction reads, so a 60 fps "
        "source keeps a label for every frame (NitroGen's released labels are 60 fps)"))] = 60.0
    max_width: Annotated[int, Field(ge=16, multiple_of=2, description=(
        "output width bound, pixels (even): larger videos are scaled down, aspect ratio kept"))] = 1280
    max_height: Annotated[int, Field(ge=16, multiple_of=2, description=(
        "output height bound, pixels (even): larger videos are scaled down, aspect ratio kept"))] = 720
    min_width: Annotated[int, Field(ge=1, description=(
        "narrower videos are rejected (too_small), pixels: a controller overlay is a fraction of the frame, "
        "and below this it is a few pixels no parser can read (a 1x1 or 2x2 video is a broken encode)"))] = 32
    min_height: Annotated[int, Field(ge=1, description=(
        "shorter (in pixels) videos are rejected (too_small), pixels; see min_width"))] = 32
    min_duration_s: Annotated[float, Field(gt=0.0, description=(
        "shorter videos are rejected (too_short), seconds"))] = 1.0
    max_duration_s: Annotated[float, Field(gt=0.0, description=(
        "longer videos are rejected (too_long), seconds (14400: a 4 h stream)"))] = 14400.0
    crf: Annotated[int, Field(ge=0, le=51, description=(
        "x264 constant rate factor of re-encoded videos (lower: better and bigger)"))] = 23
    preset: Annotated[X264Preset, Field(description=(
        "x264 speed preset of re-encoded videos (corpus videos are stream-copied): faster presets "
        "cost less CPU for bigger files (bench/ingest.py measures them)"))] = "superfast"
    encoder_threads: Annotated[int, Field(ge=1, description=(
        "x264 threads: fixed, because x264's output depends on its thread count"))] = 2
    decode_threads: Annotated[int, Field(ge=0, description=(
        "decoder threads (0: FFmpeg picks per core); never changes the output"))] = 0
    keyframe_interval_s: Annotated[float, Field(gt=0.0, description=(
        "max distance between keyframes of re-encoded videos, seconds (random access)"))] = 2.0
    scale_filter: Annotated[ScaleFilter, Field(description="swscale filter for downscaling")] = "area"
    stream_copy: Annotated[bool, Field(description=(
        "copy H.264 yuv420p videos already at `fps` and within the bounds instead of re-encoding them"))] = True
    max_decode_errors: Annotated[int, Field(ge=0, description=(
        "packets that may fail to decode before a video is rejected as corrupt"))] = 0
    truncation_tolerance_s: Annotated[float, Field(ge=0.0, description=(
        "the decoded video may end this much before its declared end, seconds (else: truncated)"))] = 0.5
    extensions: Annotated[tuple[str, ...], Field(min_length=1, description=(
        "file suffixes taken from an input folder (lowercase, with the dot)"))] = DEFAULT_EXTENSIONS
    workers: Annotated[int, Field(ge=1, description=(
        "videos normalized in parallel: workers of orchestration.task_runner (1: in the stage's process)"))] = 2
    output: Annotated[str, Field(description="the stage's output folder, relative to the project root")] = "data/ingest"

    def __post_init__(self) -> None:
        if self.min_width > self.max_width or self.min_height > self.max_height:
            raise ValueError(
                f"min_width/min_height ({self.min_width}x{self.min_height}) must not exceed "
                f"max_width/max_height ({self.max_width}x{self.max_height})"
            )
        if not self.min_duration_s < self.max_duration_s:
            raise ValueError(
                f"min_duration_s and max_duration_s must satisfy 0 < min < max, "
                f"got {self.min_duration_s} and {self.max_duration_s}"
            )
        if self.keyframe_interval_s * self.fps < 1:
            raise ValueError(f"keyframe_interval_s must span at least one frame, got {self.keyframe_interval_s}")
        if any(not e.startswith(".") or e != e.lower() for e in self.extensions):
            raise ValueError(f"extensions must be lowercase suffixes starting with '.', got {list(self.extensions)}")

    @property
    def rate(self) -> Fraction:
        """The output frame rate as an exact fraction (29.97 → 30000/1001)."""
        return Fraction(self.fps).limit_denominator(1001)

    def native_rate(self, source_fps: float | None) -> Fraction:
        """The rate labels are read at for a source declaring `source_fps`: its own, capped at
        native_max_fps; `rate` when the container declares none (there is no source rate to keep)."""
        if not source_fps:
            return self.rate
        return min(Fraction(source_fps).limit_denominator(1001), Fraction(self.native_max_fps).limit_denominator(1001))

    def fingerprint(self) -> dict[str, Any]:
        """Everything that decides an output's bytes or acceptance; a change re-normalizes all."""
        # Decoding is exact whatever the thread count; the rest only says where and how many.
        ignored = ("decode_threads", "workers", "output", "extensions")
        settings = {k: v for k, v in asdict(self).items() if k not in ignored}
        return {"normalizer": NORMALIZER_VERSION, **library_versions(), "settings": settings}
