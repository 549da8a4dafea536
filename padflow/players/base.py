"""Players: anything that maps (frame, info) to a unified gamepad action, once per frame."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from padflow.actions import ACTION_DIM, AXIS_SLICE, BUTTON_SLICE, N_AXES, N_BUTTONS, noop
from padflow.players.human import HumanizedGamepad, Intent, Skill
from padflow.sim.task import Task


class Player(Protocol):
    name: str

    def reset(self, seed: int) -> None: ...

    def act(self, frame: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """float32 (21,) action for this frame; `info` is the env's latest info dict."""
        ...


class NoopPlayer:
    """Never touches the pad: the floor every task must stay above."""

    name = "noop"

    def reset(self, seed: int) -> None:
        pass

    def act(self, frame: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return noop()


class RandomPlayer:
    """Uniform random pad each frame: every button a fair coin, every axis uniform in [-1, 1]."""

    name = "random"

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, frame: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        out = np.empty(ACTION_DIM, dtype=np.float32)
        out[BUTTON_SLICE] = self.rng.integers(0, 2, N_BUTTONS)
        out[AXIS_SLICE] = self.rng.uniform(-1.0, 1.0, N_AXES)
        return out


class ScriptedPlayer:
    """Base of the per-task experts: `decide` reads game state, the humanized pad presses."""

    name = "scripted"

    def __init__(self, task: Task, skill: Skill, fps: float):
        self.task = task
        self.skill = skill
        self.fps = fps
        self.pad = HumanizedGamepad(skill, fps)
        self.rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self.pad.reset(seed)
        # A separate stream for decisions, so a change in pad noise does not change strategy draws.
        self.rng = np.random.default_rng([seed, 1])
        self.on_reset()

    def act(self, frame: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return self.pad.press(self.decide(info["state"]))

    def on_reset(self) -> None:
        """Clear per-episode memory (override when the player keeps any)."""

    def decide(self, state: Any) -> Intent:
        raise NotImplementedError(f"{type(self).__name__} must implement decide(state)")
