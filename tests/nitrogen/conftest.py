"""Sample NitroGen data for the nitrogen tests: noise videos, busy labels, chunks in the released layout.

Tests reach the constants and helpers through the `samples` fixture (conftest modules are not
imported by name), and two videos with their chunks through `released`.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from padflow.actions import ACTION_INDEX
from padflow.ingest import IngestConfig
from padflow.nitrogen import ChunkMetadata, OriginalVideo, chunk_name, shard_name, write_chunk
from padflow.video import write_mp4

FPS = 30.0
SECONDS = 3.0
SIZE = (96, 64)  # (width, height) of the test videos
OVERLAY = [60, 40, 96, 64]  # controller overlay box, pixels of SIZE
INGEST = IngestConfig(max_width=128, max_height=96)


def noise_video(path: Path, seed: int, fps: float = FPS, seconds: float = SECONDS) -> Path:
    """A short video whose picture changes every frame (the gate drops static spans)."""
    rng = np.random.default_rng(seed)
    frames = (rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8) for _ in range(round(fps * seconds)))
    write_mp4(path, frames, fps)
    return path


def busy_actions(n: int, seed: int) -> np.ndarray:
    """Labels the gate accepts: a face button tapped every other frame, both sticks moving."""
    rng = np.random.default_rng(seed)
    a = np.zeros((n, 21), np.float32)
    a[::2, ACTION_INDEX["SOUTH"]] = 1
    a[:, ACTION_INDEX["DPAD_UP"]] = rng.integers(0, 2, n)
    a[:, ACTION_INDEX["LEFT_X"]] = np.sin(np.arange(n) / 4)
    a[:, ACTION_INDEX["RIGHT_Y"]] = rng.uniform(-1, 1, n)
    return a


def released_chunk(labels: Path, video_id: str, chunk_id: int, start_s: float, end_s: float, fps: float, seed: int) -> tuple[Path, np.ndarray]:
    """One chunk in the released layout (one label row per frame of a `fps` video)."""
    first, last = round(start_s * fps), round(end_s * fps)
    actions = busy_actions(last - first, seed)
    meta = ChunkMetadata(
        uuid=f"{chunk_name(video_id, chunk_id)}_actions",
        chunk_id=chunk_id,
        chunk_size=last - first,
        game="Test Game",
        controller_type="xbox",
        bbox_game_area=None,
        bbox_controller_overlay=tuple(float(v) for v in OVERLAY),
        original_video=OriginalVideo(
            video_id=video_id, url=f"https://example.invalid/{video_id}", resolution=SIZE, start_time=start_s,
            end_time=end_s, duration=SECONDS, start_frame=first, end_frame=last,
        ),
    )  # fmt: skip
    path = write_chunk(labels / shard_name(0) / video_id / chunk_name(video_id, chunk_id), actions, meta)
    return path, actions


@pytest.fixture
def samples() -> SimpleNamespace:
    """The sample constants (FPS, SECONDS, SIZE, OVERLAY, INGEST) and helpers (noise_video, busy_actions, released_chunk)."""
    return SimpleNamespace(FPS=FPS, SECONDS=SECONDS, SIZE=SIZE, OVERLAY=OVERLAY, INGEST=INGEST,
                           noise_video=noise_video, busy_actions=busy_actions, released_chunk=released_chunk)  # fmt: skip


@pytest.fixture
def released(tmp_path: Path) -> dict:
    """Two videos with 1.5 s chunks: `alpha` at 30 fps, `beta` at 60 fps (imported onto 30 fps frames)."""
    labels, videos = tmp_path / "nitrogen/actions", tmp_path / "videos"
    noise_video(videos / "alpha.mp4", seed=1)
    noise_video(videos / "beta.mp4", seed=2, fps=60.0)
    chunks = {}
    for video_id, fps in (("alpha", FPS), ("beta", 60.0)):
        for n in range(2):
            chunks[(video_id, n)] = released_chunk(labels, video_id, n, 1.5 * n, 1.5 * (n + 1), fps, seed=n + 10 * len(video_id))
    return {"labels": labels, "videos": videos, "chunks": chunks}
