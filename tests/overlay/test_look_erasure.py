"""Whether a press survives the video's encoder: tried on real game frames with x264 at the video's quantizer."""

import numpy as np
import pytest

from padflow.overlay.look_erasure import ERASED_SHARE, erased_controls, left_shares
from padflow.players.footage import record_gameplay


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    frames, _, _, _ = record_gameplay("crafter_collect_wood", "average", seed=4, seconds=2.0, fps=30.0)
    return np.stack([f[100:164, 100:196] for f in frames[:48]])  # (48, 64, 92, 3): the game moving under an overlay's crop


def patch(crops: np.ndarray, size: int, value: tuple[float, float, float]) -> np.ndarray:
    change = np.zeros(crops.shape[1:], np.float32)
    change[20 : 20 + size, 30 : 30 + size] = value
    return change


def test_a_small_change_of_colour_is_erased_and_a_bright_fill_is_not(crops: np.ndarray):
    """A 3-px tint (f710's dark grey to dark teal) leaves nothing at crf 23; a bright 10-px fill is kept nearly whole."""
    presses = [("tint", patch(crops, 3, (0, 12, 12))), ("fill", patch(crops, 10, (90, 90, 90)))]
    shares = left_shares(crops, 23, presses)
    assert shares["tint"] < ERASED_SHARE < 0.9 < shares["fill"]
    assert erased_controls(crops, 23, presses) == ("tint",)


def test_a_coarser_quantizer_erases_more(crops: np.ndarray):
    press = [("mid", patch(crops, 6, (30, 30, 0)))]
    assert left_shares(crops, 30, press)["mid"] < left_shares(crops, 23, press)["mid"] - 0.3


def test_nothing_is_erased_where_the_quantizer_or_the_frames_are_missing(crops: np.ndarray):
    presses = [("tint", patch(crops, 3, (0, 12, 12)))]
    assert erased_controls(crops, None, presses) == ()  # not H.264: no quantizer to try
    assert erased_controls(crops[:5], 23, presses) == ()  # too short for a press and a release
