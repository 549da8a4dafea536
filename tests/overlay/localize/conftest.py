"""Shared scenes for localization tests: real game frames from an engine, with an overlay drawn on them."""

import numpy as np
import pytest

from padflow.actions import noop
from padflow.overlay.library import load_library
from padflow.overlay.render import draw_overlay
from padflow.players.footage import fit_to_upload, record_gameplay

FRAME_SIZE = (854, 480)  # the corpus' smallest 16:9 upload size: an 8% overlay is ~68 px wide
N_FRAMES = 8


@pytest.fixture(scope="module")
def library():
    return load_library()


@pytest.fixture(scope="module")
def game_frames() -> list[np.ndarray]:
    """Moving game content from a real engine, at upload size."""
    frames, _, _, _ = record_gameplay("crafter_collect_wood", "average", seed=3, seconds=N_FRAMES * 4 / 30, fps=30.0)
    return [fit_to_upload(f, *FRAME_SIZE)[0] for f in frames[::4]]


def draw_on(frames, skin, placement, seed=0):
    rng = np.random.default_rng(seed)
    out, box = [], None
    for frame in frames:
        action = noop()
        action[:17] = rng.random(17) < 0.2  # the pad changes from frame to frame, as in play
        action[17:] = rng.uniform(-1, 1, 4)
        drawn, box = draw_overlay(frame, skin, action, placement)
        out.append(drawn)
    return out, box


@pytest.fixture
def with_overlay():
    """`with_overlay(frames, skin, placement, seed=0)` → (frames with the overlay drawn, its box); the pad changes every frame."""
    return draw_on
