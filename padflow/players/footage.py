"""Game footage for drawing overlays on: scripted gameplay with the actions held, runs of real game
frames, and frames scaled to an upload size.

The corpus stage records its videos with these, and the overlay parser's synthetic renders draw
skins over the same kind of frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from padflow.players import make_player
from padflow.players.base import RandomPlayer
from padflow.players.rollout import player_seed
from padflow.sim import make_env

# How wide a game's picture is shown, per engine, when it differs from its pixel grid: the 2600
# draws 160x210 pixels that a TV shows at 4:3.
DISPLAY_ASPECT: dict[str, float] = {"atari": 4 / 3}


def record_gameplay(task_id: str, skill: str, seed: int, seconds: float, fps: float) -> tuple[list[np.ndarray], np.ndarray, int, int]:
    """Play episodes back to back until `seconds` of video at `fps` are filled.

    Returns (frames, actions (T, 21), episodes, successes); frame i is what the screen showed
    while action i was held. Engines at another rate are resampled to `fps` by nearest time.
    """
    env = make_env(task_id)
    player = make_player("scripted", env.task, env.fps, skill)
    n_out = int(round(seconds * fps))
    frames: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    episodes = successes = 0
    try:
        while len(frames) < n_out * env.fps / fps:
            episode_seed = seed + episodes
            frame, info = env.reset(seed=episode_seed)
            player.reset(player_seed(episode_seed))
            episodes += 1
            done = False
            while not done and len(frames) < n_out * env.fps / fps:
                action = player.act(frame, info)
                frames.append(frame)
                actions.append(action)
                frame, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            successes += int(info["success"])
    finally:
        env.close()
    # Nearest engine frame for each output frame time (identity when the engine runs at fps).
    pick = np.minimum(np.round(np.arange(n_out) * env.fps / fps).astype(int), len(frames) - 1)
    return [frames[i] for i in pick], np.stack(actions)[pick], episodes, successes


def fit_to_upload(
    frame: np.ndarray, width: int, height: int, aspect: float | None = None
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Scale a game frame into a (height, width) upload frame at its display aspect, black bars around.

    The game box is recorded so training can crop the game picture exactly as the simulator shows it.
    """
    h, w = frame.shape[:2]
    aspect = aspect or w / h
    nh = int(round(min(height, width / aspect)))
    nw = int(round(nh * aspect))
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out = np.zeros((height, width, 3), dtype=np.uint8)
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, (x0, y0, x0 + nw, y0 + nh)


def collect_backgrounds(task_ids: Sequence[str], frames_per_task: int, stride: int, seed: int) -> list[np.ndarray]:
    """Runs of real game frames, one (n, H, W, 3) array per task, played by the random player.

    Every `stride`-th engine frame is kept, so a run moves like gameplay but covers more of it.
    """
    runs = []
    for k, task_id in enumerate(task_ids):
        env = make_env(task_id)
        player = RandomPlayer()
        try:
            frame, info = env.reset(seed=seed + k)
            player.reset(seed + k)
            kept: list[np.ndarray] = []
            step = 0
            while len(kept) < frames_per_task:
                if step % stride == 0:
                    kept.append(frame)
                frame, _, terminated, truncated, info = env.step(player.act(frame, info))
                step += 1
                if terminated or truncated:
                    frame, info = env.reset(seed=seed + k + step)
        finally:
            env.close()
        runs.append(np.stack(kept))
    return runs
