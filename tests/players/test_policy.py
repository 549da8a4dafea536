"""The policy player over a stand-in sampler: chunks, replanning, seeding, timing."""

from __future__ import annotations

import numpy as np
import pytest

from padflow.players.policy import PolicyPlayer


class CountingSampler:
    """Chunk k of an episode holds the value seed * 1000 + k in every slot (T = 4)."""

    def __init__(self) -> None:
        self.seed, self.k = 0, 0

    def reset(self, seed: int) -> None:
        self.seed, self.k = seed, 0

    def sample_chunk(self, frame: np.ndarray) -> np.ndarray:
        chunk = np.full((4, 21), self.seed * 1000 + self.k, np.float32)
        chunk[:, 0] += np.arange(4) / 10
        self.k += 1
        return chunk


def test_plays_the_first_replan_every_actions_of_each_chunk() -> None:
    player = PolicyPlayer(CountingSampler(), replan_every=3, name="policy_euler4")
    frame = np.zeros((8, 8, 3), np.uint8)
    player.reset(2)
    played = [player.act(frame, {}) for _ in range(7)]
    assert [a[1] for a in played] == [2000, 2000, 2000, 2001, 2001, 2001, 2002]
    assert [round(float(a[0]) % 1, 1) for a in played] == [0.0, 0.1, 0.2, 0.0, 0.1, 0.2, 0.0]
    assert player.calls == 3 and player.seconds >= 0 and player.name == "policy_euler4"
    player.reset(5)  # a new episode samples afresh from its own seed
    assert player.act(frame, {})[1] == 5000


def test_a_chunk_shorter_than_the_replanning_interval_is_refused() -> None:
    player = PolicyPlayer(CountingSampler(), replan_every=6)
    player.reset(0)
    with pytest.raises(ValueError, match=r"shape \(4, 21\).*replanning every 6 steps"):
        player.act(np.zeros((8, 8, 3), np.uint8), {})
