"""Rollouts: seeded episodes, and play_many's jobs fanned out on a runner with the same results."""

from __future__ import annotations

import pytest

from padflow.fanout import TaskRunnerConfig
from padflow.players.rollout import play_many, player_seed


def outcome(results) -> list[tuple]:
    return [(r.task_id, r.player, r.seed, r.success, r.frames) for r in results]


def test_play_many_gives_the_same_episodes_inline_and_on_threads() -> None:
    jobs = [("doom_basic_first_shot", "scripted", [0, 1]), ("doom_basic_first_shot", "noop", [0])]
    inline = play_many(jobs, workers=1)
    threads = play_many(jobs, workers=2, runner=TaskRunnerConfig(kind="thread"))
    assert outcome(inline) == outcome(threads)
    assert [(r.player, r.seed) for r in inline] == [("scripted", 0), ("scripted", 1), ("noop", 0)]  # job order
    assert inline[0].success and not inline[2].success


def test_an_unknown_task_fails_before_any_episode() -> None:
    with pytest.raises(ValueError, match="unknown task id 'nope'"):
        play_many([("doom_basic_first_shot", "noop", [0]), ("nope", "noop", [0])], workers=2)


def test_the_player_stream_differs_from_the_env_seed() -> None:
    assert player_seed(0) != 0 and player_seed(0) == player_seed(0) and player_seed(1) != player_seed(0)
