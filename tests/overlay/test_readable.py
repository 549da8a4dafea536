"""Controls a skin draws that no video can show are found by drawing, and are no labels anywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from padflow.actions import ACTION_NAMES
from padflow.overlay.crops import skin_view
from padflow.overlay.library import load_library
from padflow.overlay.readable import readable_controls, unreadable_controls
from padflow.overlay.sprite import load_sprite_skin, write_sprite_skin
from tasks.extract import unobserved_controls


def _n64_like(folder: Path) -> Path:
    """input-overlay's n64-pixel in small: B and Y one picture at one place, a stick clicked with its idle cap."""
    atlas = np.zeros((32, 60, 4), np.uint8)
    atlas[..., 3] = 255
    atlas[:, :40, :3] = (90, 90, 90)
    atlas[0:4, 40:44, :3] = (200, 0, 0)  # SOUTH pressed
    atlas[0:4, 50:54, :3] = (0, 200, 0)  # the one sprite of EAST and WEST
    atlas[10:14, 40:44, :3] = (0, 0, 200)  # stick cap
    layers = [
        {"type": "static", "sprite": [0, 0, 40, 32], "pos": [0, 0]},
        {"type": "button", "control": "SOUTH", "pos": [22, 12], "idle": None, "pressed": [40, 0, 4, 4]},
        {"type": "button", "control": "EAST", "pos": [22, 4], "idle": None, "pressed": [50, 0, 4, 4]},
        {"type": "button", "control": "WEST", "pos": [22, 4], "idle": None, "pressed": [50, 0, 4, 4]},
        {"type": "stick", "side": "left", "pos": [6, 8], "cap": [40, 10, 4, 4], "cap_pressed": [40, 10, 4, 4], "travel": 3.0,
         "travel_shape": "square"},
    ]
    write_sprite_skin(folder, "n64-like", "generic", (40, 32), atlas, layers)
    return folder / "n64-like.json"


def test_buttons_drawn_as_one_and_a_click_that_draws_nothing_are_unobserved(tmp_path: Path) -> None:
    skin = load_sprite_skin(_n64_like(tmp_path))
    reasons = unreadable_controls(skin)
    assert list(reasons) == ["EAST", "WEST", "LEFT_THUMB"]
    assert "drawn exactly as WEST" in reasons["EAST"] and "drawn exactly as EAST" in reasons["WEST"]
    assert reasons["LEFT_THUMB"] == "its press draws nothing"
    assert readable_controls(skin) == {"SOUTH", "LEFT_X", "LEFT_Y"}
    # A table made with the skin leaves them unobserved, and the parser is neither trained nor scored on them.
    assert {"EAST", "WEST", "LEFT_THUMB"} <= set(unobserved_controls(skin)) and "SOUTH" not in unobserved_controls(skin)
    observed = dict(zip(ACTION_NAMES, skin_view(skin, (64, 48), 16).observed))
    assert not observed["EAST"] and not observed["WEST"] and not observed["LEFT_THUMB"] and observed["SOUTH"]


def test_every_built_in_skin_draws_every_control_readably() -> None:
    library = load_library([])
    assert all(readable_controls(skin) == skin.observed for skin in library.skins.values())


def test_a_sprite_skin_whose_controls_differ_loses_none(tmp_path: Path, make_sprite_skin) -> None:
    skin = load_sprite_skin(make_sprite_skin(tmp_path))
    assert unreadable_controls(skin) == {} and readable_controls(skin) == skin.observed
