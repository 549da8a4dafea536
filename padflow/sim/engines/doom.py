"""Doom through vizdoom: the unified gamepad mapped onto Doom's analog controls, played headless.

Frame rate: Doom's engine runs at 35 tics per second. padflow advances exactly one tic per step
(FRAME_SKIP = 1), so the agent sees FPS = 35.0 frames per second: the closest rate to the
30 fps of gameplay videos that a whole-tic skip allows (a skip of 2 would give 17.5 fps).
vizdoom runs in PLAYER mode, which is synchronous: the game waits for `make_action`, so the
agent is frame-synchronous by construction.

Gamepad mapping (the same for every scenario; the scenario's own button list is replaced):

    RIGHT_X          turn (TURN_LEFT_RIGHT_DELTA), +1 = turn right at MAX_TURN_DEG_PER_TIC
    LEFT_Y           walk (MOVE_FORWARD_BACKWARD_DELTA), +1 = forward at MAX_MOVE_SPEED
    LEFT_X           strafe (MOVE_LEFT_RIGHT_DELTA), +1 = right at MAX_MOVE_SPEED
    RIGHT_TRIGGER    fire (ATTACK)
    SOUTH            use: open doors, press switches (USE)
    RIGHT_SHOULDER   next weapon (SELECT_NEXT_WEAPON)
    LEFT_SHOULDER    previous weapon (SELECT_PREV_WEAPON)

Sticks pass a per-axis dead zone of STICK_DEADZONE and are rescaled so full tilt still gives
full speed. RIGHT_Y is unused: padflow plays classic Doom, which aims vertically by autoaim.
Every other button is ignored.

Task options read here: `doom_skill` (1..5, overrides the scenario's difficulty),
`doom_map` (the map lump to play, e.g. "E1M1" or "MAP01": full games such as the freedoom1 /
freedoom2 scenarios hold many maps), `doom_objects` (fill `DoomState.objects` every step),
`doom_walls` (fill `DoomState.walls` on the reset snapshot). Both info streams are off unless a
task asks: they cost speed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from padflow.actions import AXIS_INDEX, AXIS_SLICE, BUTTON_INDEX
from padflow.sim.task import Task

TIC_RATE = 35  # Doom engine tics per second (fixed by the engine)
FRAME_SKIP = 1  # tics advanced per env step
FPS = TIC_RATE / FRAME_SKIP  # 35.0 frames per second seen by the agent

SCREEN_WIDTH, SCREEN_HEIGHT = 320, 240  # the scenarios' own resolution: ~2.2k raw steps/s (160x120: ~4.5k)
MAX_TURN_DEG_PER_TIC = 5.0  # full right-stick tilt turns 175 deg/s, a brisk console-shooter yaw
MAX_MOVE_SPEED = 50.0  # Doom's running move command; the engine clamps larger values (15 map units/tic)
STICK_DEADZONE = 0.1  # per-axis dead zone, as console games apply to ignore a resting thumb
MIN_SKILL, MAX_SKILL = 1, 5  # Doom difficulty: 1 "I'm too young to die" .. 5 "Nightmare!"
MAP_NAME = re.compile(r"E[1-9]M[1-9]|MAP[0-9]{2}")  # Doom 1 (episode/mission) and Doom 2 map lumps

# (vizdoom button name, unified gamepad button) for the binary buttons, in native order.
BINARY_BUTTONS: tuple[tuple[str, str], ...] = (
    ("ATTACK", "RIGHT_TRIGGER"),
    ("USE", "SOUTH"),
    ("SELECT_NEXT_WEAPON", "RIGHT_SHOULDER"),
    ("SELECT_PREV_WEAPON", "LEFT_SHOULDER"),
)
# (vizdoom delta button name, unified axis, native units at full tilt), after the binary ones.
DELTA_BUTTONS: tuple[tuple[str, str, float], ...] = (
    ("TURN_LEFT_RIGHT_DELTA", "RIGHT_X", MAX_TURN_DEG_PER_TIC),
    ("MOVE_FORWARD_BACKWARD_DELTA", "LEFT_Y", MAX_MOVE_SPEED),
    ("MOVE_LEFT_RIGHT_DELTA", "LEFT_X", MAX_MOVE_SPEED),
)
NATIVE_BUTTONS: tuple[str, ...] = tuple(b for b, _ in BINARY_BUTTONS) + tuple(b for b, _, _ in DELTA_BUTTONS)

# Read every step, in this order, into DoomState.
GAME_VARIABLES: tuple[str, ...] = (
    "HEALTH", "ARMOR", "KILLCOUNT", "ITEMCOUNT", "HITCOUNT", "SELECTED_WEAPON_AMMO",
    "POSITION_X", "POSITION_Y", "POSITION_Z", "ANGLE", "DEAD",
)  # fmt: skip

_BUTTON_IDX = np.array([BUTTON_INDEX[pad] for _, pad in BINARY_BUTTONS])
_AXES = tuple((AXIS_INDEX[axis] - AXIS_SLICE.start, scale) for _, axis, scale in DELTA_BUTTONS)
PLAYER_OBJECT = "DoomPlayer"  # vizdoom's name for the player's own actor in the objects list


class DoomObject(NamedTuple):
    """One actor in the map (monster, item, projectile); dead monsters are named "Dead<Name>".

    A named tuple rather than a dataclass: a few are built every tic, and tuples build fastest.
    """

    id: int  # stable for the actor's lifetime, so a player can track motion
    name: str
    x: float  # map units
    y: float
    z: float


@dataclass(frozen=True)
class DoomState:
    """What the player and the success predicates may read after one tic."""

    tic: int  # tics since the episode started (1 tic = 1/35 s)
    health: float
    armor: float
    kills: int  # monsters killed this episode
    items: int  # countable items picked up this episode
    hits: int  # hits the player landed on monsters
    heals: int  # times health rose this episode (medkits, stimpacks): pickups that are not "items"
    ammo: int  # ammo of the selected weapon (-1 when it uses none)
    x: float  # map units
    y: float
    z: float
    angle: float  # facing, degrees in [0, 360): 0 = east (+x), counter-clockwise (90 = +y)
    dead: bool
    walls: tuple[tuple[float, float, float, float], ...] = ()  # blocking (x1, y1, x2, y2); reset snapshot only
    # vizdoom's actor list of this tic (None when the task does not enable it). Kept raw: most
    # steps nobody reads it, and converting every actor each tic was most of the wrapper's cost.
    raw_objects: Any = field(default=None, repr=False, compare=False)

    @cached_property
    def objects(self) -> tuple[DoomObject, ...]:
        """Every actor but the player, when the task enables it (built on first read)."""
        if self.raw_objects is None:
            return ()
        return tuple(DoomObject(o.id, o.name, o.position_x, o.position_y, o.position_z) for o in self.raw_objects if o.name != PLAYER_OBJECT)


def scenario_names() -> tuple[str, ...]:
    """The vizdoom scenarios (.cfg files) that ship with the installed package."""
    import vizdoom

    return tuple(sorted(p.stem for p in Path(vizdoom.scenarios_path).glob("*.cfg")))


def stick_to_native(action: np.ndarray) -> list[float]:
    """The delta-button values for one validated 21-vector (dead zone, rescale, speed)."""
    # Plain floats: for three values this is several times faster than numpy, once per tic.
    axes = action[AXIS_SLICE].tolist()
    out = []
    for offset, scale in _AXES:
        value = axes[offset]
        magnitude = (abs(value) - STICK_DEADZONE) / (1.0 - STICK_DEADZONE)
        out.append(0.0 if magnitude <= 0.0 else math.copysign(min(magnitude, 1.0) * scale, value))
    return out


def new_game(task: Task, seed: int = 0) -> Any:
    """An initialised vizdoom.DoomGame configured for a task, as the adapter and benchmark use it."""
    import vizdoom as vzd

    names = scenario_names()
    if task.scenario not in names:
        raise ValueError(f"task {task.id}: unknown vizdoom scenario {task.scenario!r}; valid: {', '.join(names)}")
    skill = task.option("doom_skill")
    if skill is not None and not (isinstance(skill, int) and MIN_SKILL <= skill <= MAX_SKILL):
        raise ValueError(
            f"task {task.id}: option doom_skill must be an int in [{MIN_SKILL}, {MAX_SKILL}], got {skill!r}"
        )
    doom_map = task.option("doom_map")
    if doom_map is not None and not (isinstance(doom_map, str) and MAP_NAME.fullmatch(doom_map)):
        raise ValueError(f"task {task.id}: option doom_map must be a map name like 'E1M1' or 'MAP01', got {doom_map!r}")

    game = vzd.DoomGame()
    game.load_config(str(Path(vzd.scenarios_path) / f"{task.scenario}.cfg"))
    game.set_window_visible(False)
    game.set_mode(vzd.Mode.PLAYER)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_screen_resolution(getattr(vzd.ScreenResolution, f"RES_{SCREEN_WIDTH}X{SCREEN_HEIGHT}"))
    game.set_sound_enabled(False)
    game.set_audio_buffer_enabled(False)
    game.set_depth_buffer_enabled(False)
    game.set_labels_buffer_enabled(False)
    game.set_automap_buffer_enabled(False)
    game.set_objects_info_enabled(bool(task.option("doom_objects", False)))
    game.set_sectors_info_enabled(bool(task.option("doom_walls", False)))
    game.set_available_buttons([getattr(vzd.Button, b) for b in NATIVE_BUTTONS])
    game.set_available_game_variables([getattr(vzd.GameVariable, v) for v in GAME_VARIABLES])
    # padflow's env enforces the task's time limit; the scenario's own timeout would end earlier.
    game.set_episode_timeout(0)
    if skill is not None:
        game.set_doom_skill(skill)
    if doom_map is not None:
        game.set_doom_map(doom_map)
    game.set_seed(seed)
    game.init()
    return game


class Adapter:
    """vizdoom behind the EngineAdapter protocol: one step = one Doom tic."""

    fps = FPS
    frame_shape = (SCREEN_HEIGHT, SCREEN_WIDTH, 3)

    def __init__(self, task: Task):
        self.task = task
        self._objects = bool(task.option("doom_objects", False))
        self._walls = bool(task.option("doom_walls", False))
        self._game = new_game(task)
        self._frame = np.zeros(self.frame_shape, dtype=np.uint8)
        self._tic = 0
        self._heals = 0
        self._state: DoomState | None = None

    def reset(self, seed: int) -> tuple[np.ndarray, DoomState]:
        self._game.set_seed(seed)
        self._game.new_episode()
        self._tic = 0
        self._heals = 0
        self._state = None
        self._read(with_walls=self._walls)
        return self._frame, self._state

    def step(self, action: np.ndarray) -> tuple[np.ndarray, DoomState, list[float], bool]:
        native = action[_BUTTON_IDX].tolist()
        native.extend(stick_to_native(action))
        self._game.make_action(native, FRAME_SKIP)
        self._tic += FRAME_SKIP
        self._read(with_walls=False)
        return self._frame, self._state, native, self._game.is_episode_finished()

    def close(self) -> None:
        self._game.close()

    def _read(self, with_walls: bool) -> None:
        game_state = self._game.get_state()
        if game_state is None:
            # The episode ended this tic (death, or the scenario's goal): no new screen, but the
            # game variables still hold the final values the predicates need.
            import vizdoom as vzd

            values = [self._game.get_game_variable(getattr(vzd.GameVariable, v)) for v in GAME_VARIABLES]
            raw_objects = None
        else:
            self._frame = game_state.screen_buffer
            values = game_state.game_variables.tolist()
            raw_objects = game_state.objects if self._objects else None
        walls = _walls(game_state) if with_walls and game_state is not None else ()
        health, armor, kills, items, hits, ammo, x, y, z, angle, dead = values
        if self._state is not None and health > self._state.health:
            self._heals += 1
        self._state = DoomState(
            tic=self._tic, health=health, armor=armor, kills=int(kills), items=int(items), hits=int(hits),
            heals=self._heals, ammo=int(ammo), x=x, y=y, z=z, angle=angle % 360.0, dead=bool(dead),
            raw_objects=raw_objects, walls=walls,
        )  # fmt: skip


def _walls(game_state: Any) -> tuple[tuple[float, float, float, float], ...]:
    # Two-sided lines appear once per sector they bound; keep each segment once.
    seen = {(ln.x1, ln.y1, ln.x2, ln.y2) for sector in game_state.sectors for ln in sector.lines if ln.is_blocking}
    return tuple(sorted(seen))

