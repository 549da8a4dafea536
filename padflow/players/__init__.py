"""Who holds the gamepad: scripted experts (one per task), a uniform random player, a no-op."""

from __future__ import annotations

import importlib

from padflow.players.base import NoopPlayer, Player, RandomPlayer, ScriptedPlayer
from padflow.players.human import DEFAULT_SKILL, SKILLS, HumanizedGamepad, Intent, Skill, get_skill
from padflow.sim.task import Task

PLAYER_KINDS: tuple[str, ...] = ("scripted", "random", "noop")


def scripted_player_class(task: Task) -> type[ScriptedPlayer]:
    """The scripted expert registered for a task in padflow.players.scripted.<engine>."""
    module = importlib.import_module(f"padflow.players.scripted.{task.engine}")
    try:
        return module.SCRIPTED[task.id]
    except KeyError:
        raise ValueError(f"task {task.id!r} has no scripted player in {module.__name__}") from None


def make_player(kind: str, task: Task, fps: float, skill: str | Skill = DEFAULT_SKILL) -> Player:
    """Build a player by kind; `skill` (a preset name or a Skill) only affects scripted players."""
    if kind == "noop":
        return NoopPlayer()
    if kind == "random":
        return RandomPlayer()
    if kind == "scripted":
        chosen = get_skill(skill) if isinstance(skill, str) else skill
        return scripted_player_class(task)(task, chosen, fps)
    raise ValueError(f"unknown player {kind!r}; valid: {', '.join(PLAYER_KINDS)}")


__all__ = [
    "DEFAULT_SKILL", "PLAYER_KINDS", "SKILLS", "HumanizedGamepad", "Intent", "NoopPlayer",
    "Player", "RandomPlayer", "ScriptedPlayer", "Skill", "get_skill", "make_player",
    "scripted_player_class",
]  # fmt: skip
