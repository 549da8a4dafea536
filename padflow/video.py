"""H.264 MP4 encoding and decoding through PyAV (FFmpeg's libx264), written atomically."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from padflow.io import atomic_path


def write_mp4(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    crf: int = 23,
    preset: str = "veryfast",
) -> int:
    """Encode uint8 (H, W, 3) RGB frames to H.264 (yuv420p); return the number of frames written.

    Odd frame sizes are padded by one pixel (yuv420p needs even sides).
    """
    n = 0
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise ValueError(f"{path}: frame {n} must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
                h, w = frame.shape[:2]
                if stream is None:
                    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    stream.width, stream.height = w + (w % 2), h + (h % 2)
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf), "preset": preset}
                if (h, w) != (stream.height, stream.width):
                    frame = np.pad(frame, ((0, stream.height - h), (0, stream.width - w), (0, 0)), mode="edge")
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    container.mux(packet)
                n += 1
            if stream is None:
                raise ValueError(f"{path}: no frames to encode")
            for packet in stream.encode():
                container.mux(packet)
    return n


def read_frames(path: str | Path) -> Iterable[np.ndarray]:
    """Decode every frame of the first video stream as uint8 (H, W, 3) RGB."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")
