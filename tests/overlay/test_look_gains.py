"""The two-level split that decides whether a control's presses reach the video fainter than drawn."""

import numpy as np

from padflow.overlay.look_gains import GAIN_FLOOR, MIN_GAIN_FRAMES, two_levels


def test_presses_at_a_third_of_their_drawn_change_split_from_frames_at_rest():
    rng = np.random.default_rng(0)
    share = np.concatenate([rng.normal(0.0, 0.02, 30), rng.normal(0.33, 0.02, 18)])
    b, a, lower, upper = two_levels(share)
    assert abs(a - 0.33) < 0.02 and abs(b) < 0.02
    assert set(upper) == set(range(30, 48)) and set(lower) == set(range(30))


def test_no_split_for_noise_presses_read_as_drawn_too_few_frames_or_too_small_a_step():
    rng = np.random.default_rng(0)
    rest = rng.normal(0.0, 0.02, 30)
    assert two_levels(rng.normal(0.0, 0.05, 48)) is None  # one cluster of noise
    assert two_levels(np.concatenate([rest, rng.normal(0.9, 0.02, 18)])) is None  # presses read as drawn: no gain needed
    assert two_levels(np.concatenate([rest, rng.normal(0.3, 0.02, MIN_GAIN_FRAMES - 1)])) is None
    assert two_levels(np.concatenate([rest, rng.normal(GAIN_FLOOR - 0.05, 0.005, 18)])) is None
