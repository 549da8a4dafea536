"""The policy's training data: videos (or games) split without overlap, the game-mean reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from models.policy.data import ChunkDataset, game_mean_stick_mse, observed_mean, split_videos
from padflow.actions import AXIS_SLICE


def test_split_never_shares_a_video_or_game_and_is_seeded():
    index = pd.DataFrame({"video_id": [f"v{i}" for i in range(10)], "game": ["a", "b"] * 5})
    train, val = split_videos(index, 0.2, "video", seed=3)
    assert len(val) == 2 and not set(train) & set(val) and set(train) | set(val) == set(index.video_id)
    assert split_videos(index, 0.2, "video", seed=3) == (train, val)
    assert split_videos(index, 0.3, "game", seed=0)[1] in (["a"], ["b"])
    with pytest.raises(ValueError, match="validation needs one that training never sees"):
        split_videos(index.head(1), 0.2, "video", seed=0)


@pytest.mark.parametrize("seed", range(5))
def test_validation_videos_come_from_games_training_also_sees(seed):
    # Like a corpus of the whole suite played once per task: two videos of most games, one of some, ten of doom.
    games = ["boxing", "boxing", "seaquest", "seaquest", "pong", "pong", "road_runner"] + ["doom"] * 10
    index = pd.DataFrame({"video_id": [f"v{i:02d}" for i in range(len(games))], "game": games})
    train, val = split_videos(index, 0.2, "video", seed)
    game_of = dict(zip(index.video_id, index.game))
    assert len(val) == 3 and not set(train) & set(val)
    assert {game_of[v] for v in val} <= {game_of[v] for v in train}, "a validation game never trained on"
    assert len({game_of[v] for v in val}) == 3, "validation is spread over games"
    one_each = pd.DataFrame({"video_id": ["x", "y", "z"], "game": ["a", "b", "c"]})
    assert len(split_videos(one_each, 0.34, "video", seed)[1]) == 1  # no game has two: a whole game validates


def test_game_mean_reference_predicts_each_games_training_mean():
    actions = np.zeros((4, 2, 21), np.float32)
    actions[:, :, AXIS_SLICE] = np.array([0.5, -0.5, 0.0, 1.0], np.float32)[:, None, None]  # every axis of chunk i
    games = np.array(["a", "a", "b", "c"])
    is_val = np.array([False, True, False, True])
    # val chunk 1 (game a) is guessed 0.5 → error 1.0; game c never trained → the overall mean 0.25 → error 0.75
    assert game_mean_stick_mse(actions, games, is_val) == pytest.approx((1.0**2 + 0.75**2) / 2)


def test_unobserved_values_stay_out_of_the_means_and_the_dataset_hands_the_mask_on():
    actions = np.zeros((2, 2, 21), np.float32)
    actions[0, :, AXIS_SLICE] = 0.8  # chunk 0 observes the sticks
    observed = np.ones((2, 21), bool)
    observed[1, AXIS_SLICE] = False  # chunk 1's pad has no sticks: its neutral 0 is no reading
    assert observed_mean(actions, observed)[AXIS_SLICE] == pytest.approx([0.8] * 4)
    is_val = np.array([False, True])
    assert np.isnan(game_mean_stick_mse(actions, np.array(["a", "a"]), is_val, observed))  # nothing observed to score
    item = ChunkDataset([np.zeros((1, 4, 4, 3), np.uint8)], np.zeros((2, 2), np.int64), actions, observed)[1]
    assert item["observed"].dtype == torch.bool and not item["observed"][AXIS_SLICE].any()
