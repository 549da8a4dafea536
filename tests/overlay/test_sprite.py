"""Sprite skins: the layout round trip, how each layer type draws, observed controls, and loader errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from padflow.actions import ACTION_DIM, BUTTON_INDEX, BUTTONS, action_from_dict, noop
from padflow.overlay.library import load_any_skin
from padflow.overlay.render import composite, Placement, render_overlay, render_overlay_crop
from padflow.overlay.sprite import SpriteSkin, compose, layer_dict, to_rgba, write_sprite_skin

UNDRAWN = {"START", "BACK", "GUIDE", "RIGHT_SHOULDER", "LEFT_TRIGGER", "RIGHT_THUMB"}


@pytest.fixture(scope="module")
def skin(tmp_path_factory: pytest.TempPathFactory, make_sprite_skin) -> SpriteSkin:
    return load_any_skin(make_sprite_skin(tmp_path_factory.mktemp("sprite")))


def _layer(skin: SpriteSkin, kind: str, side: str = "") -> object:
    return next(layer for layer in skin.layers if type(layer).__name__ == kind and getattr(layer, "side", "") == side)


def _random_actions(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    actions = np.zeros((n, ACTION_DIM), dtype=np.float32)
    actions[:, :17] = rng.random((n, 17)) < 0.4
    actions[:, 17:] = rng.uniform(-1, 1, (n, 4))
    return actions


def test_round_trip_same_layout_same_pixels(skin: SpriteSkin, tmp_path: Path) -> None:
    again = write_sprite_skin(tmp_path, skin.id, skin.family, skin.size, skin.atlas, skin.layers)
    assert json.loads(again.layout_path.read_text()) == json.loads(skin.layout_path.read_text())
    assert again.layers == skin.layers and np.array_equal(again.atlas, skin.atlas)
    assert np.array_equal(again.rest, skin.rest)
    for action in _random_actions(12):
        for width in (None, 57, 96, 240):
            assert np.array_equal(render_overlay(again, action, width), render_overlay(skin, action, width))


def test_rest_is_the_neutral_action_and_drawn_controls_change_pixels(skin: SpriteSkin) -> None:
    assert np.array_equal(render_overlay(skin, noop()), skin.rest)
    assert skin.rest.shape == (skin.size[1], skin.size[0], 4) and not skin.rest.flags.writeable
    regions = skin.regions()
    for name in BUTTONS:
        shown = render_overlay(skin, action_from_dict({name: 1}))
        changed = (shown != skin.rest).any(axis=-1)
        if name in UNDRAWN:
            assert not changed.any(), f"{name} is not drawn by this skin, yet the render changed"
            continue
        # a d-pad state swaps the whole pad's sprite: its directions' regions are halves of that box
        boxes = [regions[d] for d in ("DPAD_UP", "DPAD_DOWN")] if name.startswith("DPAD") else [regions[name]]
        x0, y0, x1, y1 = (int(v) for v in (boxes[0][0], boxes[0][1], boxes[-1][2], boxes[-1][3]))
        outside = changed.copy()
        outside[y0:y1, x0:x1] = False
        assert changed.any() and not outside.any(), f"{name}: pressed look must change pixels inside its region only"


def test_observed_controls_and_regions(skin: SpriteSkin) -> None:
    assert skin.observed == frozenset(BUTTONS) - UNDRAWN | {"LEFT_X", "LEFT_Y", "RIGHT_X", "RIGHT_Y"}
    assert set(skin.regions()) == skin.observed
    w, h = skin.size
    assert all(0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h for x0, y0, x1, y1 in skin.regions().values())


def test_stick_cap_moves_by_axis_times_travel(skin: SpriteSkin) -> None:
    left, right = _layer(skin, "StickLayer", "left"), _layer(skin, "StickLayer", "right")
    cap = skin.sprite(left.cap)
    (x, y), t = left.pos, int(left.travel)
    shown = render_overlay(skin, action_from_dict({"j_left": (1, 0)}))
    assert np.array_equal(shown[y : y + 10, x + t : x + t + 10], cap)  # x right
    shown = render_overlay(skin, action_from_dict({"j_left": (0, 1)}))
    assert np.array_equal(shown[y - t : y - t + 10, x : x + 10], cap)  # y up on screen
    clicked = render_overlay(skin, action_from_dict({"LEFT_THUMB": 1}))
    assert np.array_equal(clicked[y : y + 10, x : x + 10], skin.sprite(left.cap_pressed))
    # square travel: a corner reaches travel on both axes; round travel stays on the disc
    (x, y), t = right.pos, int(right.travel)
    shown = render_overlay(skin, action_from_dict({"j_right": (1, -1)}))
    assert np.array_equal(shown[y + t : y + t + 10, x + t : x + t + 10], skin.sprite(right.cap))
    assert left.offset(1.0, 1.0) == pytest.approx((left.travel / 2**0.5, -left.travel / 2**0.5))
    assert right.offset(1.0, 1.0) == pytest.approx((right.travel, -right.travel))


def _blown_up(skin: SpriteSkin, folder: Path, k: int) -> SpriteSkin:
    """`skin` as pixel art shown k times larger: every pixel a k-px block, pixel_size k."""
    times = lambda numbers: None if numbers is None else [n * k for n in numbers]  # noqa: E731
    layers = []
    for layer in map(layer_dict, skin.layers):
        for key in ("sprite", "pos", "idle", "pressed", "cap", "cap_pressed"):
            if key in layer:
                layer[key] = times(layer[key])
        if "sprites" in layer:
            layer["sprites"] = {state: times(rect) for state, rect in layer["sprites"].items()}
        if "travel" in layer:
            layer["travel"] *= k
        layers.append(layer)
    atlas = np.repeat(np.repeat(skin.atlas, k, axis=0), k, axis=1)
    return write_sprite_skin(folder, skin.id, skin.family, (skin.size[0] * k, skin.size[1] * k), atlas, layers, pixel_size=k)


def test_pixel_art_moves_in_whole_blocks_as_if_drawn_small_and_scaled_up(skin: SpriteSkin, tmp_path: Path) -> None:
    # OBS input-overlay draws a pixel preset at its own size (a cap between two pixels is both at part strength)
    # and scales it up by point filtering: the skin with pixel_size k must show exactly that.
    k = 3
    big = _blown_up(skin, tmp_path, k)
    assert big.pixel_size == k and json.loads(big.layout_path.read_text())["pixel_size"] == k
    actions = _random_actions(8, seed=3)
    actions[:, BUTTON_INDEX["RIGHT_TRIGGER"]] = np.linspace(0.1, 0.9, len(actions))  # analog values crop in blocks
    for action in actions:
        small = compose(skin, action)
        assert np.allclose(compose(big, action), np.repeat(np.repeat(small, k, axis=0), k, axis=1), atol=1e-6)
    # a one-block move of a third: the cap's blocks at two-thirds strength, never a block shifted by one skin px
    left = _layer(big, "StickLayer", "left")
    third = compose(big, action_from_dict({"j_left": (1 / 3 / left.travel * k, 0)}))
    assert np.array_equal(third[::k, ::k].repeat(k, axis=0).repeat(k, axis=1), third)


@pytest.mark.parametrize("k", [1, 3])
def test_a_crop_of_a_render_draws_the_same_pixels_as_the_whole_render(skin: SpriteSkin, tmp_path: Path, k: int) -> None:
    """The look reader draws hundreds of states of one control's box: drawing only the box must change no pixel."""
    big = _blown_up(skin, tmp_path, k) if k > 1 else skin
    w = big.size[0]
    for width in (None, w, round(w * 0.37), round(w * 0.8), w + 7):
        for action in _random_actions(6, seed=k):
            whole = render_overlay(big, action, width)
            h_out, w_out = whole.shape[:2]
            for box in ((0, 0, w_out, h_out), (3, 5, w_out // 2 + 1, h_out // 3 + 2), (w_out // 3, h_out // 2, w_out - 1, h_out)):
                x0, y0, x1, y1 = box
                crop = render_overlay_crop(big, action, width, box)
                assert crop.shape == whole[y0:y1, x0:x1].shape
                assert np.abs(crop.astype(int) - whole[y0:y1, x0:x1].astype(int)).max() <= 1, (width, box)  # float order only


def test_pixel_size_needs_every_sprite_on_its_block_grid(skin: SpriteSkin, tmp_path: Path) -> None:
    big = _blown_up(skin, tmp_path / "big", 2)
    path = _edited(big.layout_path, tmp_path, lambda d: d["layers"][1].update(pos=[93, 36]))
    with pytest.raises(ValueError, match=rf"^{path}: layers\[1\]\.pos: \[93, 36\] is not on the 2-px block grid"):
        load_any_skin(path)
    (tmp_path / "zero").mkdir()
    path = _edited(big.layout_path, tmp_path / "zero", lambda d: d.update(pixel_size=0))
    with pytest.raises(ValueError, match=r"pixel_size: expected an integer >= 1"):
        load_any_skin(path)


def test_dpad_shows_one_sprite_per_state_including_diagonals(skin: SpriteSkin) -> None:
    dpad = _layer(skin, "DpadLayer")
    x, y = dpad.pos
    cases = {("DPAD_UP", "DPAD_RIGHT"): "up_right", ("DPAD_DOWN", "DPAD_LEFT"): "down_left", ("DPAD_DOWN",): "down",
             ("DPAD_UP", "DPAD_DOWN"): "up", (): "idle"}  # fmt: skip
    for held, state in cases.items():
        shown = render_overlay(skin, action_from_dict(dict.fromkeys(held, 1)))
        assert np.array_equal(shown[y : y + 10, x : x + 10], skin.sprite(dpad.sprite(state))), held


def test_analog_trigger_fills_by_value_along_its_direction(skin: SpriteSkin) -> None:
    trigger = _layer(skin, "TriggerLayer")
    assert trigger.mode == "analog" and trigger.direction == "up"
    x, y = trigger.pos
    half = noop()
    half[BUTTON_INDEX[trigger.control]] = 0.5  # an analog value (tables hold 0/1; the drawing takes any)
    shown = to_rgba(compose(skin, half))
    assert np.array_equal(shown[y + 5 : y + 10, x : x + 10], skin.sprite(trigger.pressed)[5:])  # bottom half pressed
    assert np.array_equal(shown[y : y + 5, x : x + 10], skin.sprite(trigger.idle)[:5])


def test_sprite_overlay_composites_onto_a_frame(skin: SpriteSkin) -> None:
    frame = np.full((480, 854, 3), 30, dtype=np.uint8)
    out, (x0, y0, x1, y1) = composite(frame, render_overlay(skin, noop(), 128), Placement("top-right", 0.15, 1.0))
    assert (x1 - x0, y1 - y0) == (128, 68) and (out[y0:y1, x0:x1] != 30).any()


def _edited(source: Path, tmp_path: Path, edit) -> Path:
    folder = tmp_path / "edited"
    folder.mkdir()
    shutil.copy(source.with_suffix(".png"), folder / source.with_suffix(".png").name)
    layout = json.loads(source.read_text())
    edit(layout)
    (folder / source.name).write_text(json.dumps(layout))
    return folder / source.name


def _dpad(layout: dict) -> dict:
    return next(layer for layer in layout["layers"] if layer["type"] == "dpad")


@pytest.mark.parametrize(
    ("edit", "key", "reason"),
    [
        (lambda d: _dpad(d)["sprites"].pop("up_left"), "layers[7].sprites", "missing field(s) up_left"),
        (lambda d: d["layers"][1].update(pressed=[150, 60, 10, 10]), "layers[1].pressed", "outside the 160x64 atlas"),
        (lambda d: d["layers"][2].update(pos=[115, 24]), "layers[2].idle", "outside the 120x64 image"),
        (lambda d: d["layers"][1].update(control="TURBO"), "layers[1].control", "'TURBO' is not a button"),
        (lambda d: d["layers"][2].update(control="SOUTH"), "layers[2]", "SOUTH is already drawn by layers[1]"),
        (lambda d: d["layers"][-1].update(travel=40), "layers[9].travel", "outside the 120x64 image"),
        (lambda d: d["layers"][-1].update(travel_shape="hex"), "layers[9].travel_shape", "'hex' is not one of round, square"),
        (lambda d: d["layers"][5].update(direction="in"), "layers[5].direction", "'in' is not one of up, down, left, right"),
        (lambda d: d["layers"].append({"type": "keyboard"}), "layers[10].type", "'keyboard' is not one of"),
        (lambda d: d.update(atlas="missing.png"), "atlas", "missing.png not found"),
        (lambda d: d.update(held_out="yes"), "held_out", "expected true or false"),
        (lambda d: d.update(format_version=3), "format_version", "3 is not supported"),
    ],
)
def test_loader_errors_name_the_file_and_the_key(skin: SpriteSkin, tmp_path: Path, edit, key: str, reason: str) -> None:
    path = _edited(skin.layout_path, tmp_path, edit)
    with pytest.raises(ValueError) as err:
        load_any_skin(path)
    assert str(err.value).startswith(f"{path}: {key}: ") and reason in str(err.value), str(err.value)


def test_write_validates_before_writing(skin: SpriteSkin, tmp_path: Path) -> None:
    layers = [layer_dict(layer) for layer in skin.layers]
    layers[1]["pressed"] = [0, 0, 500, 10]
    with pytest.raises(ValueError, match=r"layers\[1\]\.pressed"):
        write_sprite_skin(tmp_path, "bad-pad", "generic", skin.size, skin.atlas, layers)
    assert not list(tmp_path.iterdir())
