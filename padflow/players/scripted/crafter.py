"""Scripted Crafter players: breadth-first paths over the semantic map, played on a gamepad.

Each player reads CrafterState, picks the nearest target of the kind its task needs (by walking
distance), and moves the way a person does on a grid with a pad and a reaction delay:

- a long straight stretch: hold the left stick; let go while `HOLD_RUN_TILES` tiles are still
  ahead, because moves already "in the thumb" keep coming for a reaction time, then wait until
  the world shows a step with no move (`noop`) before going on;
- the last few tiles, turning to face a target, placing and crafting: one human-length tap
  (`TAP_FRAMES`), then wait until the world shows that action before the next tap (or give up
  after a reaction time plus two ticks: the press was fumbled or lost in an idle pause);
- hitting a tree, creature or lake: hold SOUTH, which repeats "do" every tick.

Crafting holds its layer trigger for `MODIFIER_LEAD_FRAMES` before the face button, as thumbs
do, so the face button never lands in the wrong layer.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from padflow.players.base import ScriptedPlayer
from padflow.players.human import NEUTRAL, Intent
from padflow.sim.engines.crafter import CONTROLS, MOVES, SEMANTIC_IDS, TICK_FRAMES, WALKABLE, CrafterState
from padflow.sim.suite.crafter import TRAVEL_TILES

HOLD_RUN_TILES = 3  # hold the stick only while at least this many straight tiles lie ahead
TAP_FRAMES = 4  # a deliberate tap, frames (133 ms at 30 fps); shorter than a tick, so it never repeats
MODIFIER_LEAD_FRAMES = 2  # frames a layer trigger is held before the face button goes down
STICK_AIM_ERROR_RAD = 0.4  # std of the stick's push angle per unit of skill.aim_noise
TABLE_WOOD = 2  # wood a crafting table costs (crafter/data.yaml)
PICKAXE_WOOD = 1  # wood a wood pickaxe costs at a table

_DIRECTIONS: tuple[tuple[int, int], ...] = ((1, 0), (-1, 0), (0, 1), (0, -1))
_MOVE_OF: dict[tuple[int, int], str] = {step: move for move, step in MOVES.items()}
_WALKABLE_IDS = np.array(sorted(SEMANTIC_IDS[name] for name in WALKABLE))
# Arrows fly on by within a tick or two, so paths may lead through them.
_PASSABLE_IDS = np.array(sorted([*_WALKABLE_IDS, SEMANTIC_IDS["arrow"]]))


@dataclass(frozen=True)
class Plan:
    """What the player wants the world to do next."""

    kind: Literal["walk", "tap", "hold_do", "idle"]
    action: str = "noop"  # crafter action for "walk" (a move) and "tap"
    run: int = 0  # straight tiles ahead on the path, for "walk"
    into_target: bool = False  # the straight run ends against the target, which stops the walk


def _ids(*names: str) -> np.ndarray:
    return np.array([SEMANTIC_IDS[n] for n in names])


def _neighbours_of(mask: np.ndarray) -> np.ndarray:
    """Tiles 4-adjacent to any True tile of `mask`."""
    out = np.zeros_like(mask)
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def shortest_path(state: CrafterState, goal: np.ndarray) -> list[tuple[int, int]] | None:
    """Tiles to walk from the player to the nearest goal tile (empty if already on one), or None."""
    start = state.pos
    if goal[start]:
        return []
    free = np.isin(state.semantic, _PASSABLE_IDS)
    width, height = free.shape
    parent: dict[tuple[int, int], tuple[int, int]] = {start: start}
    queue = deque([start])
    while queue:
        x, y = tile = queue.popleft()
        for dx, dy in _DIRECTIONS:
            nxt = (x + dx, y + dy)
            if not (0 <= nxt[0] < width and 0 <= nxt[1] < height) or nxt in parent or not free[nxt]:
                continue
            parent[nxt] = tile
            if goal[nxt]:
                path = [nxt]
                while parent[path[-1]] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            queue.append(nxt)
    return None


def walk_plan(state: CrafterState, path: list[tuple[int, int]], targets: np.ndarray | None = None) -> Plan:
    """The first step of a non-empty path, with how many steps go the same way."""
    x, y = state.pos
    step = (path[0][0] - x, path[0][1] - y)
    run = 1
    while run < len(path) and (path[run][0] - path[run - 1][0], path[run][1] - path[run - 1][1]) == step:
        run += 1
    beyond = (path[-1][0] + step[0], path[-1][1] + step[1])
    into_target = (
        targets is not None and run == len(path)
        and 0 <= beyond[0] < targets.shape[0] and 0 <= beyond[1] < targets.shape[1] and bool(targets[beyond])
    )
    return Plan("walk", _MOVE_OF[step], run, into_target)


def approach(state: CrafterState, target_ids: np.ndarray) -> Plan | None:
    """Walk next to the nearest target tile, turn to face it, then hold "do"; None if unreachable."""
    targets = np.isin(state.semantic, target_ids)
    x, y = state.pos
    beside = [(dx, dy) for dx, dy in _DIRECTIONS if state.semantic.shape[0] > x + dx >= 0
              and state.semantic.shape[1] > y + dy >= 0 and targets[x + dx, y + dy]]
    if beside:
        if state.facing in beside:
            return Plan("hold_do")
        return Plan("tap", _MOVE_OF[beside[0]])  # the target blocks the tile, so this only turns
    path = shortest_path(state, _neighbours_of(targets) & np.isin(state.semantic, _WALKABLE_IDS))
    return None if path is None else walk_plan(state, path, targets)


class CrafterPlayer(ScriptedPlayer):
    """Turns each frame's Plan into gamepad intents, with the timing described in the module doc."""

    def on_reset(self) -> None:
        self._frame = 0
        self._start: tuple[int, int] | None = None
        self._plan_tick = -1
        self._plan = Plan("idle")
        self._awaited: str | None = None  # action the world must show before the next decision
        self._await_from_tick = 0
        self._await_until_frame = 0
        self._tap: tuple[tuple[str, ...], int] = ((), 0)  # (buttons, first frame of the press)
        self._stick: tuple[float, float] | None = None  # held stick target while walking
        self._stick_move = ""
        self._stick_stops_itself = False  # the held stick pushes into the target, so cannot overshoot
        self._wander_goal: tuple[int, int] | None = None

    def decide(self, state: CrafterState) -> Intent:
        self._frame += 1
        if self._start is None:
            self._start = state.pos
        if self._awaited is not None:
            seen = state.tick > self._await_from_tick and state.last_action == self._awaited
            if not seen and self._frame < self._await_until_frame:
                return self._tap_intent()
            self._awaited = None
        if state.tick != self._plan_tick:
            self._plan_tick = state.tick
            self._plan = self.plan(state) or self._wander(state)
        plan = self._plan

        if plan.kind == "walk" and (plan.run >= HOLD_RUN_TILES or plan.into_target):
            if self._stick is None or self._stick_move != plan.action:
                self._stick, self._stick_move = self._aimed_stick(plan.action), plan.action
            self._stick_stops_itself = plan.into_target
            return Intent(left=self._stick)
        if self._stick is not None:
            self._stick = None
            if not self._stick_stops_itself:
                # Let go and wait until the world stops moving before the careful part.
                return self._await("noop", ())
        if plan.kind == "hold_do":
            return Intent.of(*CONTROLS["do"])
        if plan.kind in ("walk", "tap"):
            return self._await(plan.action, CONTROLS[plan.action])
        return NEUTRAL

    def plan(self, state: CrafterState) -> Plan | None:
        """The task's next step; None when nothing useful is reachable (the player then wanders)."""
        raise NotImplementedError(f"{type(self).__name__} must implement plan(state)")

    def _await(self, action: str, buttons: tuple[str, ...]) -> Intent:
        self._awaited = action
        self._await_from_tick = self._plan_tick
        self._await_until_frame = self._frame + self.skill.reaction_frames[1] + 2 * TICK_FRAMES + TAP_FRAMES
        lead = MODIFIER_LEAD_FRAMES if len(buttons) > 1 else 0
        self._await_until_frame += lead
        self._tap = (buttons, self._frame + lead)
        return self._tap_intent()

    def _tap_intent(self) -> Intent:
        buttons, press_frame = self._tap
        if not buttons:
            return NEUTRAL
        *modifiers, button = buttons
        if press_frame <= self._frame < press_frame + TAP_FRAMES:
            return Intent.of(*modifiers, button)
        return Intent.of(*modifiers)  # the layer trigger stays down until the action shows

    def _aimed_stick(self, move: str) -> tuple[float, float]:
        dx, dy = MOVES[move]
        angle = math.atan2(-dy, dx) + self.rng.normal(0.0, self.skill.aim_noise * STICK_AIM_ERROR_RAD)
        return math.cos(angle), math.sin(angle)

    def _wander(self, state: CrafterState) -> Plan:
        """Head for a random walkable tile, so a player with no target in reach still looks around."""
        semantic = state.semantic
        if self._wander_goal is None or self._wander_goal == state.pos:
            free = np.argwhere(np.isin(semantic, _WALKABLE_IDS))
            self._wander_goal = tuple(int(v) for v in free[self.rng.integers(len(free))])
        goal = np.zeros(semantic.shape, dtype=bool)
        goal[self._wander_goal] = True
        path = shortest_path(state, goal)
        if not path:
            self._wander_goal = None
            return Plan("idle")
        return walk_plan(state, path)


