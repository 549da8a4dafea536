"""The two-level split that decides whether a control's presses reach the video fainter than drawn."""

import numpy as np

from padflow.actions import ACTION_NAMES
from padflow.overlay.look_gains import GAIN_CEILING, GAIN_FLOOR, MIN_GAIN_FRAMES, control_gains, two_levels


def test_presses_at_a_third_of_their_drawn_change_split_from_frames_at_rest():
    rng = np.random.default_rng(0)
    share = np.concatenate([rng.normal(0.0, 0.02, 30), rng.normal(0.33, 0.02, 18)])
    b, a, lower, upper = two_levels(share)
    assert abs(a - 0.33) < 0.02 and abs(b) < 0.02
    assert set(upper) == set(range(30, 48)) and set(lower) == set(range(30))


def test_presses_shown_near_half_their_drawn_change_split_too():
    """Read as drawn, presses at 0.5 +- noise fall either side of the halfway mark: some frames would read released."""
    rng = np.random.default_rng(1)
    share = np.concatenate([rng.normal(0.0, 0.03, 30), rng.normal(0.52, 0.04, 18)])
    assert (share[30:] < 0.5).any()
    b, a, lower, upper = two_levels(share)
    assert set(upper) == set(range(30, 48)) and b < 0.5 * a < a < GAIN_CEILING


def test_no_split_for_noise_presses_read_as_drawn_too_few_frames_or_too_small_a_step():
    rng = np.random.default_rng(0)
    rest = rng.normal(0.0, 0.02, 30)
    assert two_levels(rng.normal(0.0, 0.05, 48)) is None  # one cluster of noise
    assert two_levels(np.concatenate([rest, rng.normal(0.9, 0.02, 18)])) is None  # presses read as drawn: no gain needed
    assert two_levels(np.concatenate([rest, rng.normal(0.3, 0.02, MIN_GAIN_FRAMES - 1)])) is None
    assert two_levels(np.concatenate([rest, rng.normal(GAIN_FLOOR - 0.05, 0.005, 18)])) is None


def test_a_control_is_scaled_only_where_its_fainter_frames_show_its_press():
    """Two buttons read together, each changing its own 40 pixels: one pressed at 0.4 of its drawn change, the other never
    pressed but under game motion that projects on its press as strongly: only the first gets a gain."""
    rng = np.random.default_rng(0)
    m = 80
    drawn = np.zeros((2, m, 3), np.float32)
    drawn[0, :40] = rng.uniform(40, 80, (40, 3))
    drawn[1, 40:] = rng.uniform(40, 80, (40, 3))
    changes = np.stack([np.zeros((m, 3), np.float32), drawn[0], drawn[1], drawn[0] + drawn[1]]).reshape(4, -1)
    actions = np.zeros((4, len(ACTION_NAMES)), np.float32)
    actions[[1, 3], ACTION_NAMES.index("SOUTH")] = 1
    actions[[2, 3], ACTION_NAMES.index("EAST")] = 1
    t = 48
    residual = rng.normal(0, 1.0, (t, m, 3)).astype(np.float32)
    pressed = np.arange(t) % 3 == 0
    residual[pressed] += 0.4 * drawn[0]
    motion = rng.normal(0, 60, (int(pressed.sum()), 40, 3)) + 0.4 * drawn[1, 40:]  # projects at 0.4, but mostly other patterns
    residual[np.flatnonzero(pressed)[:, None], np.arange(40, 80)[None, :]] += motion.astype(np.float32)
    offset, gain = control_gains(("SOUTH", "EAST"), actions, changes, residual.reshape(t, -1), contrast=8.0)
    gain = gain.reshape(m, 3)
    assert np.allclose(gain[:40], gain[0, 0]) and 0.3 < gain[0, 0] < 0.5  # SOUTH read at the strength it shows
    assert np.allclose(gain[40:], 1.0)  # EAST left as drawn
