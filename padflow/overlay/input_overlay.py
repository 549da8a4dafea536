"""Import an OBS input-overlay preset (univrsal/input-overlay) as a padflow sprite skin.

A preset is a JSON element list plus a texture atlas PNG. The rules below were read from the
plugin's source at commit 49491ab20449507ec679037fb0eb9f0dca420eee (June 2026); paths are in that
repository. Nothing of the plugin (code, images, presets) is part of padflow: the user's own preset
and atlas are converted at run time, and the atlas (a copy cropped to the sprites used, padded,
possibly upscaled) is written into the user's skin folder.

Preset file (src/util/overlay.cpp:253-270): `overlay_width` / `overlay_height` are the source size;
`elements` are loaded in array order, and drawn in that order (overlay.cpp:325-331): the plugin
never reads `z_level` (defined in deps/common/layout_constants.h:45, read nowhere in src/), so the
skin's layers keep the array order. Element types (layout_constants.h:97-109): 0 texture,
1 keyboard key, 2 gamepad button, 3 mouse button, 4 wheel, 5 analog stick, 6 trigger, 7 gamepad
id, 8 d-pad, 9 mouse movement; any other type is ignored (overlay.cpp:416-418).

Every element has `pos` [x, y] (top-left on the canvas, element.cpp:48-53) and `mapping`
[u, v, w, h] in the atlas (element.cpp:39-46); sprites are drawn unscaled at pos
(element_texture.cpp:52-65). CFG_INNER_BORDER = 3 px separates sprites (layout_constants.h:22):
- texture: the mapping, always (element_texture.cpp:41-45).
- gamepad button: `code` is an SDL gamepad button (element_button.cpp:27;
  deps/sdl3/include/SDL3/SDL_gamepad.h:147-177: 0 SOUTH, 1 EAST, 2 WEST, 3 NORTH, 4 BACK, 5 GUIDE, 6 START, 7 LEFT_STICK, 8 RIGHT_STICK,
  9 LEFT_SHOULDER, 10 RIGHT_SHOULDER, 11-14 DPAD_UP/DOWN/LEFT/RIGHT, 15+ MISC1, paddles, touchpad).
  The pressed sprite is the same size directly below the idle one, at v + h + 3
  (element_button.cpp:28-29); pressed replaces idle (element_button.cpp:53-59).
  Presets older than the plugin's switch to SDL use codes 0xEC00 + n; the plugin's own config
  tool converts them (docs/cct/js/vc.js:343-357, main.js:27-36) and so does this importer (with a
  warning); the plugin itself would never light them (input_data.hpp:58 holds 26 buttons).
- analog stick: `side` 0 left / 1 right, `stick_radius` px. The cap is drawn at
  pos + axis * radius on each axis independently (square travel), SDL axes are -1..1 with y
  growing down (element_analog_stick.cpp:34-48; sdl_gamepad.cpp:11); the pressed cap (below the
  idle one, v + h + 3) replaces it while that stick's button (7 / 8) is held (lines 29-31, 37).
- trigger: `side` 0 left / 1 right. `trigger_mode` true: pressed replaces idle once the trigger
  reads >= 0.1 (element_trigger.cpp:58-62). Otherwise idle is drawn, then the pressed sprite
  cropped to value * extent along `direction` 1 up (grows from the bottom edge), 2 down, 3 left
  (grows from the right edge), 4 right (lines 63-69, 72-93; enum at layout_constants.h:93). With
  another direction nothing is cropped, so the full pressed sprite always shows.
- d-pad: nine sprites in a row: the mapping is the idle one, then left, right, up, down, up-left,
  up-right, down-left, down-right at u + i * (w + 3), i = 1..8 (element_dpad.cpp:26-36,
  element_dpad.hpp:31-44); exactly one is drawn (lines 38-80).
- gamepad id: sprites at u + i * (w + 3); with the guide button held the one at i = 4 is drawn,
  then the player's: i = 1 for player one (element_gamepad_id.cpp:25-45); the mapping (i = 0) is
  never drawn. The importer draws player one.
Atlases are loaded premultiplied and blended ONE / INVSRCALPHA (overlay.cpp:289-290,
element_texture.cpp:54-56): ordinary "over" compositing of the straight-alpha PNG. A sprite
rectangle that reaches past the atlas is sampled with clamped addressing (OBS's default effect),
so the importer pads the atlas copy by repeating its edge pixels, with a warning. Sprites may
reach past the declared source size (OBS does not clip a source unless a scale filter renders it
to a texture): the skin's canvas is the union of the declared size and every element's extent.

Mapping onto padflow's sprite skin (padflow.overlay.sprite): texture → static layer, gamepad
button → button layer, stick → stick layer (square travel, its clicked cap kept also where a button
element lights up for the same click: the plugin draws both), trigger → trigger layer (an analog one
with no direction → two static layers; an analog one whose pressed sprite is empty, which never
shows a press → its idle sprite as a static layer, the trigger unobserved), d-pad → dpad layer, gamepad id → a GUIDE button (no idle
sprite) under a static player-one sprite. Controls the preset does not draw are unobserved, and so are those it
draws so that no video can show them (padflow.overlay.readable: a press that draws nothing, buttons drawn as one).
Keyboard, mouse and unknown elements, buttons padflow has no name for (MISC, paddles, touchpad)
and a second element for a control already drawn are skipped with a `PresetWarning` naming each;
the idle sprite of a skipped button or key stays as a static picture (the plugin draws it at rest).
Pixel-art presets (a few dozen px) are upscaled by an integer factor, nearest neighbour, as the
presets' READMEs ask streamers to show them (point filtering), and the skin's `pixel_size` is that
factor: the plugin draws a stick cap at its sub-pixel position on the preset's own canvas
(bilinear) before OBS scales it up, so a one-pixel cap a third of the way to its next pixel shows
as two blocks at two-thirds and one-third strength, which is how padflow then draws it too.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from padflow.overlay.readable import unreadable_controls
from padflow.overlay.sprite import SpriteSkin, write_sprite_skin

INNER_BORDER = 3  # px between sprites in an input-overlay atlas (CFG_INNER_BORDER)
ELEMENT_TYPES: dict[int, str] = {
    0: "texture", 1: "keyboard key", 2: "gamepad button", 3: "mouse button", 4: "mouse wheel",
    5: "analog stick", 6: "trigger", 7: "gamepad id", 8: "d-pad", 9: "mouse movement",
}  # fmt: skip
ET_TEXTURE, ET_KEYBOARD_KEY, ET_GAMEPAD_BUTTON, ET_MOUSE_BUTTON, ET_ANALOG_STICK, ET_TRIGGER, ET_GAMEPAD_ID, ET_DPAD = 0, 1, 2, 3, 5, 6, 7, 8
# SDL3 gamepad button index → padflow button name; the other SDL buttons have no padflow name.
SDL_BUTTONS: dict[int, str] = {
    0: "SOUTH", 1: "EAST", 2: "WEST", 3: "NORTH", 4: "BACK", 5: "GUIDE", 6: "START", 7: "LEFT_THUMB",
    8: "RIGHT_THUMB", 9: "LEFT_SHOULDER", 10: "RIGHT_SHOULDER", 11: "DPAD_UP", 12: "DPAD_DOWN",
    13: "DPAD_LEFT", 14: "DPAD_RIGHT",
}  # fmt: skip
SDL_OTHER_BUTTONS: dict[int, str] = {
    15: "MISC1", 16: "RIGHT_PADDLE1", 17: "LEFT_PADDLE1", 18: "RIGHT_PADDLE2", 19: "LEFT_PADDLE2",
    20: "TOUCHPAD", 21: "MISC2", 22: "MISC3", 23: "MISC4", 24: "MISC5", 25: "MISC6",
}  # fmt: skip
# Pre-SDL codes (0xEC00 + n) → SDL index, as the plugin's config tool converts them.
LEGACY_PAD_CODES: dict[int, int] = {
    0xEC00: 0, 0xEC01: 1, 0xEC02: 2, 0xEC03: 3, 0xEC04: 9, 0xEC05: 10, 0xEC06: 4, 0xEC07: 6,
    0xEC08: 5, 0xEC09: 7, 0xEC0A: 8, 0xEC0B: 13, 0xEC0C: 14, 0xEC0D: 11, 0xEC0E: 12,
}  # fmt: skip
STICK_SIDES: dict[int, str] = {0: "left", 1: "right"}
STICK_CONTROLS: dict[str, tuple[str, str, str]] = {"left": ("LEFT_X", "LEFT_Y", "LEFT_THUMB"), "right": ("RIGHT_X", "RIGHT_Y", "RIGHT_THUMB")}
TRIGGER_CONTROLS: dict[int, str] = {0: "LEFT_TRIGGER", 1: "RIGHT_TRIGGER"}
TRIGGER_DIRECTIONS: dict[int, str] = {1: "up", 2: "down", 3: "left", 4: "right"}
# d-pad sprite i (1..8) after the idle one, in the plugin's order
DPAD_STRIP: tuple[str, ...] = ("left", "right", "up", "down", "up_left", "up_right", "down_left", "down_right")
GAMEPAD_ID_PLAYER_ONE, GAMEPAD_ID_GUIDE = 1, 4  # strip indices of the gamepad id element
# Pixel-art presets are a few dozen px: upscale them (nearest neighbour) until the longer side
# reaches this, so localization finds features at template scale and crops hold whole pixels.
MIN_IMPORT_LONG_SIDE = 192  # px
_SLUG = re.compile(r"[^a-z0-9_-]+")


class PresetWarning(UserWarning):
    """An element of an input-overlay preset that the import skipped or changed, named."""


@dataclass(frozen=True)
class PresetElement:
    """One element of a preset, validated; coordinates in preset px."""

    index: int
    id: str
    type: int
    pos: tuple[int, int]
    mapping: tuple[int, int, int, int]
    code: int | None = None  # gamepad button
    side: int | None = None  # stick, trigger
    radius: int | None = None  # stick
    button_mode: bool | None = None  # trigger
    direction: int | None = None  # trigger (analog mode)

    @property
    def label(self) -> str:
        return f"elements[{self.index}] ({self.id!r}, {ELEMENT_TYPES.get(self.type, f'type {self.type}')})"


@dataclass(frozen=True)
class Preset:
    path: Path
    size: tuple[int, int]  # declared source size (overlay_width, overlay_height)
    elements: tuple[PresetElement, ...]


@dataclass(frozen=True)
class ImportResult:
    skin: SpriteSkin
    atlas_source: Path
    scale: int  # integer upscale applied to the preset (1: none)
    offset: tuple[int, int]  # preset px (0, 0) lands at offset * scale on the skin canvas
    notes: tuple[str, ...]  # every warning issued: skipped elements, converted codes, padded atlas


def pressed_rect(mapping: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The pressed sprite: same size, directly below the idle one (v + h + 3)."""
    u, v, w, h = mapping
    return (u, v + h + INNER_BORDER, w, h)