def _facing_placeable(state: CrafterState) -> bool:
    return state.name_at(state.facing_tile) in WALKABLE


def _table_nearby(state: CrafterState) -> bool:
    """A table in the 3x3 square around the player, where Crafter lets you craft."""
    x, y = state.pos
    return bool((state.semantic[max(x - 1, 0): x + 2, max(y - 1, 0): y + 2] == SEMANTIC_IDS["table"]).any())


class _Approach(CrafterPlayer):
    """Walk to the nearest target of `targets`, face it and hold "do"."""

    targets: tuple[str, ...] = ()

    def plan(self, state: CrafterState) -> Plan | None:
        return approach(state, _ids(*self.targets))


class EatCow(_Approach):
    targets = ("cow",)


class DefeatZombie(_Approach):
    targets = ("zombie",)


class DefeatSkeleton(_Approach):
    targets = ("skeleton",)


class DrinkWater(_Approach):
    targets = ("water",)


class ReachStone(_Approach):
    targets = ("stone",)


class CollectWood(_Approach):
    targets = ("tree",)


class TravelFar(CrafterPlayer):
    """Walk to the nearest tile at least TRAVEL_TILES from the start (and a little more)."""

    def plan(self, state: CrafterState) -> Plan | None:
        xs, ys = np.indices(state.semantic.shape)
        far = np.hypot(xs - self._start[0], ys - self._start[1]) >= TRAVEL_TILES + 1
        path = shortest_path(state, far & np.isin(state.semantic, _WALKABLE_IDS))
        return None if not path else walk_plan(state, path)


