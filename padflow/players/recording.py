"""Rollout videos: one episode as an MP4 (encoded in the background) and a short GIF of its start.

Each frame the player saw is upscaled by a whole factor to at least `min_width` pixels, then
`draw(frame, action)` draws the chosen action on it (the evaluate stage draws a controller
overlay; anything that returns the drawn frame will do).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from padflow.actions import noop
from padflow.players.base import Player
from padflow.players.rollout import EpisodeResult, run_episode
from padflow.video import Mp4Writer, write_gif

# (upscaled frame, action chosen on it) -> the frame with the action drawn (may draw in place).
Draw = Callable[[np.ndarray, np.ndarray], np.ndarray]


class RolloutRecorder:
    """Streams one episode to an MP4 (background encoder, bounded buffer) and keeps a short GIF of its start."""

    def __init__(self, mp4: Path, gif: Path, fps: float, draw: Draw, *, min_width: int, gif_width: int,
                 gif_fps: float, gif_max_seconds: float):
        self.mp4, self.gif, self.fps, self.draw = mp4, gif, fps, draw
        self.min_width, self.gif_width, self.gif_fps = min_width, gif_width, gif_fps
        self.gif_every = max(1, round(fps / gif_fps))
        self.gif_max_frames = max(1, int(gif_max_seconds * gif_fps))
        self.gif_frames: list[np.ndarray] = []
        self.shown = 0
        self.last_action = noop()
        self.writer = Mp4Writer(mp4, fps, background=True)

    def __call__(self, frame: np.ndarray, action: np.ndarray) -> None:
        scale = math.ceil(self.min_width / frame.shape[1])
        big = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1) if scale > 1 else frame.copy()
        shown = self.draw(big, action)
        self.writer.write(shown)
        if self.shown % self.gif_every == 0 and len(self.gif_frames) < self.gif_max_frames:
            height = round(shown.shape[0] * self.gif_width / shown.shape[1])
            self.gif_frames.append(cv2.resize(shown, (self.gif_width, height), interpolation=cv2.INTER_AREA))
        self.shown += 1
        self.last_action = action

    def close(self) -> list[Path]:
        """Finish both files; returns their paths."""
        self.writer.close()
        write_gif(self.gif, self.gif_frames, self.gif_fps)
        return [self.mp4, self.gif]

    def abort(self) -> None:
        """Stop the encoder and leave no video (the episode did not finish)."""
        self.writer.abort()


def record_episode(env: Any, player: Player, seed: int, recorder: RolloutRecorder) -> tuple[EpisodeResult, list[Path]]:
    """One episode through `recorder`, including the frame it ended on; returns its result and the video paths."""
    try:
        result = run_episode(env, player, seed, on_frame=recorder)
        recorder(env.render(), recorder.last_action)  # the frame the episode ended on
    except BaseException:
        recorder.abort()
        raise
    return result, recorder.close()
