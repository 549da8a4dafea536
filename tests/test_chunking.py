"""padflow.chunking: a video's motion measured ahead on threads is the motion measured when asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from padflow.chunking import ChunkRule, MotionCache, video_motion
from padflow.video import VideoError, write_mp4


def test_motion_measured_ahead_two_at_a_time_is_what_asking_gives_and_a_bad_video_still_fails_by_name(tmp_path: Path):
    rng = np.random.default_rng(0)
    videos = []
    for i in range(3):
        frames = np.zeros((12, 48, 64, 3), np.uint8)
        for t in range(12):
            frames[t, 10:20, 4 * t + i : 4 * t + i + 8] = 200 + rng.integers(0, 50)  # a block moving right
        videos.append(tmp_path / f"v{i}.mp4")
        write_mp4(videos[-1], frames, 30.0)
    missing = tmp_path / "gone.mp4"
    cfg = ChunkRule()
    ahead = MotionCache(cfg)
    ahead.measure([(v, (40, 30, 64, 48)) for v in videos] + [(missing, None)], workers=2)
    for v in videos:
        motion, box = ahead(v, (40, 30, 64, 48))
        expected_motion, expected_box = video_motion(v, (40, 30, 64, 48), cfg)
        assert np.array_equal(motion, expected_motion) and box == expected_box and motion.max() > 100
    with pytest.raises(VideoError, match="gone.mp4: cannot open video"):
        ahead(missing, None)
