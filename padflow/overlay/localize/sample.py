"""Which frames of a video a localization reads: `count` spread evenly over it, decoded by padflow.video."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from padflow.video import probe, read_frames_at


def sample_frames(video_path: str | Path, count: int) -> tuple[list[np.ndarray], list[int], float]:
    """`count` RGB frames spread evenly over the video, their indices, and the frame rate.

    The frames are read by number (`padflow.video.read_frames_at`, which seeks over long gaps),
    so an hour-long video costs about `count` short decodes. ValueError (VideoError) names the
    file if it cannot be read.
    """
    path = Path(video_path)
    info = probe(path)
    if info.fps <= 0:
        raise ValueError(f"{path}: the video stream declares no frame rate")
    total = info.frames
    if not total:
        raise ValueError(f"{path}: the video stream declares no frame count or duration")
    indices = sorted({min(total - 1, int((k + 0.5) * total / count)) for k in range(count)})
    frames = read_frames_at(path, indices)
    return [frames[i] for i in indices], indices, info.fps


def spread_order(n: int) -> list[int]:
    """0..n-1 reordered so every prefix is spread over the range (farthest point first)."""
    order = [n // 2] if n else []
    while len(order) < n:
        gaps = [min(abs(i - j) for j in order) if i not in order else -1 for i in range(n)]
        order.append(int(np.argmax(gaps)))
    return order
