"""Frame sampling: frames spread evenly over the whole video, read by number."""

import numpy as np

from padflow.overlay.localize import sample_frames, spread_order
from padflow.video import write_mp4


def test_samples_frames_across_the_whole_video(tmp_path):
    video = tmp_path / "v.mp4"
    levels = [np.full((64, 96, 3), 8 * i, np.uint8) for i in range(30)]
    write_mp4(video, levels, 30.0, crf=0, preset="ultrafast")
    frames, indices, rate = sample_frames(video, 5)
    assert indices == [3, 9, 15, 21, 27] and rate == 30.0
    assert [round(f.mean() / 8) for f in frames] == indices


def test_spread_order_spreads_every_prefix():
    assert spread_order(0) == []
    order = spread_order(9)
    assert sorted(order) == list(range(9)) and order[:3] == [4, 0, 8]
