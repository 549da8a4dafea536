"""States a skin draws exactly alike are told apart by the frames around them."""

import numpy as np

from padflow.overlay.look_alike import alike_states, told_by_time

STEP = 0.2
LIT = 20  # the picture drawn alike in the d-pad test


def states(rows: list[tuple[float, ...]], pictures: list[int], axes: tuple[bool, ...]):
    return alike_states(np.array(rows, np.float32), np.array(pictures), np.array(axes), STEP)


def test_a_group_whose_pictures_each_read_one_way_needs_no_telling_apart():
    assert states([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)], [0, 1, 2], (True, False)) is None
    assert states([(0.0, 0.0), (0.0, 0.0)], [0, 0], (True, False)) is None  # drawn alike, read alike


def test_a_cap_held_while_its_click_hides_it_keeps_its_place():
    """(LEFT_X, LEFT_THUMB): the cap at -1, 0 or 1, each its own picture; clicked, it is not drawn (one picture, any place)."""
    alike = states([(-1.0, 0.0), (0.0, 0.0), (1.0, 0.0), (-1.0, 1.0), (0.0, 1.0), (1.0, 1.0)], [0, 1, 2, 3, 3, 3], (True, False))
    read = np.array([(1.0, 0.0), (-1.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (0.0, 0.0)], np.float32)  # alone, a hidden cap reads its first place
    pictures = np.array([2, 3, 3, 2, 1])
    out = told_by_time(read, pictures, alike)
    assert out.tolist() == [[1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]


def test_a_hidden_cap_seen_only_after_the_click_takes_its_next_seen_place():
    alike = states([(-1.0, 0.0), (0.0, 0.0), (1.0, 0.0), (-1.0, 1.0), (0.0, 1.0), (1.0, 1.0)], [0, 1, 2, 3, 3, 3], (True, False))
    out = told_by_time(np.array([(-1.0, 1.0), (-1.0, 1.0), (1.0, 0.0)], np.float32), np.array([3, 3, 2]), alike)
    assert out[:, 0].tolist() == [1.0, 1.0, 1.0]


def test_a_cap_on_a_lit_arm_was_pushed_there_only_if_it_was_near():
    """(DPAD_RIGHT, LEFT_X, LEFT_Y, LEFT_THUMB): the cap pushed right (1, 0) draws what the arm pressed with the cap clicked
    (hidden) draws, wherever the stick is."""
    rows, pictures = [], []
    for x in (-1.0, 0.0, 0.8, 1.0):
        for y in (0.0, 1.0):
            rows.append((0.0, x, y, 0.0))
            pictures.append(LIT if (x, y) == (1.0, 0.0) else len(pictures))
            rows.append((1.0, x, y, 1.0))
            pictures.append(LIT)
    alike = states(rows, pictures, (False, True, True, False))
    lit = np.array([0.0, 1.0, 0.0, 0.0], np.float32)  # what the reader reads alone: the state with fewest presses
    near = told_by_time(np.array([(0.0, 0.8, 0.0, 0.0), lit, (0.0, 0.8, 0.0, 0.0)], np.float32), np.array([8, LIT, 8]), alike)
    assert near[1].tolist() == [0.0, 1.0, 0.0, 0.0]  # one axis moved a step and back: fewer changes than an arm and a click
    far = told_by_time(np.array([(0.0, -1.0, 1.0, 0.0), lit, (0.0, -1.0, 1.0, 0.0)], np.float32), np.array([2, LIT, 2]), alike)
    assert far[1].tolist() == [1.0, -1.0, 1.0, 1.0]  # as many changes either way; the stick that stays moves least


def test_frames_whose_picture_reads_one_way_are_left_as_read():
    alike = states([(-1.0, 0.0), (1.0, 0.0), (-1.0, 1.0), (1.0, 1.0)], [0, 1, 2, 2], (True, False))
    read = np.array([(-1.0, 0.0), (1.0, 0.0), (-1.0, 0.0)], np.float32)
    assert told_by_time(read, np.array([0, 1, 0]), alike).tolist() == read.tolist()


def test_a_cap_hidden_while_it_moves_reads_the_way_between_its_seen_places():
    alike = states([(-1.0, 0.0), (0.0, 0.0), (1.0, 0.0), (-1.0, 1.0), (0.0, 1.0), (1.0, 1.0)], [0, 1, 2, 3, 3, 3], (True, False))
    read = np.array([(-1.0, 0.0), (-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0), (1.0, 0.0)], np.float32)
    out = told_by_time(read, np.array([0, 3, 3, 3, 2]), alike)
    assert out[:, 0].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0] and out[:, 1].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_places_a_grid_step_apart_drawn_alike_are_no_doubt():
    """A round travel draws the cap pushed to (0.8, 0.8) and to (1, 1) at one place."""
    assert states([(0.0, 0.0), (0.8, 0.8), (1.0, 1.0)], [0, 1, 1], (True, True)) is None


def test_a_cap_drawn_alike_at_some_places_reads_the_one_nearest_the_centre():
    """n64-pixel's right cap has the pad's colour at rest and in its corners, and its click draws nothing: a stick rests
    more often than it sits in a corner, so such a frame reads the centre (the reader alone chose by a product's rounding)."""
    places = [(0.0, 0.0), (-1.0, -1.0), (1.0, 1.0), (0.0, 1.0)]
    alike = states([(*xy, c) for c in (0.0, 1.0) for xy in places], [0, 0, 0, 1] * 2, (True, True, False))
    read = np.array([(0.0, 1.0, 0.0), (1.0, 1.0, 0.0), (0.0, 1.0, 0.0)], np.float32)
    assert told_by_time(read, np.array([1, 0, 1]), alike)[1].tolist() == [0.0, 0.0, 0.0]