def strip_rect(mapping: tuple[int, int, int, int], i: int) -> tuple[int, int, int, int]:
    """Sprite i of a row (d-pad, gamepad id): u + i * (w + 3)."""
    u, v, w, h = mapping
    return (u + i * (w + INNER_BORDER), v, w, h)


def read_preset(path: str | Path) -> Preset:
    """Read and validate a preset JSON; ValueError names the file, the element (index and id) and the key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: preset file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON preset: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: (top level): expected a JSON object")
    size = []
    for key in ("overlay_width", "overlay_height"):
        value = data.get(key)
        if not _integral(value) or value < 1:
            raise ValueError(f"{path}: {key}: expected a positive integer, got {value!r}")
        size.append(int(value))
    elements = data.get("elements")
    if not isinstance(elements, list) or not elements:
        raise ValueError(f"{path}: elements: expected a non-empty list of elements")
    return Preset(path, (size[0], size[1]), tuple(_element(path, i, e) for i, e in enumerate(elements)))


def _element(path: Path, index: int, obj: Any) -> PresetElement:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: elements[{index}]: expected an object, got {type(obj).__name__}")
    name = obj.get("id", "")
    where = f"{path}: elements[{index}] ({name!r})"
    etype = obj.get("type")
    if not _integral(etype):
        raise ValueError(f"{where}: type: expected an integer element type, got {etype!r}")
    etype = int(etype)

    def need(key: str) -> Any:
        if key not in obj:
            raise ValueError(f"{where}: {key}: missing (required for {ELEMENT_TYPES.get(etype, 'these')} elements)")
        return obj[key]

    def integer(key: str, low: int, high: float = math.inf) -> int:
        value = need(key)
        if not _integral(value) or not low <= value <= high:
            raise ValueError(f"{where}: {key}: expected an integer in [{low}, {high:g}], got {value!r}")
        return int(value)

    if etype not in (ET_TEXTURE, ET_KEYBOARD_KEY, ET_GAMEPAD_BUTTON, ET_MOUSE_BUTTON, ET_ANALOG_STICK, ET_TRIGGER, ET_GAMEPAD_ID, ET_DPAD):
        return PresetElement(index, str(name), etype, (0, 0), (0, 0, 1, 1))  # skipped later: nothing of it is read
    pos = need("pos")
    if not (isinstance(pos, list) and len(pos) == 2 and all(_number(v) for v in pos)):
        raise ValueError(f"{where}: pos: expected [x, y] numbers, got {pos!r}")
    if any(v != round(v) for v in pos):
        raise ValueError(f"{where}: pos: {pos} is not on whole pixels; padflow places sprites on whole pixels")
    mapping = need("mapping")
    if not (isinstance(mapping, list) and len(mapping) == 4 and all(_integral(v) for v in mapping)):
        raise ValueError(f"{where}: mapping: expected [u, v, w, h] integers, got {mapping!r}")
    if mapping[0] < 0 or mapping[1] < 0 or mapping[2] < 1 or mapping[3] < 1:
        raise ValueError(f"{where}: mapping: {mapping} needs u, v >= 0 and w, h >= 1")
    fields: dict[str, Any] = {}
    if etype == ET_GAMEPAD_BUTTON:
        fields["code"] = integer("code", 0, 0xFFFF)
    elif etype == ET_ANALOG_STICK:
        fields.update(side=integer("side", 0, 1), radius=integer("stick_radius", 0))
    elif etype == ET_TRIGGER:
        mode = need("trigger_mode")
        if not isinstance(mode, bool):
            raise ValueError(f"{where}: trigger_mode: expected true (button) or false (analog), got {mode!r}")
        fields.update(side=integer("side", 0, 1), button_mode=mode)
        if not mode:
            fields["direction"] = integer("direction", 0, 0xFFFF)
    return PresetElement(index, str(name), etype, (int(pos[0]), int(pos[1])), tuple(int(v) for v in mapping), **fields)  # type: ignore[arg-type]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integral(value: Any) -> bool:
    return _number(value) and value == int(value)


def find_atlas(preset_path: str | Path) -> Path:
    """The atlas beside a preset: `<stem>.png`, else the folder's only PNG; ValueError when it is ambiguous."""
    preset_path = Path(preset_path)
    same = preset_path.with_suffix(".png")
    if same.is_file():
        return same
    pngs = sorted(preset_path.parent.glob("*.png"))
    if len(pngs) == 1:
        return pngs[0]
    if not pngs:
        raise ValueError(f"{preset_path}: no atlas PNG beside the preset; pass one with --atlas")
    raise ValueError(f"{preset_path}: several atlases beside the preset ({', '.join(p.name for p in pngs)}); choose one with --atlas")


