"""Doom and Freedoom tasks on vizdoom's bundled scenarios; success is read from game variables and positions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from padflow.sim.task import Task

TIC_RATE = 35  # Doom tics per second: survival times below are counted in game time

Predicate = Callable[[Any, Any], bool]


def kills_at_least(n: int) -> Predicate:
    def success(start, now) -> bool:
        return now.kills - start.kills >= n

    return success


def killed_within_shots(kills: int, shots: int) -> Predicate:
    """At least `kills` kills spending at most `shots` rounds of the selected weapon."""

    def success(start, now) -> bool:
        return now.kills - start.kills >= kills and start.ammo - now.ammo <= shots

    return success


def hits_at_least(n: int) -> Predicate:
    """The player's own shots landed `n` times (monsters killing each other do not count)."""

    def success(start, now) -> bool:
        return now.hits - start.hits >= n

    return success


def survived(seconds: float, min_health: float = 0.0) -> Predicate:
    """Alive after `seconds` of game time, with more than `min_health` health left."""
    tics = round(seconds * TIC_RATE)

    def success(start, now) -> bool:
        return now.tic - start.tic >= tics and not now.dead and now.health > min_health

    return success


def heals_at_least(n: int) -> Predicate:
    def success(start, now) -> bool:
        return now.heals - start.heals >= n and not now.dead

    return success


def picked_up_armor(start, now) -> bool:
    return now.armor > start.armor


def advanced_x(units: float) -> Predicate:
    """Alive and at least `units` map units further along +x than the start."""

    def success(start, now) -> bool:
        return now.x - start.x >= units and not now.dead

    return success


def moved_away(units: float) -> Predicate:
    """Alive and at least `units` map units (straight line) from where the episode started."""

    def success(start, now) -> bool:
        return (now.x - start.x) ** 2 + (now.y - start.y) ** 2 >= units * units and not now.dead

    return success


def _doom(
    id: str,
    scenario: str,
    category: str,
    time_limit_s: float,
    description: str,
    success: Predicate,
    game: str = "doom",
    **options: Any,
) -> Task:
    return Task(
        id=id, game=game, engine="doom", scenario=scenario, category=category, dim="3D",
        time_limit_s=time_limit_s, description=description, success=success, options=tuple(sorted(options.items())),
    )  # fmt: skip


TASKS: tuple[Task, ...] = (
    # combat
    _doom("doom_basic_first_shot", "basic", "combat", 10.0,
          "Line up the Cacodemon across the room and kill it with your first pistol shot.",
          killed_within_shots(1, 1), doom_objects=True),
    _doom("doom_defend_center_kill5", "defend_the_center", "combat", 30.0,
          "Stand in the middle of a round arena, turn toward charging monsters and kill 5.",
          kills_at_least(5), doom_objects=True),
    _doom("doom_defend_line_shoot5", "defend_the_line", "combat", 30.0,
          "Hold the line: shoot down 5 of the monsters that keep coming from the far wall.",
          hits_at_least(5), doom_objects=True),
    _doom("doom_predict_position_hit", "predict_position", "combat", 10.0,
          "Lead the moving Cacodemon and hit it with the single rocket.",
          kills_at_least(1), doom_objects=True),
    # navigation
    _doom("doom_my_way_home", "my_way_home", "navigation", 45.0,
          "Find the way through the maze of rooms to the green armor and pick it up.",
          picked_up_armor, doom_objects=True, doom_walls=True),
    _doom("doom_health_gathering_medkits", "health_gathering", "navigation", 30.0,
          "Run across the acid floor and pick up 5 medkits.",
          heals_at_least(5), doom_objects=True),
    _doom("doom_corridor_advance", "deadly_corridor", "navigation", 25.0,
          "Run down the deadly corridor past the gunmen and get 1000 units in, alive.",
          advanced_x(1000.0), doom_objects=True, doom_skill=1),
    # game-specific
    _doom("doom_defend_center_survive", "defend_the_center", "game-specific", 32.0,
          "Survive 30 s in the center of the arena while monsters close in.",
          survived(30.0), doom_objects=True),
    _doom("doom_take_cover_survive", "take_cover", "game-specific", 14.0,
          "Keep running side to side so the imps' fireballs miss, and stay alive for 12 s.",
          survived(12.0), doom_walls=True, doom_skill=2),
    _doom("doom_health_gathering_survive", "health_gathering", "game-specific", 22.0,
          "Keep your health up on the acid floor: be alive after 20 s with more than 50 health.",
          survived(20.0, min_health=50.0), doom_objects=True),
    # Freedoom: full maps of a different game, played through the same engine and pad mapping.
    _doom("freedoom_e1m1_advance", "freedoom1", "navigation", 30.0,
          "Make your way across Freedoom's E1M1 and get 1440 map units (straight line) from the start, alive.",
          moved_away(1440.0), game="freedoom", doom_map="E1M1", doom_objects=True, doom_walls=True),
    _doom("freedoom_map01_first_kill", "freedoom2", "combat", 30.0,
          "Head down Freedoom's MAP01 first corridor and kill the first monster you meet.",
          kills_at_least(1), game="freedoom", doom_map="MAP01", doom_objects=True, doom_walls=True),
)
