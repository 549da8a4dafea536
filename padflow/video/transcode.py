"""Normalization building blocks for ingest: container inspection, timed decoding, CFR resampling, stream copy, re-encode.

The policy (which bounds, which rejection reasons) is padflow.ingest's; this module only does
what needs FFmpeg. Encoding is reproducible: x264 runs with a fixed thread count (its output
depends on the thread count, not on timing) and the resampling decisions use exact rational
timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
from av.container import InputContainer
from av.video.reformatter import Interpolation
from av.video.stream import VideoStream

from padflow.io import atomic_path

FFmpegError = av.error.FFmpegError  # what PyAV raises for anything FFmpeg refuses
TARGET_PIX_FMT = "yuv420p"
SCALE_FILTERS = ("area", "bilinear", "bicubic", "lanczos", "fast_bilinear", "point")

T = TypeVar("T")


def library_versions() -> dict[str, str]:
    """PyAV's and libavcodec's versions (normalized bytes may differ between builds)."""
    return {"pyav": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}


@dataclass(frozen=True)
class VideoProbe:
    """What the container declares about a file's first video stream (nothing decoded yet)."""

    format_name: str  # FFmpeg demuxer name, e.g. 'mov,mp4,m4a,3gp,3g2,mj2'
    codec: str  # e.g. 'h264'
    width: int  # pixels (0 when the stream declares none)
    height: int  # pixels (0 when the stream declares none)
    pix_fmt: str | None  # e.g. 'yuv420p'
    fps: float | None  # average frame rate, frames/s (None when the container does not say)
    duration_s: float | None  # video stream duration, seconds (None when the stream does not say)
    container_duration_s: float | None  # whole-file duration (may include longer audio), seconds
    frames: int | None  # declared frame count (None when unknown)
    has_audio: bool


@dataclass(frozen=True)
class ContainerContents:
    format_name: str  # FFmpeg demuxer name
    stream_types: tuple[str, ...]  # kinds of all streams, sorted ('audio', 'video', ...)
    video: VideoProbe | None  # the first video stream, None when there is none


def inspect_container(path: Path) -> ContainerContents:
    """Open `path` and read what its container declares; the open's errors propagate (FFmpegError, OSError, ...)."""
    with av.open(str(path)) as container:
        format_name = container.format.name
        kinds = tuple(sorted({s.type for s in container.streams}))
        if not container.streams.video:
            return ContainerContents(format_name, kinds, None)
        stream = container.streams.video[0]
        ctx = stream.codec_context  # None when the stream's codec description is missing (a damaged MP4 index)
        duration_s = None
        if stream.duration is not None and stream.time_base is not None:
            duration_s = float(stream.duration * stream.time_base)
        container_duration_s = None if container.duration is None else container.duration / av.time_base
        rate = stream.average_rate or stream.guessed_rate
        probe = VideoProbe(
            format_name=format_name,
            codec=ctx.name if ctx is not None else "unknown",
            width=(ctx.width or 0) if ctx is not None else 0,
            height=(ctx.height or 0) if ctx is not None else 0,
            pix_fmt=ctx.pix_fmt if ctx is not None else None,
            fps=float(rate) if rate else None,
            duration_s=duration_s,
            container_duration_s=container_duration_s,
            frames=stream.frames or None,
            has_audio=bool(container.streams.audio),
        )
        return ContainerContents(format_name, kinds, probe)


def resample_constant_rate(frames: Iterable[tuple[T, Fraction, Fraction]], rate: Fraction) -> Iterator[T]:
    """Yield one item per output tick k/rate: the input frame whose start time is nearest the tick.

    `frames` are (item, start time s, duration s) in presentation order with start times strictly
    increasing from 0. Frames nearer no tick are dropped, frames nearest several are repeated
    (a tick exactly between two frames gets the earlier one, which is still on screen at that
    instant); the output ends where the last input frame ends.
    """
    tick = 0
    held: tuple[T, Fraction, Fraction] | None = None
    for item, start, duration in frames:
        if held is not None:
            boundary = (held[1] + start) / 2
            while tick / rate <= boundary:
                yield held[0]
                tick += 1
        held = (item, start, duration)
    if held is not None:
        end = held[1] + held[2]
        while tick / rate < end:
            yield held[0]
            tick += 1


