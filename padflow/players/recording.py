"""Rollout videos: one episode as an MP4 (encoded in the background) and a short GIF of its start.

Each frame the player saw is upscaled by a whole factor to at least `min_width` pixels, then
`draw(frame, action)` draws the chosen action on it (the evaluate stage draws a controller
overlay; anything that returns the drawn frame will do). With a `caption` (task and seed), every
GIF frame gets a strip below the picture: the caption, the frame's step and how the episode ended,
so a GIF read on its own (in MLflow, in a folder) says what it shows.
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
                 gif_fps: float, gif_max_seconds: float, caption: str = ""):
        self.mp4, self.gif, self.fps, self.draw, self.caption = mp4, gif, fps, draw, caption
        self.min_width, self.gif_width, self.gif_fps = min_width, gif_width, gif_fps
        self.gif_every = max(1, round(fps / gif_fps))
        self.gif_max_frames = max(1, int(gif_max_seconds * gif_fps))
        self.gif_frames: list[np.ndarray] = []
        self.gif_steps: list[int] = []  # the episode step each GIF frame shows
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
            self.gif_steps.append(self.shown)
        self.shown += 1
        self.last_action = action

    def close(self, success: bool | None = None) -> list[Path]:
        """Finish both files (the GIF captioned with how the episode ended, when it has a caption); returns their paths."""
        self.writer.close()
        frames = self.gif_frames
        if self.caption:
            outcome = "episode: running" if success is None else ("episode: SUCCESS" if success else "episode: failed")
            frames = [captioned(f, (self.caption, f"step {step}/{self.shown - 1}   {outcome}"), success)
                      for f, step in zip(self.gif_frames, self.gif_steps)]
        write_gif(self.gif, frames, self.gif_fps)
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
    return result, recorder.close(result.success)


CAPTION_GREEN, CAPTION_RED, CAPTION_WHITE = (90, 220, 120), (250, 110, 100), (235, 235, 235)


def captioned(frame: np.ndarray, lines: tuple[str, ...], success: bool | None) -> np.ndarray:
    """`frame` with a dark strip below it holding `lines` (the last one green on success, red on
    failure); the text is sized to the frame's width so it stays legible in a 320 px GIF."""
    scale = max(0.35, frame.shape[1] / 700)
    line_h = int(round(26 * scale)) + 2
    strip = np.full((line_h * len(lines) + 4, frame.shape[1], 3), 24, np.uint8)
    for i, text in enumerate(lines):
        last = i == len(lines) - 1
        colour = CAPTION_WHITE if not last or success is None else (CAPTION_GREEN if success else CAPTION_RED)
        cv2.putText(strip, text, (4, line_h * (i + 1) - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    return np.concatenate([frame, strip], axis=0)