def default_skin_id(preset_path: str | Path) -> str:
    """A skin id from the preset's file name: lower-case, other characters → '-'."""
    slug = _SLUG.sub("-", Path(preset_path).stem.lower()).strip("-_")
    if not slug:
        raise ValueError(f"{preset_path}: cannot make a skin id from the file name; pass one with --id")
    return slug


def convert_preset(preset: Preset, atlas: np.ndarray, scale: int | None = None) -> tuple[list[dict[str, Any]], tuple[int, int], np.ndarray, int, tuple[int, int], list[str]]:
    """Sprite-skin layers for a preset and its (h, w, 4) uint8 RGBA atlas.

    Returns (layers as JSON objects, canvas size, skin atlas, scale, offset, notes). Each note is
    also issued as a PresetWarning. ValueError when the preset draws no gamepad control.
    """
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        warnings.warn(f"{preset.path}: {message}", PresetWarning, stacklevel=3)

    drawn: dict[str, str] = {}  # control → label of the element that draws it
    layers: list[tuple[dict[str, Any], PresetElement]] = []

    def claim(element: PresetElement, controls: tuple[str, ...]) -> bool:
        taken = [c for c in controls if c in drawn]
        if taken:
            note(f"{element.label} skipped: {', '.join(taken)} already drawn by {drawn[taken[0]]}")
            return False
        drawn.update(dict.fromkeys(controls, element.label))
        return True

    for e in preset.elements:
        if e.type == ET_TEXTURE:
            layers.append(({"type": "static", "sprite": e.mapping, "pos": e.pos}, e))
        elif e.type == ET_GAMEPAD_BUTTON:
            control = _button_control(e, note)
            if control and claim(e, (control,)):
                layers.append(({"type": "button", "control": control, "pos": e.pos, "idle": e.mapping, "pressed": pressed_rect(e.mapping)}, e))
            else:  # the plugin still draws its idle sprite: part of the rest look
                layers.append(({"type": "static", "sprite": e.mapping, "pos": e.pos}, e))
        elif e.type == ET_ANALOG_STICK:
            side = STICK_SIDES[e.side]  # type: ignore[index]
            x_axis, y_axis, _ = STICK_CONTROLS[side]
            if not claim(e, (x_axis, y_axis)):
                continue
            # The plugin draws the clicked cap whenever the stick's click is held, also where a button
            # element lights up for that click (the Xbox KBA presets' well), so both are kept.
            layer = {"type": "stick", "side": side, "pos": e.pos, "cap": e.mapping, "travel": e.radius, "travel_shape": "square",
                     "cap_pressed": pressed_rect(e.mapping)}  # fmt: skip
            layers.append((layer, e))
        elif e.type == ET_TRIGGER:
            control = TRIGGER_CONTROLS[e.side]  # type: ignore[index]
            direction = None if e.button_mode else TRIGGER_DIRECTIONS.get(e.direction)  # type: ignore[arg-type]
            if not e.button_mode and direction is None:
                note(f"{e.label}: analog with direction {e.direction} never changes (the plugin always shows it pressed): drawn as two static sprites, {control} unobserved")
                layers.append(({"type": "static", "sprite": e.mapping, "pos": e.pos}, e))
                layers.append(({"type": "static", "sprite": pressed_rect(e.mapping), "pos": e.pos}, e))
            elif not e.button_mode and not _shows_anything(atlas, pressed_rect(e.mapping)):
                # Analog: the pressed sprite is drawn over the idle one, so an empty one never shows a press.
                note(f"{e.label}: its pressed sprite {list(pressed_rect(e.mapping))} is empty, so a press never shows: drawn as its idle sprite, {control} unobserved")
                layers.append(({"type": "static", "sprite": e.mapping, "pos": e.pos}, e))
            elif claim(e, (control,)):
                layers.append(({"type": "trigger", "control": control, "pos": e.pos, "idle": e.mapping, "pressed": pressed_rect(e.mapping),
                                "mode": "button" if e.button_mode else "analog", "direction": direction or "up"}, e))  # fmt: skip
        elif e.type == ET_DPAD:
            if claim(e, ("DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT")):
                sprites = {"idle": e.mapping, **{state: strip_rect(e.mapping, i) for i, state in enumerate(DPAD_STRIP, start=1)}}
                layers.append(({"type": "dpad", "pos": e.pos, "sprites": sprites}, e))
        elif e.type == ET_GAMEPAD_ID:
            if claim(e, ("GUIDE",)):
                layers.append(({"type": "button", "control": "GUIDE", "pos": e.pos, "idle": None, "pressed": strip_rect(e.mapping, GAMEPAD_ID_GUIDE)}, e))
            layers.append(({"type": "static", "sprite": strip_rect(e.mapping, GAMEPAD_ID_PLAYER_ONE), "pos": e.pos}, e))
        elif e.type in (ET_KEYBOARD_KEY, ET_MOUSE_BUTTON):
            note(f"{e.label} skipped: padflow reads gamepads only; its idle sprite stays as a static picture")
            layers.append(({"type": "static", "sprite": e.mapping, "pos": e.pos}, e))
        else:
            note(f"{e.label} skipped: padflow reads gamepads only")
    if not drawn:
        raise ValueError(f"{preset.path}: no gamepad button, stick, trigger or d-pad element: not a gamepad preset")
    atlas, shift = _padded_atlas(preset, atlas, layers, note)
    offset, size = _canvas(preset, [layer for layer, _ in layers])
    if scale is None:
        scale = max(1, math.ceil(MIN_IMPORT_LONG_SIDE / max(size)))
    if scale > 1:
        atlas = np.repeat(np.repeat(atlas, scale, axis=0), scale, axis=1)
    out = [_placed(layer, offset, shift, scale) for layer, _ in layers]
    return out, (size[0] * scale, size[1] * scale), np.ascontiguousarray(atlas), scale, offset, notes


