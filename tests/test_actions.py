import numpy as np
import pytest

from padflow import actions as A


def test_layout_is_17_buttons_then_4_axes():
    assert A.ACTION_DIM == 21 and A.N_BUTTONS == 17 and A.N_AXES == 4
    assert A.ACTION_NAMES[:4] == ("SOUTH", "EAST", "WEST", "NORTH")
    assert A.ACTION_NAMES[17:] == ("LEFT_X", "LEFT_Y", "RIGHT_X", "RIGHT_Y")
    assert A.ACTION_INDEX["GUIDE"] == 16 and A.ACTION_INDEX["RIGHT_Y"] == 20
    assert A.ACTION_SCHEMA_VERSION == "padflow-action/1"


def test_nitrogen_columns_cover_every_button_once():
    assert sorted(c.upper() for c in A.NITROGEN_BUTTON_COLUMNS) == sorted(A.BUTTONS)


def test_dict_round_trip_with_playstation_aliases():
    action = A.action_from_dict({"cross": 1, "Triangle": True, "R2": 1, "j_left": (0.5, -1.0), "RIGHT_X": -0.25})
    assert A.pressed(action) == ["SOUTH", "NORTH", "RIGHT_TRIGGER"]
    d = A.action_to_dict(action)
    assert d["SOUTH"] == 1 and d["EAST"] == 0 and d["LEFT_X"] == 0.5 and d["LEFT_Y"] == -1.0
    assert np.array_equal(A.action_from_dict(d), action)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"SOUTH": 0.5}, r"action\[SOUTH\] = 0.5; buttons must be 0 or 1"),
        ({"LEFT_Y": 1.5}, r"action\[LEFT_Y\] = 1.5 is outside \[-1, 1\]"),
        ({"RIGHT_X": float("nan")}, r"action\[RIGHT_X\] is NaN"),
        ({"START": "yes"}, r"action\[START\] = 'yes' is not a number"),
        ({"TURBO": 1}, r"unknown gamepad control 'TURBO'; valid names: SOUTH"),
        ({"j_right": 3}, r"j_right must be an \(x, y\) pair"),
    ],
)
def test_bad_values_name_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        A.action_from_dict(values)


def test_wrong_shape_is_rejected_with_expected_layout():
    with pytest.raises(ValueError, match=r"shape \(20,\); expected \(\.\.\., 21\)"):
        A.validate_action(np.zeros(20))
    with pytest.raises(ValueError, match="not numeric"):
        A.validate_action(["a"] * 21)


def test_batches_validate_and_report_the_bad_field():
    batch = np.zeros((16, 21), dtype=np.float32)
    assert A.validate_action(batch).shape == (16, 21)
    batch[7, A.AXIS_INDEX["RIGHT_Y"]] = -2
    with pytest.raises(ValueError, match=r"\[RIGHT_Y\] = -2"):
        A.validate_action(batch)


def test_space_bounds_match_layout():
    assert (A.ACTION_LOW[:17] == 0).all() and (A.ACTION_LOW[17:] == -1).all() and (A.ACTION_HIGH == 1).all()
    assert A.validate_action(A.noop()).sum() == 0
