"""Crafter (2D open-world survival, the `crafter` package) driven by the unified gamepad.

Frame rate: Crafter is turn-based, so it has no clock of its own. padflow shows a `FPS` = 30.0
stream and advances the world once every `TICK_FRAMES` = 6 frames, i.e. 5 world steps a second:
about the pace of a person walking a grid with a d-pad, and Crafter's day (300 steps) lasts a
minute. Between ticks the last rendered frame is shown again, so those frames cost almost nothing.
Frames are `FRAME_SIZE` = 192 pixels square (21-pixel tiles): crafter renders about 420 world
steps a second at 192 against 240 at 256 on a 2-core machine, and a policy resizes frames anyway.

Controls (one Crafter action per tick):

====================  ==========================  =========================================
button                alone                       with RIGHT_TRIGGER / LEFT_TRIGGER held
====================  ==========================  =========================================
d-pad / left stick    move (and face) that way    same
SOUTH (A / cross)     do: collect, attack, drink  same
WEST (X / square)     place_table                 make_wood_pickaxe / make_wood_sword
NORTH (Y / triangle)  place_stone                 make_stone_pickaxe / make_stone_sword
EAST (B / circle)     place_furnace               make_iron_pickaxe / make_iron_sword
LEFT_SHOULDER         place_plant                 same
RIGHT_SHOULDER        sleep                       same
====================  ==========================  =========================================

West, north and east stand for the wood, stone and iron tiers; RIGHT_TRIGGER is the tools
layer and wins when both triggers are held. The left stick moves along its dominant axis once
it is past `STICK_DEADZONE`; a held d-pad overrides the stick. Other buttons and the right stick
do nothing.

What a tick applies, first match wins:

1. the first button press (rising edge) since the previous tick, in the layer held when it was
   pressed — a tap that starts and ends between two ticks still acts; presses in the same frame
   go in `BUTTONS` order, and later presses in the same window are dropped (one action a tick);
2. movement from the d-pad or stick as held at the tick, so a held stick walks continuously;
3. a button still held from before the previous tick repeats its action (hold SOUTH to keep
   hitting), as a held key repeats in Crafter's own viewer;
4. noop.

Crafter's world runs without its own episode limit (`length=None`); padflow's task time limit
truncates episodes, and dying ends one. Episodes are repeatable: the same seed and gamepad
inputs give the same frames (crafter's creature balancing is made order-stable for this, see
`_deterministic_env_class`). Generating a world costs about a second of Python, so each process
keeps the last `WORLD_CACHE_SIZE` freshly generated worlds and starts an episode from a copy.
"""

from __future__ import annotations

import copy
import functools
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from padflow.actions import AXIS_INDEX, BUTTON_INDEX, BUTTONS
from padflow.sim.task import Task

FPS = 30.0  # frames per second in the stream the agent sees
TICK_FRAMES = 6  # frames per world step: 30 / 6 = 5 steps a second
FRAME_SIZE = 192  # pixels, square; Crafter renders a 9x9-tile view (7 rows of world, 2 of items)
STICK_DEADZONE = 0.5  # dominant stick axis must exceed this deflection to move
WORLD_AREAS: dict[str, tuple[int, int]] = {"default": (64, 64)}  # task.scenario → tiles (x, y)
WORLD_CACHE_SIZE = 64  # freshly generated worlds kept per process (each well under 1 MB)

# Crafter's semantic map: materials (crafter/data.yaml order after "unknown"), then creatures in
# the order crafter.Env registers them. The adapter checks this against the installed crafter.
SEMANTIC_NAMES: tuple[str, ...] = (
    "unknown", "water", "grass", "stone", "path", "sand", "tree", "lava", "coal", "iron", "diamond",
    "table", "furnace", "player", "cow", "zombie", "skeleton", "arrow", "plant",
)  # fmt: skip
SEMANTIC_IDS: dict[str, int] = {name: i for i, name in enumerate(SEMANTIC_NAMES)}
WALKABLE: frozenset[str] = frozenset({"grass", "sand", "path"})  # lava is walkable but deadly

