from pathlib import Path

import av
import numpy as np
import pytest

from padflow.video import read_frames, write_mp4


def test_h264_round_trip_keeps_size_count_and_picture(tmp_path: Path):
    frames = [np.full((61, 81, 3), 20 * i, np.uint8) for i in range(10)]  # odd sides get padded
    path = tmp_path / "clip.mp4"
    assert write_mp4(path, frames, fps=30.0, crf=10) == 10
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and float(s.average_rate) == pytest.approx(30.0)
    decoded = list(read_frames(path))
    assert len(decoded) == 10 and decoded[0].shape == (62, 82, 3)
    assert abs(int(decoded[5][30, 40].mean()) - 100) <= 3


def test_bad_frames_and_empty_input_are_rejected_without_leaving_a_file(tmp_path: Path):
    with pytest.raises(ValueError, match="frame 0 must be uint8"):
        write_mp4(tmp_path / "a.mp4", [np.zeros((8, 8, 3), np.float32)], 30.0)
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "b.mp4", [], 30.0)
    assert list(tmp_path.iterdir()) == []
