"""The Gymnasium face of every game: unified gamepad in, RGB frame out, `info["success"]`.

Stepping is frame-synchronous: every engine here only advances when `step` is called, so the
game never runs ahead while the agent thinks (what NitroGen gets by intercepting the game clock).
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from padflow.actions import ACTION_DIM, ACTION_HIGH, ACTION_LOW, validate_action
from padflow.sim.task import Task


class EngineAdapter(Protocol):
    """Maps the unified gamepad onto one engine's native controls."""

    fps: float  # frames per second of the stream the agent sees (engine rate / frame skip)
    frame_shape: tuple[int, int, int]  # (H, W, 3) of observations

    def reset(self, seed: int) -> tuple[np.ndarray, Any]:
        """Start a seeded episode; return (frame uint8 HxWx3, state snapshot)."""
        ...

    def step(self, action: np.ndarray) -> tuple[np.ndarray, Any, Any, bool]:
        """Apply one validated 21-vector for one frame; return (frame, state, native action, game over)."""
        ...

    def close(self) -> None: ...


class GamepadEnv(gym.Env):
    """One task as a Gymnasium env. Observation: uint8 (H, W, 3). Action: float32 (21,)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, task: Task, adapter: EngineAdapter):
        self.task = task
        self.adapter = adapter
        self.fps = adapter.fps
        self.metadata = {"render_modes": ["rgb_array"], "render_fps": adapter.fps}
        self.render_mode = "rgb_array"
        self.max_frames = int(round(task.time_limit_s * adapter.fps))
        self.observation_space = gym.spaces.Box(0, 255, adapter.frame_shape, dtype=np.uint8)
        self.action_space = gym.spaces.Box(ACTION_LOW, ACTION_HIGH, (ACTION_DIM,), np.float32)
        self._frame = np.zeros(adapter.frame_shape, dtype=np.uint8)
        self._start_state: Any = None
        self._state: Any = None
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        self._frame, self._state = self.adapter.reset(int(seed))
        self._start_state = self._state
        self._t = 0
        return self._frame, self._info(success=False, native=None)

    def step(self, action):
        if self._start_state is None:
            raise RuntimeError(f"{self.task.id}: call reset() before step()")
        act = validate_action(action)
        if act.ndim != 1:
            raise ValueError(f"action has shape {act.shape}; step takes one action of shape (21,)")
        self._frame, self._state, native, game_over = self.adapter.step(act)
        self._t += 1
        success = bool(self.task.success(self._start_state, self._state))
        terminated = success or bool(game_over)
        truncated = not terminated and self._t >= self.max_frames
        # Sparse reward: 1 on the step the task is completed, so RL code can use the env too.
        return self._frame, float(success), terminated, truncated, self._info(success, native)

    def render(self) -> np.ndarray:
        return self._frame

    def close(self) -> None:
        self.adapter.close()

    @property
    def state(self) -> Any:
        """The engine's latest state snapshot (what scripted players and predicates read)."""
        return self._state

    def _info(self, success: bool, native: Any) -> dict[str, Any]:
        return {
            "success": success,
            "native_action": native,
            "state": self._state,
            "frame": self._t,
            "task_id": self.task.id,
        }
