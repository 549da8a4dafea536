"""Rollout videos: upscaled frames with the action drawn, an MP4 in the background, a short GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from padflow.players.base import NoopPlayer
from padflow.players.recording import RolloutRecorder, record_episode
from padflow.sim import make_env
from padflow.video import iter_frames, probe


def mark(frame: np.ndarray, action: np.ndarray) -> np.ndarray:
    frame[:4, :4] = 255  # a stand-in for the controller overlay
    return frame


def test_recorder_upscales_draws_and_writes_both_files(tmp_path: Path) -> None:
    recorder = RolloutRecorder(tmp_path / "a.mp4", tmp_path / "a.gif", 30.0, mark, min_width=100, gif_width=40,
                               gif_fps=10.0, gif_max_seconds=0.5)
    for i in range(30):
        recorder(np.full((20, 40, 3), i, np.uint8), np.zeros(21, np.float32))
    paths = recorder.close()
    assert paths == [tmp_path / "a.mp4", tmp_path / "a.gif"]
    info = probe(paths[0])
    assert (info.width, info.height, info.frames) == (120, 60, 30)  # 40 px wide x3 >= 100
    first = next(iter(iter_frames(paths[0])))
    assert first[:4, :4].min() > 200  # the drawing is in the video
    with Image.open(paths[1]) as gif:
        assert gif.size == (40, 20) and gif.n_frames == 5  # every 3rd frame, 0.5 s at 10 fps


def test_an_episode_that_fails_leaves_no_video(tmp_path: Path) -> None:
    env = make_env("pong_hold_15s")

    class Crashing(NoopPlayer):
        steps = 0

        def act(self, frame, info):
            self.steps += 1
            if self.steps > 5:
                raise RuntimeError("player crashed")
            return super().act(frame, info)

    recorder = RolloutRecorder(tmp_path / "b.mp4", tmp_path / "b.gif", env.fps, mark, min_width=160, gif_width=40,
                               gif_fps=8.0, gif_max_seconds=1.0)
    try:
        try:
            record_episode(env, Crashing(), 0, recorder)
        except RuntimeError as exc:
            assert "player crashed" in str(exc)
        else:
            raise AssertionError("the crash did not propagate")
    finally:
        env.close()
    assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "b.gif").exists()


def test_a_captioned_gif_says_task_seed_step_and_outcome_below_the_picture(tmp_path: Path) -> None:
    recorder = RolloutRecorder(tmp_path / "c.mp4", tmp_path / "c.gif", 30.0, mark, min_width=320, gif_width=320,
                               gif_fps=10.0, gif_max_seconds=0.5, caption="pong_hold_15s   seed 3")
    for i in range(30):
        recorder(np.full((40, 80, 3), 60, np.uint8), np.zeros(21, np.float32))
    gif = recorder.close(success=True)[1]
    with Image.open(gif) as image:
        width, height = image.size
        assert width == 320 and height > 160, "320 px wide, a caption strip below the 320 x 160 picture"
        frame = np.asarray(image.convert("RGB"))
    strip = frame[160:]
    assert (strip.max(axis=2) > 200).any(), "the caption's text is drawn"
    green = (strip[..., 1] > 180) & (strip[..., 0] < 150)
    assert green.sum() > 20, "a successful episode's outcome line is green"
    assert np.allclose(frame[:160, 8:], 60, atol=8), "the game picture itself is not written over"
