"""The prior baseline: chunks of the game's training tables, replayed whatever the frame shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from padflow.actions import ACTION_DIM
from padflow.players.prior import PRIOR, PriorSampler, game_chunks, prior_player
from padflow.tables import write_action_table, write_chunk_index

T = 4  # chunk length


def write_game(root: Path, game: str, frames: int, value: float) -> list[dict]:
    """A table whose row k holds `value` + k in every axis slot and presses SOUTH; its chunks' index rows."""
    actions = np.zeros((frames, ACTION_DIM), np.float32)
    actions[:, 0] = 1.0
    actions[:, 17:] = np.clip(value + np.arange(frames)[:, None] / 100, -1, 1)
    write_action_table(root / f"{game}.parquet", actions, fps=30.0)
    return [{"video_id": game, "video_path": f"{game}.mp4", "table_path": f"{game}.parquet", "start_frame": s,
             "frames": T, "fps": 30.0, "overlay_box": [0, 0, 1, 1], "game_box": [0, 0, 8, 8], "game": game,
             "density": 1.0, "motion": 50.0} for s in range(0, frames - T + 1, T)]


@pytest.fixture
def chunks(tmp_path: Path) -> dict[str, np.ndarray]:
    rows = write_game(tmp_path, "pong", 12, -0.5) + write_game(tmp_path, "doom", 8, 0.5)
    write_chunk_index(pd.DataFrame(rows), tmp_path / "chunks.parquet")
    from padflow.tables import read_chunk_index

    return dict(game_chunks(read_chunk_index(tmp_path / "chunks.parquet"), tmp_path))


def test_each_game_gets_exactly_its_own_chunks(chunks: dict[str, np.ndarray]) -> None:
    assert sorted(chunks) == ["doom", "pong"]
    assert chunks["pong"].shape == (3, T, ACTION_DIM) and chunks["doom"].shape == (2, T, ACTION_DIM)
    assert np.allclose(chunks["pong"][1, :, 17], -0.5 + np.arange(4, 8) / 100)  # rows 4..7 of the pong table


def test_the_player_replays_only_the_games_chunks_whatever_the_frame(chunks: dict[str, np.ndarray]) -> None:
    player = prior_player(chunks["doom"], replan_every=T)
    assert player.name == PRIOR
    rng = np.random.default_rng(0)
    player.reset(3)
    played = np.stack([player.act(rng.integers(0, 255, (8, 8, 3), np.uint8), {}) for _ in range(5 * T)])
    for block in played.reshape(5, T, ACTION_DIM):
        assert any(np.array_equal(block, c) for c in chunks["doom"])
    # another frame stream, the same seed: the same actions (the frame is never looked at)
    player.reset(3)
    again = np.stack([player.act(np.zeros((8, 8, 3), np.uint8), {}) for _ in range(5 * T)])
    assert np.array_equal(played, again)


def test_seeds_draw_different_chunk_sequences(chunks: dict[str, np.ndarray]) -> None:
    sampler = PriorSampler(chunks["pong"])
    frame = np.zeros((8, 8, 3), np.uint8)
    draws = []
    for seed in (0, 1):
        sampler.reset(seed)
        draws.append([round(float(sampler.sample_chunk(frame)[0, 17]), 2) for _ in range(12)])
    assert draws[0] != draws[1] and set(draws[0]) <= {-0.5, -0.46, -0.42}


def test_no_chunks_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        PriorSampler(np.zeros((0, T, ACTION_DIM)))
