"""The cap locator: a stick read where the skin's rest cap matches best, with no training."""

import numpy as np
import pytest

from models.overlay_parser.cap_locator import locate_caps
from padflow.actions import AXIS_INDEX, noop
from padflow.overlay.crops import frame_crops, parser_batch, placement_transform, skin_view
from padflow.overlay.library import load_library
from padflow.overlay.render import Placement, composite, render_overlay

POSITIONS = [(0.0, 0.0, 0.0, 0.0), (1.0, 0.0, 0.0, -1.0), (-0.6, 0.4, 0.8, 0.8), (0.0, -1.0, -0.3, 0.0),
             *map(tuple, np.random.default_rng(1).uniform(-1.0, 1.0, (8, 4)))]  # left x, left y, right x, right y


@pytest.mark.parametrize("skin_id", ["xbox-01", "playstation-03", "nintendo-05"])  # solid, dot and concave caps (thin rings)
def test_a_cap_drawn_anywhere_on_its_travel_is_read_there(skin_id: str):
    skin = load_library().skins[skin_id]
    view = skin_view(skin, (96, 64), 32)
    game = np.random.default_rng(0).integers(40, 90, (360, 640, 3), dtype=np.uint8)  # a dim, textured game
    crops, sticks = [], []
    for position in POSITIONS:
        action = noop()
        for axis, value in zip(("LEFT_X", "LEFT_Y", "RIGHT_X", "RIGHT_Y"), position):
            action[AXIS_INDEX[axis]] = value
        frame, box = composite(game, render_overlay(skin, action), Placement("bottom-left", 0.3, 0.9))
        crop, stick = frame_crops(frame, placement_transform(tuple(map(float, box)), skin.size), view, skin.size)
        crops.append(crop)
        sticks.append(stick)
    caps = locate_caps(parser_batch(np.stack(crops), np.stack(sticks), view))
    np.testing.assert_allclose(caps.axes, np.array(POSITIONS), atol=0.15)  # the grid's step is 0.2; the soft-argmax reads between cells
    assert (caps.match > 0.7).all()  # the cap stands out: above extract.cap_min_match (0.6), so the stage reads these sticks by it
    assert (caps.mass > 0.2).all()  # sure enough for the gate (gate.min_confidence 0.2), though a concave cap's rings match again a cell or two away
