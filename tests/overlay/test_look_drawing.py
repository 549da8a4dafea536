"""The look reader's drawing of a skin state: a control's box drawn alone lands on the whole skin's pixels."""

import numpy as np

from padflow.actions import BUTTON_INDEX, noop
from padflow.overlay.library import load_library
from padflow.overlay.look_drawing import drawn_look, warped_states


def test_a_box_drawn_alone_matches_the_whole_skin_drawn_there():
    """Shrunk to a third, a box rendered on its own grid would be shifted by a fraction of a pixel: as blurred as a subtle press."""
    skin = load_library().skins["xbox-01"]
    transform = np.array([[0.31, 0.0, 40.3], [0.0, 0.31, 25.7]])
    frame_box = (30, 20, 30 + int(skin.size[0] * 0.31) + 20, 20 + int(skin.size[1] * 0.31) + 20)
    action = noop()
    action[BUTTON_INDEX["SOUTH"]] = 1.0
    whole = drawn_look(skin, action, transform, (0, 0, *skin.size), frame_box)
    box = skin.regions()["SOUTH"]
    shape = (frame_box[3] - frame_box[1], frame_box[2] - frame_box[0])
    window, looks = warped_states(skin, box, np.stack([noop(), action]), transform, frame_box, shape, 0.31)
    assert looks is not None and looks.shape[0] == 2
    inner = (slice(2, -2), slice(2, -2))  # the window's edge samples past the box
    assert np.abs(looks[1][inner] - whole[window][inner]).max() <= 2.0
    assert np.abs(looks[1][inner] - looks[0][inner]).max() > 40  # and the press is drawn there