MOVES: dict[str, tuple[int, int]] = {  # action → world step (x right, y down)
    "move_left": (-1, 0), "move_right": (1, 0), "move_up": (0, -1), "move_down": (0, 1),
}  # fmt: skip
_DPAD_MOVES: dict[str, str] = {
    "DPAD_UP": "move_up", "DPAD_DOWN": "move_down", "DPAD_LEFT": "move_left", "DPAD_RIGHT": "move_right",
}  # fmt: skip
_BASE_LAYER: dict[str, str] = {
    "SOUTH": "do", "WEST": "place_table", "NORTH": "place_stone", "EAST": "place_furnace",
    "LEFT_SHOULDER": "place_plant", "RIGHT_SHOULDER": "sleep",
}  # fmt: skip
_TOOLS_LAYER: dict[str, str] = {
    **_BASE_LAYER, "WEST": "make_wood_pickaxe", "NORTH": "make_stone_pickaxe", "EAST": "make_iron_pickaxe",
}  # fmt: skip
_WEAPONS_LAYER: dict[str, str] = {
    **_BASE_LAYER, "WEST": "make_wood_sword", "NORTH": "make_stone_sword", "EAST": "make_iron_sword",
}  # fmt: skip
# Crafter action → the buttons that trigger it, layer trigger first (what a player presses).
CONTROLS: dict[str, tuple[str, ...]] = {
    **{move: (button,) for button, move in _DPAD_MOVES.items()},
    **{action: (button,) for button, action in _BASE_LAYER.items()},
    **{action: (trigger, button)
       for trigger, layer in (("RIGHT_TRIGGER", _TOOLS_LAYER), ("LEFT_TRIGGER", _WEAPONS_LAYER))
       for button, action in layer.items() if action.startswith("make_")},
}
# Buttons that act, in BUTTONS order (the tie-break for presses in the same frame).
_ACTING_BUTTONS: tuple[str, ...] = tuple(b for b in BUTTONS if b in _BASE_LAYER or b in _DPAD_MOVES)
_ACTING_INDEX = np.array([BUTTON_INDEX[b] for b in _ACTING_BUTTONS])
_RIGHT_TRIGGER, _LEFT_TRIGGER = BUTTON_INDEX["RIGHT_TRIGGER"], BUTTON_INDEX["LEFT_TRIGGER"]
_DPAD_INDEX = {BUTTON_INDEX[b]: move for b, move in _DPAD_MOVES.items()}
_LEFT_X, _LEFT_Y = AXIS_INDEX["LEFT_X"], AXIS_INDEX["LEFT_Y"]


@dataclass(frozen=True, slots=True, eq=False)
class CrafterState:
    """The world after a step; task predicates and scripted players read only this."""

    frame: np.ndarray  # uint8 (H, W, 3) as rendered at the latest tick (read-only)
    tick: int  # world steps since reset
    last_action: str  # Crafter action applied at the latest tick ("noop" right after reset)
    achievements: Mapping[str, int]  # Crafter achievement → times unlocked this episode
    inventory: Mapping[str, int]  # item → count; health, food, drink, energy are here too (0..9)
    pos: tuple[int, int]  # player tile (x right, y down); index `semantic[x, y]`
    facing: tuple[int, int]  # unit step the player faces; "do" and "place_*" act on pos + facing
    sleeping: bool
    daylight: float  # 0 (night) .. 1 (day)
    semantic: np.ndarray  # uint8 (area_x, area_y) of SEMANTIC_IDS: materials with creatures on top
    done: bool  # the player died

    @property
    def health(self) -> int:
        return self.inventory["health"]

    @property
    def facing_tile(self) -> tuple[int, int]:
        return self.pos[0] + self.facing[0], self.pos[1] + self.facing[1]

    def name_at(self, tile: tuple[int, int]) -> str:
        """What the semantic map shows at a tile ("unknown" outside the world)."""
        x, y = tile
        if not (0 <= x < self.semantic.shape[0] and 0 <= y < self.semantic.shape[1]):
            return "unknown"
        return SEMANTIC_NAMES[self.semantic[x, y]]