def output_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest even (width, height) within the bounds that keeps the aspect ratio (never upscales)."""
    scale = min(Fraction(1), Fraction(max_width, width), Fraction(max_height, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


@dataclass(frozen=True)
class TranscodeSettings:
    rate: Fraction  # output frame rate, exact
    max_duration_s: float  # decoding stops once the video runs past this, seconds
    decode_threads: int  # 0: FFmpeg picks; never changes output
    crf: int  # x264 constant rate factor
    preset: str  # x264 speed preset
    encoder_threads: int  # fixed: x264 output depends on it
    gop_size: int  # max frames between keyframes
    scale_filter: str  # one of SCALE_FILTERS


@dataclass
class DecodeStats:
    frames: int = 0
    errors: int = 0
    first_error: str = ""
    end_s: Fraction = Fraction(0)  # end of the last decoded frame, relative to the first
    stopped_early: str = ""  # why decoding stopped before the end of the file, if it did
    dropped_bad_pts: int = 0  # frames whose timestamp did not advance


class NotCopyable(Exception):
    """A stream-copy candidate turns out not to be at a constant target rate (re-encode it instead)."""


Check = Callable[[DecodeStats], None]  # raises to abandon a video (its half-written output is dropped)


def _decoded(
    container: InputContainer, stream: VideoStream, probe: VideoProbe, settings: TranscodeSettings, stats: DecodeStats
) -> Iterator[tuple[av.Packet, list[tuple[av.VideoFrame, Fraction, Fraction]]]]:
    """Yield (packet, [(frame, start s, duration s), ...]) for every packet of `stream`.

    Undecodable packets are counted in `stats` (not raised); decoding stops early, recorded in
    `stats`, when the demuxer fails or the video runs past max_duration_s.
    """
    fallback_step = Fraction(1) / (Fraction(probe.fps).limit_denominator(1001) if probe.fps else settings.rate)
    first_pts: int | None = None
    last_start: Fraction | None = None
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            stats.stopped_early = f"demuxing failed after {float(stats.end_s):.2f} s: {exc}"
            return
        try:
            decoded = packet.decode()
        except av.error.FFmpegError as exc:
            stats.errors += 1
            stats.first_error = stats.first_error or f"packet at {_packet_time(packet)}: {exc}"
            decoded = []
        timed = []
        for frame in decoded:
            time_base = frame.time_base or stream.time_base
            if frame.pts is None or time_base is None:
                start = (last_start + fallback_step) if last_start is not None else Fraction(0)
            else:
                first_pts = frame.pts if first_pts is None else first_pts
                start = Fraction(frame.pts - first_pts) * time_base
            if last_start is not None and start <= last_start:
                stats.dropped_bad_pts += 1
                continue
            duration = Fraction(frame.duration) * time_base if frame.duration and time_base else fallback_step
            last_start = start
            stats.frames += 1
            stats.end_s = start + duration
            timed.append((frame, start, duration))
        yield packet, timed
        if stats.end_s > settings.max_duration_s:
            stats.stopped_early = f"still decoding at {float(stats.end_s):.1f} s"
            return


def _packet_time(packet: av.Packet) -> str:
    if packet.pts is None or packet.time_base is None:
        return "unknown time"
    return f"{float(packet.pts * packet.time_base):.2f} s"


def _open_input(path: Path, settings: TranscodeSettings) -> tuple[InputContainer, VideoStream]:
    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = settings.decode_threads
    return container, stream


def stream_copy(path: Path, output: Path, probe: VideoProbe, settings: TranscodeSettings, check: Check) -> tuple[int, DecodeStats]:
    """Copy the video packets into an MP4 as they are, decoding them all to validate; NotCopyable if not CFR.

    `check(stats)` runs once everything decoded (before the file is moved into place). Returns
    (frames written, decode stats).
    """
    stats = DecodeStats()
    step = 1 / settings.rate
    with atomic_path(output) as tmp:
        container, stream = _open_input(path, settings)
        with container, av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as sink:
            out_stream = sink.add_stream_from_template(stream)
            index = copied = 0
            for packet, timed in _decoded(container, stream, probe, settings, stats):
                for _, start, duration in timed:
                    if start != index * step or duration != step:
                        raise NotCopyable(f"frame {index} at {float(start):.4f} s is off the {float(settings.rate):g} fps grid")
                    index += 1
                if packet.dts is None or packet.size == 0:  # the flush packet PyAV yields at the end
                    continue
                packet.stream = out_stream
                try:
                    sink.mux(packet)
                except av.error.FFmpegError as exc:
                    raise NotCopyable(f"MP4 muxer refuses packet {copied}: {exc}") from None
                copied += 1
            check(stats)
            if stats.dropped_bad_pts or copied != stats.frames:
                raise NotCopyable(f"{copied} packets for {stats.frames} frames ({stats.dropped_bad_pts} out of order)")
    return stats.frames, stats


def re_encode(
    path: Path, output: Path, probe: VideoProbe, size: tuple[int, int], settings: TranscodeSettings, check: Check
) -> tuple[int, DecodeStats]:
    """Decode, resample to settings.rate by timestamps, scale to `size` and encode H.264 (yuv420p).

    `check(stats)` runs once everything decoded (before the encoder is flushed). Returns
    (frames written, decode stats).
    """
    stats = DecodeStats()
    width, height = size
    interpolation = Interpolation[settings.scale_filter.upper()]
    rate = settings.rate
    frames_out = 0
    with atomic_path(output) as tmp:
        container, stream = _open_input(path, settings)
        with container, av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as sink:
            encoder = sink.add_stream("libx264", rate=rate)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, TARGET_PIX_FMT
            encoder.codec_context.time_base = 1 / rate
            encoder.codec_context.gop_size = settings.gop_size
            encoder.options = {"crf": str(settings.crf), "preset": settings.preset, "threads": str(settings.encoder_threads)}
            timed = (item for _, batch in _decoded(container, stream, probe, settings, stats) for item in batch)
            source = scaled = None
            for frame in resample_constant_rate(timed, rate):
                if frame is not source:  # a repeated frame is scaled once
                    source = frame
                    scaled = _to_output_format(frame, width, height, interpolation)
                scaled.pts = frames_out
                scaled.time_base = encoder.codec_context.time_base
                for packet in encoder.encode(scaled):
                    sink.mux(packet)
                frames_out += 1
            check(stats)
            for packet in encoder.encode():
                sink.mux(packet)
    return frames_out, stats


def _to_output_format(frame: av.VideoFrame, width: int, height: int, interpolation: Interpolation) -> av.VideoFrame:
    if (frame.width, frame.height, frame.format.name) != (width, height, TARGET_PIX_FMT):
        frame = frame.reformat(width=width, height=height, format=TARGET_PIX_FMT, interpolation=interpolation)
    # The decoder's picture type would force x264 keyframes wherever the source had them.
    frame.pict_type = av.video.frame.PictureType.NONE
    return frame
