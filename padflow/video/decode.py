"""Decoding: probe a video, iterate its frames, read the frames at given numbers.

Frame `i` is the i-th decoded frame; after a seek, a frame's number is round((pts - start) * fps)
(see the package docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.sidedata.encparams import VideoEncParamsType

SEEK_GAP_FRAMES = 300  # read_frames_at seeks over longer gaps than this (decoding 300 frames costs about one seek)


class VideoError(ValueError):
    """A video that cannot be opened or decoded as asked; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container declares about a file's first video stream (nothing decoded)."""

    width: int  # pixels
    height: int  # pixels
    fps: float  # average frame rate, frames/s (0.0 when the container declares none)
    frames: int  # declared frame count, else stream duration × fps, else 0
    duration_s: float  # stream duration, else the container's, else 0.0; seconds
    start_s: float  # timestamp of the first frame, seconds (frame numbers after a seek count from it)
    codec: str  # e.g. 'h264'


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: cannot open video: {exc}") from None


def _video_stream(container: av.container.InputContainer, path: Path, threads: int = 0) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoError(f"{path}: no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.thread_count = threads
    return stream


def probe(path: str | Path) -> VideoInfo:
    """What `path`'s first video stream declares; VideoError if it does not open or has no video."""
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        stream_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
        frames = stream.frames or (int(stream_s * rate) if stream_s and rate else 0)
        duration_s = stream_s or (container.duration / av.time_base if container.duration else 0.0)
        start_s = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        ctx = stream.codec_context
        return VideoInfo(width=ctx.width, height=ctx.height, fps=rate, frames=frames, duration_s=duration_s,
                         start_s=start_s, codec=ctx.name)


def iter_frames(
    path: str | Path,
    *,
    fmt: str = "rgb24",
    size: tuple[int, int] | None = None,
    threads: int = 0,
    check_complete: bool = False,
) -> Iterator[np.ndarray]:
    """Every frame of the first video stream in order, as arrays in pixel format `fmt` ('rgb24': (H, W, 3) uint8, 'gray': (H, W)).

    `size=(w, h)` scales each frame in the decoder's converter. `threads`: decoder threads (0:
    FFmpeg picks; the frames are the same whatever the count). `check_complete`: VideoError when
    fewer frames decode than the container declares, or none at all. A decoding failure is a
    VideoError naming the file.
    """
    path = Path(path)
    width, height = size if size is not None else (None, None)
    decoded = 0
    with _open(path) as container:
        stream = _video_stream(container, path, threads)
        declared = stream.frames
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format=fmt, width=width, height=height)
                decoded += 1
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: decoding failed mid-stream after {decoded} frames: {exc}") from None
    if check_complete:
        if declared and decoded < declared:
            raise VideoError(f"{path}: decoded {decoded} of {declared} declared frames (truncated or corrupt mid-stream)")
        if decoded == 0:
            raise VideoError(f"{path}: no frame decodes")


def read_frames_at(path: str | Path, indices: Iterable[int], *, fmt: str = "rgb24", threads: int = 0) -> dict[int, np.ndarray]:
    """The frames numbered `indices` (the package's numbering), by number, in ascending order.

    Decodes from the start and seeks over gaps longer than SEEK_GAP_FRAMES (to the keyframe
    before the next wanted frame; numbers after a seek come from timestamps), so a few frames of
    an hour-long video cost a few short decodes. A wanted number that no frame has (after a seek
    on a variable-rate video) gets the first frame after it. VideoError when an index is negative
    or lies past the last frame that decodes.
    """
    path = Path(path)
    targets = sorted(set(int(i) for i in indices))
    if not targets:
        return {}
    if targets[0] < 0:
        raise VideoError(f"{path}: frame numbers start at 0, got {targets[0]}")
    found: dict[int, np.ndarray] = {}
    with _open(path) as container:
        stream = _video_stream(container, path, threads)
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        position = -1  # number of the last decoded frame
        seeked = False
        try:
            decoder = container.decode(stream)
            for target in targets:
                if target - position > SEEK_GAP_FRAMES and rate > 0:
                    container.seek(int((start + target / rate) / stream.time_base), stream=stream, backward=True)
                    decoder = container.decode(stream)
                    seeked = True
                for frame in decoder:
                    if seeked and frame.pts is not None:
                        position = round((float(frame.pts * stream.time_base) - start) * rate)
                    else:
                        position += 1
                    if position >= target:
                        found[target] = frame.to_ndarray(format=fmt)
                        break
                else:
                    break  # the video ended
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: cannot decode video: {exc}") from None
    if len(found) != len(targets):
        missing = min(set(targets) - set(found))
        raise VideoError(f"{path}: has no frame {missing} (the index points past its end)")
    return found


def slice_quantizer(path: str | Path, frames: int = 30) -> int | None:
    """The median quantizer (QP, 0-51) H.264 coded the first `frames` frames' slices at; None for another codec.

    FFmpeg's H.264 decoder exports each frame's base QP ("venc_params" side data); an x264 encode at
    a constant rate factor writes that CRF there (every padflow encode, and every corpus and bench
    clip), a constant-quantizer or constant-bitrate encode its frames' own. VP9 and MPEG-2 export
    theirs on other scales, so they count as none.
    """
    path = Path(path)
    quantizers: list[int] = []
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.codec_context.options = {"export_side_data": "venc_params"}
        try:
            for frame in container.decode(stream):
                params = frame.side_data.get("VIDEO_ENC_PARAMS")
                if params is None or params.codec_type != VideoEncParamsType.H264:
                    return None
                quantizers.append(params.qp)
                if len(quantizers) >= frames:
                    break
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: cannot decode video: {exc}") from None
    return int(np.median(quantizers)) if quantizers else None
