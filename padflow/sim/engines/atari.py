"""Atari 2600 games through ale-py, driven by the unified gamepad.

Frame rate: the 2600 draws 60 frames a second; padflow repeats each gamepad action for
`FRAME_SKIP` = 2 emulator frames and shows the last one, so the agent sees `FPS` = 30.0 frames
a second, the rate NitroGen's videos are normalized to.

Controls, as ale-py's continuous action mode reads a joystick (radius, angle, fire):

- left stick → radius = deflection (capped at 1) and angle. An axis pushed past
  `DIRECTION_THRESHOLD` presses that joystick direction (diagonals when both are), and the radius
  is the paddle strength, so paddle games (Pong, Breakout, Kaboom) move the paddle faster the
  further the stick is pushed. ale-py's own default threshold is 0.5; a shorter throw keeps a
  wider analog range for the paddle.
- d-pad → the same directions at full deflection; when any d-pad button is held it replaces the
  stick, as a digital fallback.
- SOUTH (Xbox A / PlayStation cross) or RIGHT_TRIGGER → the fire button. Every other button is
  ignored: the 2600 joystick has one button.

The engine is ale-py's `ALEInterface` stepped directly rather than through `ale_py.env.AtariEnv`:
the conversion above is the whole of AtariEnv's continuous step, and skipping its per-step
bookkeeping keeps padflow within 10% of the raw engine (bench/sim_atari.py measures it).
Sticky actions are off (repeat_action_probability = 0): the frame must follow the action the pad
sent, so recorded labels match what the game did; human imprecision is modelled by the players'
HumanizedGamepad instead. 2600 games are deterministic, so each seed instead draws a number of
idle emulator frames before the first observation (the usual "no-op starts"), which shifts the
game's timers and gives every seed its own episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from padflow.actions import AXIS_INDEX, BUTTON_INDEX
from padflow.sim.task import Task

ENGINE_HZ = 60  # frames per second the 2600 draws
FRAME_SKIP = 2  # emulator frames per gamepad action
FPS = ENGINE_HZ / FRAME_SKIP  # 30.0 frames per second in the stream the agent sees
DIRECTION_THRESHOLD = 0.3  # axis deflection that presses a joystick direction
FIRE_BUTTONS: tuple[str, ...] = ("SOUTH", "RIGHT_TRIGGER")
MAX_NOOP_START_FRAMES = 30  # a seed idles 0..30 emulator frames (up to half a second) first

_LEFT_X, _LEFT_Y = AXIS_INDEX["LEFT_X"], AXIS_INDEX["LEFT_Y"]
_DPAD_UP, _DPAD_DOWN = BUTTON_INDEX["DPAD_UP"], BUTTON_INDEX["DPAD_DOWN"]
_DPAD_LEFT, _DPAD_RIGHT = BUTTON_INDEX["DPAD_LEFT"], BUTTON_INDEX["DPAD_RIGHT"]
_FIRE_A, _FIRE_B = (BUTTON_INDEX[b] for b in FIRE_BUTTONS)
# (horizontal -1/0/1, vertical -1/0/1) → ALE action name stem; "+FIRE" variants are derived.
_DIRECTION_NAMES = {
    (0, 0): "NOOP", (0, 1): "UP", (0, -1): "DOWN", (-1, 0): "LEFT", (1, 0): "RIGHT",
    (-1, 1): "UPLEFT", (1, 1): "UPRIGHT", (-1, -1): "DOWNLEFT", (1, -1): "DOWNRIGHT",
}  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class AtariState:
    """What the console holds after a step; task predicates and scripted players read only this."""

    frame: int  # gamepad steps since reset (0 right after reset)
    ram: np.ndarray  # uint8 (128,), the console RAM (address 0 is 0x80 on the 2600 bus)
    score: float  # reward ALE reported since reset (game points for most games)
    lives: int  # lives left as ALE reads them (0 for games without lives)
    game_over: bool


def _action_name(dx: int, dy: int, fire: bool) -> str:
    stem = _DIRECTION_NAMES[(dx, dy)]
    if not fire:
        return stem
    return "FIRE" if stem == "NOOP" else stem + "FIRE"


class Adapter:
    """One ALE game (task.scenario = ale-py ROM id, e.g. "pong") behind the unified gamepad.

    Task options: "mode" and "difficulty" select the game variation (ALE defaults when absent).
    """

    fps = FPS

    def __init__(self, task: Task):
        import ale_py  # imported here so listing tasks does not load the emulator
        from ale_py import roms

        if task.scenario not in roms.get_all_rom_ids():
            raise ValueError(
                f"task {task.id}: unknown Atari game {task.scenario!r}; "
                f"valid ale-py ROM ids: {', '.join(sorted(roms.get_all_rom_ids()))}"
            )
        rom_path = roms.get_rom_path(task.scenario)
        self.task = task
        self.ale = ale_py.ALEInterface()
        self.ale.setLoggerMode(ale_py.LoggerMode.Error)
        self.ale.setFloat("repeat_action_probability", 0.0)
        self.ale.loadROM(str(rom_path))
        for option, available, select in (
            ("mode", self.ale.getAvailableModes(), self.ale.setMode),
            ("difficulty", self.ale.getAvailableDifficulties(), self.ale.setDifficulty),
        ):
            value = task.option(option)
            if value is None:
                continue
            if value not in available:
                raise ValueError(f"task {task.id}: {option} {value!r} not available in {task.scenario}; valid: {available}")
            select(value)
        self.frame_shape = (*self.ale.getScreenDims(), 3)
        names = {(dx, dy, fire): _action_name(dx, dy, fire) for dx, dy in _DIRECTION_NAMES for fire in (False, True)}
        self._actions = {key: (getattr(ale_py.Action, name), name) for key, name in names.items()}
        self._noop = ale_py.Action.NOOP
        self._frame = 0
        self._score = 0.0

    def reset(self, seed: int) -> tuple[np.ndarray, AtariState]:
        self.ale.reset_game()
        idle = int(np.random.default_rng(seed).integers(0, MAX_NOOP_START_FRAMES + 1))
        for _ in range(idle):
            self.ale.act(self._noop)
        self._frame = 0
        self._score = 0.0
        return self.ale.getScreenRGB(), self._snapshot()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, AtariState, tuple[str, float], bool]:
        # Written flat (no helper calls, one tolist) because it runs on every frame.
        values = action.tolist()
        if values[_DPAD_UP] or values[_DPAD_DOWN] or values[_DPAD_LEFT] or values[_DPAD_RIGHT]:
            dx = int(values[_DPAD_RIGHT] - values[_DPAD_LEFT])
            dy = int(values[_DPAD_UP] - values[_DPAD_DOWN])
            strength = 1.0
        else:
            x, y = values[_LEFT_X], values[_LEFT_Y]
            dx = (x > DIRECTION_THRESHOLD) - (x < -DIRECTION_THRESHOLD)
            dy = (y > DIRECTION_THRESHOLD) - (y < -DIRECTION_THRESHOLD)
            strength = min(1.0, math.hypot(x, y))
        ale_action, name = self._actions[dx, dy, values[_FIRE_A] > 0.0 or values[_FIRE_B] > 0.0]
        ale = self.ale
        for _ in range(FRAME_SKIP):
            self._score += ale.act(ale_action, strength)
        self._frame += 1
        game_over = ale.game_over()
        state = AtariState(self._frame, ale.getRAM(), self._score, ale.lives(), game_over)
        return ale.getScreenRGB(), state, (name, strength), game_over

    def close(self) -> None:
        self.ale = None

    def _snapshot(self) -> AtariState:
        ale = self.ale
        return AtariState(self._frame, ale.getRAM(), self._score, ale.lives(), ale.game_over())