def _shows_anything(atlas: np.ndarray, rect: tuple[int, int, int, int]) -> bool:
    """Whether the atlas (h, w, 4) has a visible pixel in `rect` (u, v, w, h); the part past the atlas repeats its edge, as the plugin samples."""
    u, v, w, h = rect
    rows = np.clip(np.arange(v, v + h), 0, atlas.shape[0] - 1)
    cols = np.clip(np.arange(u, u + w), 0, atlas.shape[1] - 1)
    return bool((atlas[np.ix_(rows, cols)][..., 3] > 0).any())


def _button_control(e: PresetElement, note: Any) -> str | None:
    code = e.code
    if code in LEGACY_PAD_CODES:
        sdl = LEGACY_PAD_CODES[code]  # type: ignore[index]
        note(f"{e.label}: pre-SDL code {code:#06x} read as SDL button {sdl} ({SDL_BUTTONS[sdl]}), as the plugin's config tool converts it")
        code = sdl
    if code in SDL_BUTTONS:
        return SDL_BUTTONS[code]  # type: ignore[index]
    if code in SDL_OTHER_BUTTONS:
        note(f"{e.label} skipped: SDL button {code} ({SDL_OTHER_BUTTONS[code]}) has no padflow button")  # type: ignore[index]
    else:
        note(f"{e.label} skipped: code {code} is not an SDL gamepad button (the plugin never lights it)")
    return None


