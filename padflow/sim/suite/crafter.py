"""Crafter tasks: short goals in a freshly generated 64x64 world, judged from CrafterState.

Predicates read achievements, inventory and positions (padflow.sim.engines.crafter.CrafterState),
never pixels. Time limits are in seconds of game time at 30 frames a second (5 world steps a
second): at least 20 s and about 1.5-3x what the scripted players need on their slowest of
seeds 0..19, so a wandering player rarely stumbles into success.
"""

from __future__ import annotations

import math

from padflow.sim.task import Task

TRAVEL_TILES = 12  # straight-line tiles from the start for crafter_travel_far


def _unlocked(achievement: str):
    """Success once Crafter's achievement has been unlocked more often than at the start."""

    def predicate(start, now) -> bool:
        return now.achievements[achievement] > start.achievements[achievement]

    return predicate


def _travelled(tiles: float):
    def predicate(start, now) -> bool:
        return math.dist(start.pos, now.pos) >= tiles

    return predicate


def _beside(material: str):
    """Success when the player stands on a tile that touches `material` (4-neighbourhood)."""

    def predicate(start, now) -> bool:
        x, y = now.pos
        return any(now.name_at((x + dx, y + dy)) == material for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)))

    return predicate


def _task(id_: str, category: str, time_limit_s: float, description: str, success) -> Task:
    return Task(
        id=id_,
        game="crafter",
        engine="crafter",
        scenario="default",
        category=category,
        dim="2D",
        time_limit_s=time_limit_s,
        description=description,
        success=success,
    )


TASKS: tuple[Task, ...] = (
    _task("crafter_eat_cow", "combat", 25.0,
          "Hunt down a cow and hit it until it is eaten.", _unlocked("eat_cow")),
    _task("crafter_defeat_zombie", "combat", 45.0,
          "Find a zombie on the grassland and beat it before it beats you.", _unlocked("defeat_zombie")),
    _task("crafter_defeat_skeleton", "combat", 40.0,
          "Go down into the dark tunnels and defeat a skeleton archer.", _unlocked("defeat_skeleton")),
    _task("crafter_drink_water", "navigation", 25.0,
          "Walk to the nearest lake and drink from it.", _unlocked("collect_drink")),
    _task("crafter_travel_far", "navigation", 20.0,
          f"Get at least {TRAVEL_TILES} tiles (straight line) away from where you started.",
          _travelled(TRAVEL_TILES)),
    _task("crafter_reach_stone", "navigation", 20.0,
          "Find the mountains: stand next to a stone tile.", _beside("stone")),
    _task("crafter_collect_wood", "game-specific", 20.0,
          "Walk to a tree and collect a piece of wood.", _unlocked("collect_wood")),
    _task("crafter_place_table", "game-specific", 20.0,
          "Collect wood from two trees and place a crafting table.", _unlocked("place_table")),
    _task("crafter_make_wood_pickaxe", "game-specific", 40.0,
          "Collect wood, place a crafting table and make a wood pickaxe at it.", _unlocked("make_wood_pickaxe")),
)  # fmt: skip
