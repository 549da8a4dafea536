"""Rendering actions on skins, compositing onto frames, placement bounds and overlay lag."""

from __future__ import annotations

import numpy as np
import pytest

from padflow.actions import ACTION_DIM, BUTTONS, action_from_dict, noop
from padflow.overlay.library import load_library
from padflow.overlay.render import (
    ANCHORS,
    GLOW_MARGIN,
    OverlayLag,
    Placement,
    composite,
    draw_overlay,
    render_overlay,
)
from padflow.overlay.skin import STICK_BUTTONS

# One skin per family and per pressed style (fill, glow, swap) and per generic sub-layout.
SKIN_IDS = ("xbox-01", "xbox-02", "playstation-03", "nintendo-04", "generic-03", "generic-07", "generic-11")


@pytest.fixture(scope="module")
def skins():
    library = load_library()
    return {i: library.skins[i] for i in SKIN_IDS}


def test_neutral_render_at_native_size_is_the_rest_image(skins):
    for skin in skins.values():
        out = render_overlay(skin, noop())
        assert out.shape == skin.rest.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - skin.rest).mean() < 0.5, skin.id


def test_render_width_sets_the_size(skins):
    skin = skins["xbox-01"]
    out = render_overlay(skin, noop(), 68)
    assert out.shape == (round(skin.size[1] * 68 / skin.size[0]), 68, 4)


def test_pressing_a_button_changes_pixels_in_its_region_only(skins):
    for skin in skins.values():
        rest = render_overlay(skin, noop())
        regions = skin.regions()
        assert {b.pressed.style for b in skin.buttons} <= {"fill", "glow", "swap"}
        for name in BUTTONS:
            changed = (render_overlay(skin, action_from_dict({name: 1})) != rest).any(axis=-1)
            assert changed.sum() > 20, (skin.id, name)
            x0, y0, x1, y1 = regions[name]
            reach = GLOW_MARGIN * 2 * min(x1 - x0, y1 - y0) + 2  # glows reach past the region
            ys, xs = np.nonzero(changed)
            inside = (xs >= x0 - reach) & (xs < x1 + reach) & (ys >= y0 - reach) & (ys < y1 + reach)
            assert inside.mean() > 0.97, (skin.id, name, inside.mean())


def _cap_centre(skin, action, side):
    """Centroid of the pixels that differ from the empty well inside the stick's reach."""
    stick = skin.sticks[0 if side == "left" else 1]
    out = render_overlay(skin, action).astype(int)
    x0, y0, x1, y1 = (int(round(v)) for v in stick.region)
    window = out[y0:y1, x0:x1, :3]
    yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
    in_well = np.hypot(xx - stick.centre[0], yy - stick.centre[1]) < stick.well_radius - 1
    cap = (np.abs(window - np.array(stick.well_colour[:3])).sum(axis=-1) > 60) & in_well
    ys, xs = np.nonzero(cap)
    return xs.mean() + x0, ys.mean() + y0


@pytest.mark.parametrize("side", ["left", "right"])
def test_stick_deflection_moves_the_cap_right_and_up(skins, side):
    for skin in skins.values():
        stick = skin.sticks[0 if side == "left" else 1]
        axis = "j_right" if side == "right" else "j_left"
        cx, cy = _cap_centre(skin, noop(), side)
        rx, ry = _cap_centre(skin, action_from_dict({axis: (1, 0)}), side)
        ux, uy = _cap_centre(skin, action_from_dict({axis: (0, 1)}), side)
        assert rx - cx > 0.6 * stick.travel and abs(ry - cy) < 1.5, (skin.id, side)
        assert cy - uy > 0.6 * stick.travel and abs(ux - cx) < 1.5, (skin.id, side)  # y up = cap up on screen


def test_clicking_a_stick_changes_only_that_stick(skins):
    for skin in skins.values():
        rest = render_overlay(skin, noop())
        for stick in skin.sticks:
            changed = (render_overlay(skin, action_from_dict({STICK_BUTTONS[stick.side]: 1})) != rest).any(axis=-1)
            ys, xs = np.nonzero(changed)
            cx, cy = stick.centre
            assert len(xs) > 10 and (np.hypot(xs + 0.5 - cx, ys + 0.5 - cy) <= stick.well_radius + 4).all(), skin.id


