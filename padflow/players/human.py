"""Turn what a scripted player *wants* into what a person's thumbs would actually do.

A scripted player decides an `Intent` (buttons to hold, where each stick should point) from game
state; `HumanizedGamepad` delays it by a reaction time, moves sticks smoothly toward their target
with tremor, drops some presses, holds taps for a human-length minimum, and pauses now and then.
Everything is seeded, so the same seed gives the same button presses.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from padflow.actions import ACTION_DIM, BUTTON_INDEX, LEFT_STICK, N_BUTTONS, RIGHT_STICK, canonical_name


@dataclass(frozen=True)
class Intent:
    """What the player means to do this frame."""

    buttons: frozenset[str] = frozenset()  # canonical names (or aliases) to hold
    left: tuple[float, float] = (0.0, 0.0)  # left stick target (x right, y up), each in [-1, 1]
    right: tuple[float, float] = (0.0, 0.0)  # right stick target

    @staticmethod
    def of(*buttons: str, left=(0.0, 0.0), right=(0.0, 0.0)) -> Intent:
        return Intent(frozenset(canonical_name(b) for b in buttons), tuple(left), tuple(right))


NEUTRAL = Intent()


@dataclass(frozen=True)
class Skill:
    """How a person plays: every field is a measurable habit, with its unit."""

    name: str
    reaction_frames: tuple[int, int]  # per-episode reaction delay, frames (30 fps: 5 = 167 ms)
    stick_response: float  # fraction of the gap to the stick target closed per frame, (0, 1]
    stick_tremor: float  # std of thumb tremor on a held stick, axis units
    idle_per_s: float  # expected idle pauses started per second of play
    idle_frames: tuple[int, int]  # length of an idle pause, frames
    miss_prob: float  # probability that a new button press is not made at all
    min_press_frames: int  # shortest tap a thumb makes, frames
    aim_noise: float  # scripted players' own targeting error, in the task's units (0 = exact)

    def __post_init__(self) -> None:
        lo, hi = self.reaction_frames
        if not 0 <= lo <= hi:
            raise ValueError(f"skill {self.name}: reaction_frames must be 0 <= lo <= hi, got {self.reaction_frames}")
        if not 0 < self.stick_response <= 1:
            raise ValueError(f"skill {self.name}: stick_response must be in (0, 1], got {self.stick_response}")
        if not 0 <= self.miss_prob < 1:
            raise ValueError(f"skill {self.name}: miss_prob must be in [0, 1), got {self.miss_prob}")
        if self.min_press_frames < 1:
            raise ValueError(f"skill {self.name}: min_press_frames must be >= 1, got {self.min_press_frames}")
        if self.idle_frames[0] > self.idle_frames[1] or self.idle_frames[0] < 0:
            raise ValueError(f"skill {self.name}: idle_frames must be 0 <= lo <= hi, got {self.idle_frames}")


SKILLS: dict[str, Skill] = {
    s.name: s
    for s in (
        Skill("expert", (3, 5), 0.55, 0.02, 0.02, (6, 15), 0.01, 2, 0.0),
        Skill("average", (5, 8), 0.35, 0.04, 0.05, (10, 30), 0.04, 3, 0.5),
        Skill("novice", (7, 12), 0.22, 0.07, 0.10, (15, 45), 0.10, 4, 1.0),
    )
}
DEFAULT_SKILL = "average"


def get_skill(name: str) -> Skill:
    if name not in SKILLS:
        raise ValueError(f"unknown skill {name!r}; valid: {', '.join(SKILLS)}")
    return SKILLS[name]


@dataclass
class HumanizedGamepad:
    """Stateful thumbs: call `reset(seed)` per episode, then `press(intent)` once per frame."""

    skill: Skill
    fps: float = 30.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        lo, hi = self.skill.reaction_frames
        self._delay = int(self.rng.integers(lo, hi + 1))
        self._queue: deque[Intent] = deque([NEUTRAL] * (self._delay + 1), maxlen=self._delay + 1)
        self._sticks = np.zeros(4, dtype=np.float64)
        self._held = np.zeros(N_BUTTONS, dtype=bool)
        self._held_for = np.zeros(N_BUTTONS, dtype=np.int64)
        self._missed: set[str] = set()
        self._idle_left = 0
        # Per-frame hazard so that idle pauses start `idle_per_s` times a second on average.
        self._idle_p = min(1.0, self.skill.idle_per_s / self.fps)

    def press(self, intent: Intent) -> np.ndarray:
        """The gamepad state this frame, float32 (21,), for an intent decided this frame."""
        self._queue.append(intent)
        seen = self._queue[0]  # what the thumbs act on: the intent of `delay` frames ago
        if self._idle_left > 0:
            self._idle_left -= 1
            seen = NEUTRAL
        elif self.rng.random() < self._idle_p:
            lo, hi = self.skill.idle_frames
            self._idle_left = int(self.rng.integers(lo, hi + 1))
            seen = NEUTRAL

        want = np.zeros(N_BUTTONS, dtype=bool)
        for name in seen.buttons:
            if name in self._missed:
                continue
            i = BUTTON_INDEX[name]
            if not self._held[i] and self.rng.random() < self.skill.miss_prob:
                self._missed.add(name)  # this press is fumbled until the intent lets go
                continue
            want[i] = True
        self._missed &= set(seen.buttons)
        # A tap lasts at least min_press_frames; a released button stays up one frame before
        # it can be pressed again, as a thumb must lift.
        keep = self._held & (self._held_for < self.skill.min_press_frames)
        just_released = ~self._held & (self._held_for == -1)
        new_held = (want | keep) & ~just_released
        self._held_for = np.where(new_held, np.where(self._held, self._held_for + 1, 1),
                                  np.where(self._held, -1, 0))
        self._held = new_held

        target = np.array([*seen.left, *seen.right], dtype=np.float64)
        self._sticks += (target - self._sticks) * self.skill.stick_response
        tremor = self.rng.normal(0.0, self.skill.stick_tremor, 4) * (target != 0.0)
        sticks = np.clip(self._sticks + tremor, -1.0, 1.0)
        # A released stick springs back to exact centre once it is close.
        sticks[(target == 0.0) & (np.abs(self._sticks) < 0.05)] = 0.0

        out = np.zeros(ACTION_DIM, dtype=np.float32)
        out[:N_BUTTONS] = self._held
        out[LEFT_STICK] = sticks[:2]
        out[RIGHT_STICK] = sticks[2:]
        return out
