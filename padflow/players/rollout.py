"""Play episodes: one seeded episode, or many (task, player, seeds) jobs fanned out over workers."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from padflow.fanout import TaskRunnerConfig, fan_out
from padflow.players import DEFAULT_SKILL, Player, make_player
from padflow.sim.core import GamepadEnv
from padflow.sim.registry import get_task, make_env

# (frame shown to the player, action it chose) for every step; used to record videos.
FrameHook = Callable[[np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class EpisodeResult:
    task_id: str
    player: str
    seed: int
    success: bool
    frames: int  # steps taken
    game_seconds: float  # frames / env fps
    wall_seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def player_seed(seed: int) -> int:
    """The player's stream for an episode seed, distinct from the env's."""
    return int(np.random.SeedSequence([seed, 7]).generate_state(1)[0])


def run_episode(env: GamepadEnv, player: Player, seed: int, on_frame: FrameHook | None = None) -> EpisodeResult:
    """Play one episode to success, game over or the time limit."""
    start = time.perf_counter()
    frame, info = env.reset(seed=seed)
    player.reset(player_seed(seed))
    success, steps = False, 0
    while True:
        action = player.act(frame, info)
        if on_frame is not None:
            on_frame(frame, action)
        frame, _, terminated, truncated, info = env.step(action)
        steps += 1
        success = success or info["success"]
        if terminated or truncated:
            break
    return EpisodeResult(
        task_id=env.task.id,
        player=player.name,
        seed=seed,
        success=success,
        frames=steps,
        game_seconds=steps / env.fps,
        wall_seconds=time.perf_counter() - start,
    )


def play_episodes(task_id: str, player_kind: str, seeds: list[int], skill: str = DEFAULT_SKILL) -> list[EpisodeResult]:
    """Play one task with one player over the given seeds, in this process."""
    env = make_env(task_id)
    try:
        player = make_player(player_kind, env.task, env.fps, skill)
        return [run_episode(env, player, s) for s in seeds]
    finally:
        env.close()


def _play_job(job: tuple[str, str, list[int]], skill: str) -> list[EpisodeResult]:
    task_id, player_kind, seeds = job
    return play_episodes(task_id, player_kind, seeds, skill)


def play_many(
    jobs: list[tuple[str, str, list[int]]],
    workers: int = 1,
    skill: str = DEFAULT_SKILL,
    runner: TaskRunnerConfig = TaskRunnerConfig(),
) -> list[EpisodeResult]:
    """Run (task_id, player_kind, seeds) jobs with `fan_out` on `runner`, `workers` at a time; results in job order."""
    for task_id, _, _ in jobs:
        get_task(task_id)  # fail fast on an unknown id, before any worker starts
    done = fan_out(functools.partial(_play_job, skill=skill), jobs, name="suite", runner=runner, workers=workers,
                   labels=[f"{t}/{p}" for t, p, _ in jobs], unit="task × player jobs")
    return [r for results in done for r in results]