def _rects(layer: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    if layer["type"] == "static":
        return [layer["sprite"]]
    if layer["type"] == "dpad":
        return list(layer["sprites"].values())
    if layer["type"] == "stick":
        return [layer["cap"], *([layer["cap_pressed"]] if "cap_pressed" in layer else [])]
    return [r for r in (layer["idle"], layer["pressed"]) if r is not None]


def _padded_atlas(preset: Preset, atlas: np.ndarray, layers: list[tuple[dict[str, Any], PresetElement]], note: Any) -> tuple[np.ndarray, tuple[int, int]]:
    """The atlas window every sprite uses, edge pixels repeated past the atlas (clamped sampling); and its (u, v) origin."""
    h, w = atlas.shape[:2]
    for layer, e in layers:
        outside = [r for r in _rects(layer) if r[0] + r[2] > w or r[1] + r[3] > h]
        if outside:
            note(f"{e.label}: sprite(s) {', '.join(str(list(r)) for r in outside)} reach past the {w}x{h} atlas: edge pixels repeated, as the plugin samples them")
    rects = [r for layer, _ in layers for r in _rects(layer)]
    u0, v0 = min(r[0] for r in rects), min(r[1] for r in rects)
    u1, v1 = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
    padded = np.pad(atlas, ((0, max(0, v1 - h)), (0, max(0, u1 - w)), (0, 0)), mode="edge")
    return padded[v0:v1, u0:u1], (u0, v0)


def _canvas(preset: Preset, layers: list[dict[str, Any]]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(offset, size) in preset px of the canvas: the declared size grown to hold every sprite and stick sweep."""
    x0, y0, (x1, y1) = 0, 0, preset.size
    for layer in layers:
        reach = layer.get("travel", 0)
        for _, _, w, h in _rects(layer):
            px, py = layer["pos"]
            x0, y0 = min(x0, px - reach), min(y0, py - reach)
            x1, y1 = max(x1, px + w + reach), max(y1, py + h + reach)
    return (-x0, -y0), (x1 - x0, y1 - y0)


def _placed(layer: dict[str, Any], offset: tuple[int, int], shift: tuple[int, int], scale: int) -> dict[str, Any]:
    """A layer moved onto the canvas (offset), its rects into the atlas window (shift), all times scale."""

    def rect(r: tuple[int, int, int, int] | None) -> list[int] | None:
        return None if r is None else [(r[0] - shift[0]) * scale, (r[1] - shift[1]) * scale, r[2] * scale, r[3] * scale]

    out = dict(layer, pos=[(layer["pos"][0] + offset[0]) * scale, (layer["pos"][1] + offset[1]) * scale])
    for key in ("sprite", "idle", "pressed", "cap", "cap_pressed"):
        if key in out:
            out[key] = rect(out[key])
    if "sprites" in out:
        out["sprites"] = {state: rect(r) for state, r in out["sprites"].items()}
    if "travel" in out:
        out["travel"] = out["travel"] * scale
    return out


def read_atlas(path: str | Path) -> np.ndarray:
    """An atlas PNG as (h, w, 4) uint8 RGBA; ValueError names the file."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGBA")).copy()
    except FileNotFoundError:
        raise ValueError(f"{path}: atlas not found") from None
    except OSError as exc:
        raise ValueError(f"{path}: not a readable image: {exc}") from None