def _stick_move(x: float, y: float) -> str | None:
    """Left stick → move along its dominant axis (horizontal on a tie), or None inside the deadzone."""
    if max(abs(x), abs(y)) <= STICK_DEADZONE:
        return None
    if abs(x) >= abs(y):
        return "move_right" if x > 0 else "move_left"
    return "move_up" if y > 0 else "move_down"  # stick y is up; the world's y grows downward


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@functools.cache
def _deterministic_env_class(crafter_module: Any) -> type:
    """crafter.Env whose creature balancing visits each chunk's creatures in position order.

    crafter.Env keeps each chunk's creatures in a set and despawns a random member of it; set
    order follows memory addresses, so the same seed and actions could end differently from one
    process to the next. Visiting them in tile order (one creature per tile) makes it repeatable.
    """

    class DeterministicEnv(crafter_module.Env):
        def _balance_chunk(self, chunk, objs):
            super()._balance_chunk(chunk, sorted(objs, key=lambda obj: (int(obj.pos[0]), int(obj.pos[1]))))

    return DeterministicEnv


# (area, seed) → (env right after reset, its first frame), least recently used first.
_FRESH_WORLDS: OrderedDict[tuple[tuple[int, int], int], tuple[Any, np.ndarray]] = OrderedDict()


class Adapter:
    """One Crafter world (task.scenario in WORLD_AREAS) behind the unified gamepad."""

    fps = FPS
    frame_shape = (FRAME_SIZE, FRAME_SIZE, 3)

    def __init__(self, task: Task):
        import crafter  # imported here so listing tasks does not load the game

        if task.scenario not in WORLD_AREAS:
            raise ValueError(
                f"task {task.id}: unknown Crafter world {task.scenario!r}; valid: {', '.join(WORLD_AREAS)}"
            )
        self.task = task
        self._area = WORLD_AREAS[task.scenario]
        self._env_class = _deterministic_env_class(crafter)
        self._env: Any = None
        self._check_semantic_ids(self._new_env(seed=0))
        self._actions: tuple[str, ...] = tuple(crafter.constants.actions)
        self._action_index = {name: i for i, name in enumerate(self._actions)}
        self._reset_controls()

    def reset(self, seed: int) -> tuple[np.ndarray, CrafterState]:
        key = (self._area, seed)
        if key not in _FRESH_WORLDS:
            # A new env per seed: crafter seeds each world from (seed, episodes so far), so
            # resetting one env twice would make an episode depend on the ones before it.
            env = self._new_env(seed)
            _FRESH_WORLDS[key] = (env, _read_only(env.reset()))
            if len(_FRESH_WORLDS) > WORLD_CACHE_SIZE:
                _FRESH_WORLDS.popitem(last=False)
        _FRESH_WORLDS.move_to_end(key)
        fresh, frame = _FRESH_WORLDS[key]
        # Generating a world takes ~1 s of Python; a copy of the just-generated one takes ~20 ms
        # and plays out identically. The textures are read-only, so copies share them.
        self._env = copy.deepcopy(fresh, memo={id(fresh._textures): fresh._textures})
        self._reset_controls()
        # crafter's reset returns no info dict; build the same fields from its player and map.
        player = self._env._player
        info = {
            "achievements": dict(player.achievements),
            "inventory": dict(player.inventory),
            "semantic": self._env._sem_view(),
        }
        self._state = self._snapshot(frame, tick=0, last_action="noop", done=False, info=info)
        return frame, self._state

    def step(self, action: np.ndarray) -> tuple[np.ndarray, CrafterState, str | None, bool]:
        if self._env is None:
            raise RuntimeError(f"{self.task.id}: call reset() before step()")
        held = action[:len(BUTTONS)] > 0.5
        if self._pending is None:
            rising = held[_ACTING_INDEX] & ~self._held[_ACTING_INDEX]
            if rising.any():
                self._pending = self._button_action(_ACTING_BUTTONS[int(np.argmax(rising))], held)
        self._held = held
        self._frames_to_tick -= 1
        if self._frames_to_tick > 0:
            return self._state.frame, self._state, None, self._state.done

        name = self._pending or self._movement(action, held) or self._held_action(held) or "noop"
        self._pending = None
        self._frames_to_tick = TICK_FRAMES
        # Buttons held through this tick repeat at later ticks; new presses after it are latched.
        self._repeatable = held.copy()
        frame, _, done, info = self._env.step(self._action_index[name])
        self._state = self._snapshot(_read_only(frame), self._state.tick + 1, name, bool(done), info)
        return self._state.frame, self._state, name, self._state.done

    def close(self) -> None:
        self._env = None

    def _new_env(self, seed: int) -> Any:
        return self._env_class(area=self._area, size=(FRAME_SIZE, FRAME_SIZE), length=None, seed=seed)

    def _reset_controls(self) -> None:
        self._held = np.zeros(len(BUTTONS), dtype=bool)
        self._repeatable = np.zeros(len(BUTTONS), dtype=bool)
        self._pending: str | None = None
        self._frames_to_tick = TICK_FRAMES

    @staticmethod
    def _button_action(button: str, held: np.ndarray) -> str:
        if button in _DPAD_MOVES:
            return _DPAD_MOVES[button]
        if held[_RIGHT_TRIGGER]:
            return _TOOLS_LAYER[button]
        if held[_LEFT_TRIGGER]:
            return _WEAPONS_LAYER[button]
        return _BASE_LAYER[button]

    @staticmethod
    def _movement(action: np.ndarray, held: np.ndarray) -> str | None:
        for index, move in _DPAD_INDEX.items():
            if held[index]:
                return move
        return _stick_move(float(action[_LEFT_X]), float(action[_LEFT_Y]))

    def _held_action(self, held: np.ndarray) -> str | None:
        repeating = held[_ACTING_INDEX] & self._repeatable[_ACTING_INDEX]
        if not repeating.any():
            return None
        return self._button_action(_ACTING_BUTTONS[int(np.argmax(repeating))], held)

    def _check_semantic_ids(self, env: Any) -> None:
        # Crafter exposes the id tables only on private members; a mismatch means a crafter
        # release changed its map encoding and every predicate reading it would be wrong.
        installed = [None] * (max(env._sem_view._obj_ids.values()) + 1)
        for material, i in env._world._mat_ids.items():
            installed[i] = "unknown" if material is None else material
        for cls, i in env._sem_view._obj_ids.items():
            installed[i] = cls.__name__.lower()
        if tuple(installed) != SEMANTIC_NAMES:
            raise RuntimeError(f"installed crafter's semantic ids {installed} differ from SEMANTIC_NAMES")

    def _snapshot(self, frame: np.ndarray, tick: int, last_action: str, done: bool, info: dict) -> CrafterState:
        # Facing, sleep and daylight are not in crafter's info dict; they live on its player and world.
        player = self._env._player
        return CrafterState(
            frame=frame,
            tick=tick,
            last_action=last_action,
            achievements=MappingProxyType(info["achievements"]),
            inventory=MappingProxyType(info["inventory"]),
            pos=(int(player.pos[0]), int(player.pos[1])),
            facing=(int(player.facing[0]), int(player.facing[1])),
            sleeping=bool(player.sleeping),
            daylight=float(self._env._world.daylight),
            semantic=_read_only(info["semantic"]),
            done=done,
        )
