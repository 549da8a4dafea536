"""The action-prior baseline: replays action chunks of the game's training data, never looking at the frame.

It answers "does the policy use the screen?" from the other side than the blind policy does: a
player that knows only which chunks the game's training videos hold (the gate's chunk index and
its action tables, padflow.tables.chunk_actions) and draws one uniformly at random each time it
replans, whatever the frame shows. A task this player clears as often as the policy is solvable by
the game's typical action pattern alone. It plays through `PolicyPlayer`, so it replans exactly
when the policy does (evaluate's `replan_every`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from padflow.actions import ACTION_DIM
from padflow.players.policy import PolicyPlayer
from padflow.tables import chunk_actions

PRIOR = "prior"  # the player name


class PriorSampler:
    """A ChunkSampler that ignores the frame: each call returns one of `chunks` (N, T, 21), drawn uniformly."""

    def __init__(self, chunks: np.ndarray):
        chunks = np.asarray(chunks, dtype=np.float32)
        if chunks.ndim != 3 or chunks.shape[2] != ACTION_DIM or len(chunks) == 0:
            raise ValueError(f"prior chunks: need a non-empty (N, T, {ACTION_DIM}) array, got shape {chunks.shape}")
        self.chunks = chunks
        self.rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def sample_chunk(self, frame: np.ndarray) -> np.ndarray:
        return self.chunks[self.rng.integers(len(self.chunks))]


def prior_player(chunks: np.ndarray, replan_every: int, name: str = PRIOR) -> PolicyPlayer:
    """The prior baseline over one game's training chunks, replanning every `replan_every` actions."""
    return PolicyPlayer(PriorSampler(chunks), replan_every, name)


def game_chunks(index: pd.DataFrame, root: Path, games: set[str] | None = None) -> Mapping[str, np.ndarray]:
    """game → (N, T, 21) training chunks of that game (the index's `game` column, T its chunk length); `games`
    limits which are read. A game without chunks in the index is absent from the result."""
    lengths = sorted({int(n) for n in index["frames"]})
    if len(lengths) != 1:
        raise ValueError(f"chunk index: chunks of {lengths} frames; the prior replays chunks of one length")
    wanted = index if games is None else index[index["game"].isin(sorted(games))]
    return {str(game): chunk_actions(rows.reset_index(drop=True), root, lengths[0])
            for game, rows in wanted.groupby("game", sort=True)}
