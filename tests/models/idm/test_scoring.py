"""models.idm.scoring: the figures an IDM is judged by, and the one that no game prior can earn."""

from __future__ import annotations

import numpy as np

from models.idm.scoring import score_videos
from padflow.actions import ACTION_INDEX

X = ACTION_INDEX["LEFT_X"]


def video(stick_x: np.ndarray) -> np.ndarray:
    actions = np.zeros((len(stick_x), 21), np.float32)
    actions[:, X] = stick_x
    return actions


def test_an_idm_that_knows_only_each_videos_average_stick_scores_zero_within_video():
    rng = np.random.default_rng(0)
    # two games: one pushes right on average, the other left; the frames vary around that
    truths = [video(0.7 + 0.2 * rng.standard_normal(200)), video(-0.7 + 0.2 * rng.standard_normal(200))]
    game_prior = [video(np.full(200, t[:, X].mean())) for t in truths]
    s = score_videos((p, t, None) for p, t in zip(game_prior, truths))
    assert s["stick_r2_axes"]["LEFT_X"] > 0.9  # the pooled R² credits the game prior
    assert abs(s["stick_r2_within_axes"]["LEFT_X"]) < 1e-6
    exact = score_videos((t, t, None) for t in truths)
    assert exact["stick_r2_within_axes"]["LEFT_X"] == 1.0


def test_a_never_press_idm_scores_the_baseline_accuracy_and_f1_zero():
    truth = video(np.zeros(100))
    truth[::10, ACTION_INDEX["SOUTH"]] = 1.0
    s = score_videos([(video(np.zeros(100)), truth, None)])
    assert s["button_accuracy"] == s["baseline_button_accuracy"] and s["button_f1"] == 0.0
    assert s["stick_r2_within_axes"]["LEFT_X"] is None  # an axis that never moves cannot be judged