def import_preset(
    preset_path: str | Path,
    out_dir: str | Path,
    atlas_path: str | Path | None = None,
    skin_id: str | None = None,
    family: str = "generic",
    scale: int | None = None,
    held_out: bool = False,
) -> ImportResult:
    """Convert a preset (+ its atlas, found beside it when not given) into `<out_dir>/<id>.json` + `<id>.png`.

    The skin is validated by padflow's sprite loader before anything is written. Skipped or
    changed elements are issued as PresetWarning and listed in `ImportResult.notes`.
    """
    preset = read_preset(preset_path)
    atlas_path = Path(atlas_path) if atlas_path is not None else find_atlas(preset.path)
    if scale is not None and scale < 1:
        raise ValueError(f"scale: expected an integer >= 1, got {scale}")
    layers, size, atlas, used_scale, offset, notes = convert_preset(preset, read_atlas(atlas_path), scale)
    skin_id = skin_id or default_skin_id(preset.path)
    skin = write_sprite_skin(out_dir, skin_id, family, size, atlas, layers, held_out=held_out, pixel_size=used_scale)
    for name, reason in unreadable_controls(skin).items():
        notes.append(f"{name} is unobserved in every table: {reason}")
        warnings.warn(f"{preset.path}: {notes[-1]}", PresetWarning, stacklevel=2)
    return ImportResult(skin, atlas_path, used_scale, offset, tuple(notes))
