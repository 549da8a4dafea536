"""The look reader's confidence: sure where the frame shows the read look, doubtful halfway to a look that reads
differently, and not doubtful of a click because the cap sits between two grid cells."""

from __future__ import annotations

import numpy as np

from padflow.actions import ACTION_INDEX
from padflow.overlay.look_confidence import certainty, group_doubts

STEP = 0.2  # a stick's grid step (11 cells over -1 .. 1)


def stick_states() -> tuple[np.ndarray, np.ndarray]:
    """Three cells of a stick's x axis, each clicked or not: (S, 21) actions and (S, 12) looks' changes from rest.

    The cap's move is a large change; the click a small one (a slightly darker cap), as input-overlay's
    xbox-controller draws it."""
    actions, changes = [], []
    for cell, x in enumerate((0.0, STEP, 2 * STEP)):
        for clicked in (0, 1):
            a = np.zeros(21, np.float32)
            a[ACTION_INDEX["LEFT_X"]], a[ACTION_INDEX["LEFT_THUMB"]] = x, clicked
            look = np.zeros(12, np.float32)
            look[cell * 3 : cell * 3 + 3] = 100.0  # the cap at its cell
            look[9 + cell] = 20.0 * clicked  # the click darkens it
            actions.append(a)
            changes.append(look)
    return np.array(actions), np.array(changes)


def confidence_of(frame: np.ndarray) -> float:
    actions, changes = stick_states()
    doubts = group_doubts(actions, changes, STEP, indistinct=0.01)
    errors = ((frame[None, :] - changes) ** 2).sum(axis=1)[None, :]  # (1, S)
    return float(certainty(doubts, errors, errors.argmin(axis=1))[0])


def test_a_frame_showing_the_read_look_is_sure_and_one_halfway_to_another_reading_is_not():
    _, changes = stick_states()
    assert confidence_of(changes[0]) == 1.0
    # halfway between the unclicked cap at x = 0 and the clicked one there: the click is in doubt
    assert confidence_of(0.5 * changes[0] + 0.5 * changes[1]) < 0.1
    # halfway to a cell two steps away reads differently too
    assert confidence_of(0.55 * changes[0] + 0.45 * changes[4]) < 0.2


def test_a_cap_between_two_cells_does_not_put_the_click_in_doubt():
    _, changes = stick_states()
    between = 0.55 * changes[0] + 0.45 * changes[2]  # unclicked, almost halfway to the next cell
    # what is left is the doubt about the cell two steps away (0.55); counted as a doubt, the clicked cap at the next
    # cell, nearly the unclicked one there, would put it at 0.11
    assert 0.5 < confidence_of(between) < 0.6