class PlaceTable(CrafterPlayer):
    """Collect wood until a table is affordable, then place it on the tile in front."""

    def plan(self, state: CrafterState) -> Plan | None:
        if state.inventory["wood"] < TABLE_WOOD:
            return approach(state, _ids("tree"))
        return _place_table(state)


class MakeWoodPickaxe(CrafterPlayer):
    """Collect wood for a table and a pickaxe, place the table, craft beside it."""

    def plan(self, state: CrafterState) -> Plan | None:
        wood = state.inventory["wood"]
        if _table_nearby(state) and wood >= PICKAXE_WOOD:
            return Plan("tap", "make_wood_pickaxe")
        has_table = bool((state.semantic == SEMANTIC_IDS["table"]).any())
        if has_table and wood >= PICKAXE_WOOD:
            return approach(state, _ids("table"))
        if not has_table and wood >= TABLE_WOOD + PICKAXE_WOOD:
            return _place_table(state)
        return approach(state, _ids("tree"))


def _place_table(state: CrafterState) -> Plan | None:
    if _facing_placeable(state):
        return Plan("tap", "place_table")
    x, y = state.pos
    for dx, dy in _DIRECTIONS:
        if state.name_at((x + dx, y + dy)) in WALKABLE:
            return Plan("tap", _MOVE_OF[dx, dy])  # step there: the tile beyond may take the table
    return None


SCRIPTED: dict[str, type[ScriptedPlayer]] = {
    "crafter_eat_cow": EatCow,
    "crafter_defeat_zombie": DefeatZombie,
    "crafter_defeat_skeleton": DefeatSkeleton,
    "crafter_drink_water": DrinkWater,
    "crafter_travel_far": TravelFar,
    "crafter_reach_stone": ReachStone,
    "crafter_collect_wood": CollectWood,
    "crafter_place_table": PlaceTable,
    "crafter_make_wood_pickaxe": MakeWoodPickaxe,
}
