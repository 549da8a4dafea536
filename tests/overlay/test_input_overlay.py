"""An OBS input-overlay preset written here (JSON + an atlas drawn with numpy) imports and draws as the plugin does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from padflow.actions import AXIS_INDEX, BUTTON_INDEX, noop
from padflow.overlay.input_overlay import PresetWarning, import_preset
from padflow.overlay.sprite import render_sprite

BODY = (90, 90, 90, 255)
IDLE, PRESSED = (200, 0, 0, 255), (0, 200, 0, 255)
CAP, CAP_CLICKED = (0, 0, 200, 255), (200, 200, 0, 255)
# d-pad row: idle, then left, right, up, down, up-left, up-right, down-left, down-right (plugin order)
DPAD_COLOURS = [(10 + 25 * i, 255 - 25 * i, 128, 255) for i in range(9)]
TRIGGER_IDLE, TRIGGER_FULL = (60, 60, 0, 255), (250, 120, 0, 255)


def _atlas() -> np.ndarray:
    atlas = np.zeros((60, 140, 4), np.uint8)
    atlas[0:40, 0:100] = BODY  # texture [0, 0, 100, 40]
    atlas[42:48, 0:6] = IDLE  # button [0, 42, 6, 6]; pressed 3 px below: y 42 + 6 + 3 = 51
    atlas[51:57, 0:6] = PRESSED
    atlas[42:46, 10:14] = CAP  # stick cap [10, 42, 4, 4]; clicked cap at y 49
    atlas[49:53, 10:14] = CAP_CLICKED
    for i, colour in enumerate(DPAD_COLOURS):  # d-pad [20, 42, 5, 5]: sprite i at 20 + i * (5 + 3)
        atlas[42:47, 20 + 8 * i : 25 + 8 * i] = colour
    atlas[42:46, 100:104] = TRIGGER_IDLE  # analog trigger [100, 42, 4, 4], fills upwards
    atlas[49:53, 100:104] = TRIGGER_FULL
    return atlas


def _preset(tmp_path: Path, elements: list[dict]) -> Path:
    Image.fromarray(_atlas(), "RGBA").save(tmp_path / "pad.png")
    path = tmp_path / "pad.json"
    path.write_text(json.dumps({"overlay_width": 100, "overlay_height": 40, "flags": 6, "elements": elements}))
    return path


GAMEPAD = [
    {"type": 0, "id": "body", "pos": [0, 0], "mapping": [0, 0, 100, 40], "z_level": 0},
    {"type": 2, "id": "a", "pos": [70, 10], "mapping": [0, 42, 6, 6], "code": 0, "z_level": 1},
    {"type": 5, "id": "ls", "pos": [20, 20], "mapping": [10, 42, 4, 4], "side": 0, "stick_radius": 6, "z_level": 1},
    {"type": 8, "id": "dpad", "pos": [40, 20], "mapping": [20, 42, 5, 5], "z_level": 1},
    {"type": 6, "id": "lt", "pos": [5, 5], "mapping": [100, 42, 4, 4], "side": 0, "trigger_mode": False, "direction": 1, "z_level": 1},
]


def _render(skin, **held: float) -> np.ndarray:
    action = noop().copy()
    for name, value in held.items():
        action[BUTTON_INDEX[name] if name in BUTTON_INDEX else AXIS_INDEX[name]] = value
    return render_sprite(skin, action)


def test_preset_imports_and_draws_by_the_plugin_rules(tmp_path: Path) -> None:
    result = import_preset(_preset(tmp_path, GAMEPAD), tmp_path / "skins", skin_id="pad", scale=1)
    skin = result.skin
    assert (tmp_path / "skins" / "pad.json").is_file() and (tmp_path / "skins" / "pad.png").is_file()
    assert skin.size == (100, 40) and result.notes == ()
    # Controls the preset lacks are unobserved, not "not pressed".
    assert skin.observed == {"SOUTH", "LEFT_THUMB", "DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT", "LEFT_TRIGGER", "LEFT_X", "LEFT_Y"}

    rest = _render(skin)
    assert tuple(rest[10, 70]) == IDLE and tuple(rest[20, 20]) == CAP and tuple(rest[20, 40]) == DPAD_COLOURS[0]
    assert tuple(rest[5, 5]) == TRIGGER_IDLE
    # Pressed sprite: the same size, y + h + 3 below the idle one.
    assert tuple(_render(skin, SOUTH=1)[10, 70]) == PRESSED
    # Stick: cap at pos + axis * stick_radius (square travel; padflow's y is up, the plugin's down).
    moved = _render(skin, LEFT_X=1.0, LEFT_Y=1.0)
    assert tuple(moved[20 - 6, 20 + 6]) == CAP and tuple(moved[20, 20]) == BODY
    half = _render(skin, LEFT_X=-0.5)
    assert tuple(half[20, 20 - 3]) == CAP
    assert tuple(_render(skin, LEFT_THUMB=1)[20, 20]) == CAP_CLICKED
    # D-pad: sprite index per direction, u + i * (w + 3).
    for held, index in ((("DPAD_LEFT",), 1), (("DPAD_RIGHT",), 2), (("DPAD_UP",), 3), (("DPAD_DOWN",), 4),
                        (("DPAD_UP", "DPAD_LEFT"), 5), (("DPAD_UP", "DPAD_RIGHT"), 6), (("DPAD_DOWN", "DPAD_LEFT"), 7),
                        (("DPAD_DOWN", "DPAD_RIGHT"), 8)):  # fmt: skip
        assert tuple(_render(skin, **dict.fromkeys(held, 1))[22, 42]) == DPAD_COLOURS[index], held
    # Analog trigger: the pressed sprite over the idle one, filling upwards from the bottom edge.
    full = _render(skin, LEFT_TRIGGER=1)
    assert tuple(full[5, 5]) == TRIGGER_FULL and tuple(full[8, 8]) == TRIGGER_FULL


def test_unsupported_elements_are_skipped_with_a_warning(tmp_path: Path) -> None:
    elements = [*GAMEPAD, {"type": 1, "id": "w", "pos": [0, 0], "mapping": [0, 42, 6, 6], "code": 17},
                {"type": 2, "id": "touchpad", "pos": [80, 10], "mapping": [0, 42, 6, 6], "code": 20}]  # fmt: skip
    with pytest.warns(PresetWarning) as caught:
        result = import_preset(_preset(tmp_path, elements), tmp_path / "skins", skin_id="pad", scale=1)
    messages = [str(w.message) for w in caught]
    assert any("elements[5] ('w', keyboard key) skipped" in m for m in messages)
    assert any("elements[6] ('touchpad', gamepad button) skipped" in m and "TOUCHPAD" in m for m in messages)
    assert len(result.notes) == 2 and "SOUTH" in result.skin.observed


@pytest.mark.parametrize("button_first", [True, False])
def test_a_stick_click_lit_by_a_button_element_too_draws_both(tmp_path: Path, button_first: bool) -> None:
    """The plugin draws a stick's clicked cap and a button element of the same click (input-overlay's Xbox KBA presets: the well lights up under the cap); both are kept, in either element order."""
    l3 = {"type": 2, "id": "l3", "pos": [14, 14], "mapping": [0, 42, 6, 6], "code": 7, "z_level": 1}  # LEFT_THUMB, under the cap
    stick = GAMEPAD[2]
    elements = [GAMEPAD[0], l3, stick] if button_first else [GAMEPAD[0], stick, l3]
    result = import_preset(_preset(tmp_path, elements), tmp_path / "skins", skin_id="pad", scale=1)
    skin = result.skin
    assert result.notes == () and {"LEFT_THUMB", "LEFT_X", "LEFT_Y"} <= skin.observed
    clicked = _render(skin, LEFT_THUMB=1)
    assert tuple(clicked[14, 14]) == PRESSED and tuple(clicked[20, 20]) == CAP_CLICKED  # the button lit and the cap clicked
    assert tuple(_render(skin)[14, 14]) == IDLE
    x0, y0, x1, y1 = skin.regions()["LEFT_THUMB"]  # both places the click shows
    assert (x0, y0) == (14, 14) and x1 >= 30 and y1 >= 30


def test_an_analog_trigger_whose_pressed_sprite_is_empty_is_unobserved(tmp_path: Path) -> None:
    """A press it can never show is no label: the trigger is drawn at rest and marked unobserved (input-overlay's gamecube preset)."""
    elements = [*GAMEPAD, {"type": 6, "id": "rt", "pos": [60, 5], "mapping": [110, 42, 4, 4], "side": 1, "trigger_mode": False, "direction": 1}]
    atlas = _atlas()
    atlas[42:46, 110:114] = TRIGGER_IDLE  # idle drawn; the pressed sprite below it (y 49) left empty
    path = _preset(tmp_path, elements)
    Image.fromarray(atlas, "RGBA").save(tmp_path / "pad.png")
    with pytest.warns(PresetWarning, match=r"elements\[5\] \('rt', trigger\): its pressed sprite .* is empty"):
        skin = import_preset(path, tmp_path / "skins", skin_id="pad", scale=1).skin
    assert "RIGHT_TRIGGER" not in skin.observed and "LEFT_TRIGGER" in skin.observed
    assert tuple(_render(skin)[5, 60]) == TRIGGER_IDLE  # still part of the picture


def test_two_buttons_drawn_as_one_picture_at_one_place_are_unobserved_with_a_warning(tmp_path: Path) -> None:
    """input-overlay's n64-pixel preset draws B and Y as one sprite at one place: no video says which was pressed."""
    b = {"type": 2, "id": "b", "pos": [80, 10], "mapping": [120, 42, 6, 6], "code": 1}
    y = {"type": 2, "id": "y", "pos": [80, 10], "mapping": [120, 42, 6, 6], "code": 2}
    path = _preset(tmp_path, [*GAMEPAD, b, y])
    atlas = _atlas()
    atlas[51:57, 120:126] = PRESSED  # idle transparent (nothing drawn at rest, as the pixel presets do), pressed lit
    Image.fromarray(atlas, "RGBA").save(tmp_path / "pad.png")
    with pytest.warns(PresetWarning, match="EAST is unobserved in every table: drawn exactly as WEST"):
        result = import_preset(path, tmp_path / "skins", skin_id="pad", scale=1)
    assert {"EAST", "WEST"} <= result.skin.observed  # still drawn: the picture lights when either is pressed
    assert sum("unobserved in every table" in note for note in result.notes) == 2


def test_malformed_preset_names_the_file_and_the_element(tmp_path: Path) -> None:
    broken = [dict(e) for e in GAMEPAD]
    del broken[2]["stick_radius"]
    path = _preset(tmp_path, broken)
    with pytest.raises(ValueError, match=r"pad\.json: elements\[2\] \('ls'\): stick_radius: missing"):
        import_preset(path, tmp_path / "skins", scale=1)
    broken[2]["stick_radius"] = 6
    broken[1]["mapping"] = [0, 42, 6]
    with pytest.raises(ValueError, match=r"pad\.json: elements\[1\] \('a'\): mapping: expected \[u, v, w, h\]"):
        import_preset(_preset(tmp_path, broken), tmp_path / "skins", scale=1)
    assert not (tmp_path / "skins").exists()


def test_import_command_writes_the_skin_and_names_what_it_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from padflow.cli import main

    elements = [*GAMEPAD, {"type": 3, "id": "lmb", "pos": [0, 0], "mapping": [0, 42, 6, 6], "code": 1}]
    assert main(["skins", "import-input-overlay", str(_preset(tmp_path, elements)), "--out", str(tmp_path / "skins"), "--id", "pad", "--scale", "1"]) == 0
    out, err = capsys.readouterr()
    assert "pad.json: 100x40 px" in out and "9/21 controls drawn, 12 unobserved" in out
    assert "warning: elements[5] ('lmb', mouse button) skipped" in err
    assert main(["skins", "import-input-overlay", str(tmp_path / "missing.json"), "--out", str(tmp_path / "skins")]) != 0
    assert "missing.json: preset file not found" in capsys.readouterr().err


def test_import_command_warns_when_extract_could_never_find_the_overlay(tmp_path: Path, capsys: pytest.CaptureFixture[str], smooth_sprites) -> None:
    from padflow.cli import main

    n = smooth_sprites[0].shape[0]
    atlas = np.zeros((n, 9 * (n + 3), 4), np.uint8)  # the d-pad's sprites at u + i * (w + 3)
    for i, sprite in enumerate(smooth_sprites):
        atlas[:, i * (n + 3) : i * (n + 3) + n] = sprite
    Image.fromarray(atlas, "RGBA").save(tmp_path / "stick.png")
    preset = tmp_path / "stick.json"
    preset.write_text(json.dumps({"overlay_width": n, "overlay_height": n, "elements": [{"type": 8, "id": "stick", "pos": [0, 0], "mapping": [0, 0, n, n]}]}))
    assert main(["skins", "import-input-overlay", str(preset), "--out", str(tmp_path / "skins")]) == 0  # the conversion itself is fine
    assert "warning: extract cannot find this overlay" in capsys.readouterr().err and (tmp_path / "skins" / "stick.json").is_file()