def test_bad_action_and_width_are_rejected(skins):
    skin = skins["xbox-01"]
    with pytest.raises(ValueError, match="shape"):
        render_overlay(skin, np.zeros(20))
    bad = noop()
    bad[0] = 0.5
    with pytest.raises(ValueError, match="SOUTH"):
        render_overlay(skin, bad)
    with pytest.raises(ValueError, match="width"):
        render_overlay(skin, noop(), 4)


@pytest.mark.parametrize("anchor", ANCHORS)
def test_placement_anchor_puts_the_overlay_on_that_side(anchor):
    placement = Placement(anchor, 0.15, 1.0, 0.02)
    x0, y0, x1, y1 = placement.box(854, 480, 90)
    assert (x1 - x0, y1 - y0) == (128, 90)
    margin = round(0.02 * 854)
    if "left" in anchor:
        assert x0 == margin
    elif "right" in anchor:
        assert x1 == 854 - margin
    else:
        assert abs((x0 + x1) / 2 - 427) <= 1
    if anchor.startswith("top"):
        assert y0 == margin
    elif anchor.startswith("bottom"):
        assert y1 == 480 - margin
    else:
        assert abs((y0 + y1) / 2 - 240) <= 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"anchor": "middle"}, "anchor"),
        ({"width_frac": 0.07}, "width_frac"),
        ({"width_frac": 0.31}, "width_frac"),
        ({"opacity": 0.39}, "opacity"),
        ({"opacity": 1.01}, "opacity"),
        ({"margin_frac": -0.01}, "margin_frac"),
    ],
)
def test_placement_bounds_are_validated(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        Placement(**kwargs)


def test_composite_blends_inside_the_box_only(skins):
    skin = skins["playstation-03"]
    frame = np.full((480, 854, 3), 40, dtype=np.uint8)
    frame[::7] = 200  # some texture
    original = frame.copy()
    overlay = render_overlay(skin, noop(), 128)
    out, (x0, y0, x1, y1) = composite(frame, overlay, Placement("top-right", 0.15, 1.0))
    assert np.array_equal(frame, original)  # the input frame is left alone
    assert (x1 - x0, y1 - y0) == (128, overlay.shape[0])
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], original[outside])
    region, opaque = out[y0:y1, x0:x1], overlay[..., 3] == 255
    assert np.array_equal(region[opaque], overlay[..., :3][opaque])  # opaque pixels replace the frame
    transparent = overlay[..., 3] == 0
    assert np.array_equal(region[transparent], original[y0:y1, x0:x1][transparent])
    half, _ = composite(frame, overlay, Placement("top-right", 0.15, 0.5))
    expected = (original[y0:y1, x0:x1][opaque].astype(int) + overlay[..., :3][opaque]) / 2
    assert np.abs(half[y0:y1, x0:x1][opaque] - expected).max() <= 1


def test_draw_overlay_resizes_to_the_placement_width(skins):
    frame = np.zeros((720, 1280, 3), dtype=np.uint8)
    out, (x0, y0, x1, y1) = draw_overlay(frame, skins["generic-03"], noop(), Placement("bottom", 0.08), inplace=True)
    assert out is frame and x1 - x0 == round(0.08 * 1280)
    assert frame[y0:y1, x0:x1].any()
    with pytest.raises(ValueError, match="frame must be uint8"):
        composite(np.zeros((10, 10), np.uint8), render_overlay(skins["generic-03"], noop(), 8), Placement())


def test_overlay_lag_shows_actions_late():
    actions = np.zeros((5, ACTION_DIM), dtype=np.float32)
    actions[:, 0] = [1, 0, 1, 1, 0]
    lag = OverlayLag(2)
    shown = lag.shown_actions(actions)
    assert shown[:, 0].tolist() == [0, 0, 1, 0, 1]
    assert np.array_equal(lag.shown_action(actions, 4), actions[2])
    assert np.array_equal(lag.shown_action(actions, 1), noop())
    assert np.array_equal(OverlayLag(0).shown_actions(actions), actions)
    for bad in (-1, 3, 1.5):
        with pytest.raises(ValueError, match="frames: overlay lag"):
            OverlayLag(bad)
    with pytest.raises(ValueError, match="outside"):
        lag.shown_action(actions, 5)
