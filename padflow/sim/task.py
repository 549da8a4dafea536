"""What a task is: a game scenario plus a success predicate read from game state, never pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Category = Literal["combat", "navigation", "game-specific"]
Dim = Literal["2D", "3D"]
Engine = Literal["atari", "doom", "crafter"]

CATEGORIES: tuple[str, ...] = ("combat", "navigation", "game-specific")
DIMS: tuple[str, ...] = ("2D", "3D")
ENGINES: tuple[str, ...] = ("atari", "doom", "crafter")

# (state at episode start, state now) -> success. States are the engine's snapshot dataclass
# (AtariState, DoomState, CrafterState); a predicate must only read game state from them.
SuccessPredicate = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class Task:
    id: str  # unique, lower_snake_case, e.g. "pong_score_point"
    game: str  # the title, e.g. "pong", "doom", "crafter"
    engine: Engine
    scenario: str  # engine-specific: ALE rom id, vizdoom scenario name, crafter world
    category: Category
    dim: Dim
    time_limit_s: float  # seconds of game time (frames / engine fps) before truncation
    description: str  # one sentence a person reads in `padflow tasks`
    success: SuccessPredicate = field(repr=False, compare=False)
    # Engine-specific options for the adapter (e.g. doom difficulty); frozen by convention.
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"task {self.id}: category {self.category!r} not in {CATEGORIES}")
        if self.dim not in DIMS:
            raise ValueError(f"task {self.id}: dim {self.dim!r} not in {DIMS}")
        if self.engine not in ENGINES:
            raise ValueError(f"task {self.id}: engine {self.engine!r} not in {ENGINES}")
        if not self.time_limit_s > 0:
            raise ValueError(f"task {self.id}: time_limit_s must be > 0, got {self.time_limit_s}")

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    def summary(self, fps: float) -> dict[str, Any]:
        """The JSON-able row `padflow tasks --json` prints."""
        return {
            "id": self.id,
            "game": self.game,
            "engine": self.engine,
            "scenario": self.scenario,
            "category": self.category,
            "dim": self.dim,
            "time_limit_s": self.time_limit_s,
            "fps": fps,
            "description": self.description,
        }
