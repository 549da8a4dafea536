"""Sprite skins: an overlay described the way real overlay tools describe one — pictures, not shapes.

A sprite skin is `<id>.json` + an RGBA atlas PNG (`<id>.png`, or the file "atlas" names in the
same folder). The layout lists layers drawn in order (z-order): static pictures, buttons with an
idle and a pressed sprite, triggers (button or analog: the pressed sprite cropped by the value
along a direction), a d-pad with one sprite per state (diagonals included), and sticks whose cap
sprite moves by axis × travel (round or square travel) with an optional clicked cap. A pixel-art
skin states its `pixel_size`: the picture is made of pixel_size × pixel_size blocks and moves in
whole blocks, as an overlay drawn at its own few-dozen-px resolution and scaled up by point
filtering (OBS input-overlay's pixel presets) shows on screen. Controls no
layer draws are *unobserved* (`SpriteSkin.observed`): a table made with the skin has no reading
for them. docs/skins.md documents the format; /work/notes/sprite_format.md was the agreed draft.

`load_sprite_skin` validates a layout and its atlas (every error names the file and the key);
`write_sprite_skin` writes one (validated first, so nothing invalid is written). `render_sprite`
draws an action (padflow.overlay.render.render_overlay calls it for sprite skins): the layers are
composited in premultiplied alpha at skin resolution, a stick cap at its sub-pixel offset
(bilinear shift, in units of pixel_size), and the result is resized to the asked width (padflow.overlay.sprite_crop
draws one box of that picture); `rest` is the neutral action drawn at skin resolution.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from padflow.actions import AXES, AXIS_INDEX, BUTTON_INDEX, BUTTONS, canonical_name, noop, validate_action
from padflow.io import atomic_path, write_text
from padflow.overlay.shapes import Box
from padflow.overlay.skin import (
    STICK_AXES, STICK_BUTTONS, STICK_SIDES, _is_int, _Parser, read_layout_json, read_rgba)

SPRITE_FORMAT_VERSION = 2
SPRITE_KIND = "sprite"
LAYER_TYPES: tuple[str, ...] = ("static", "button", "trigger", "dpad", "stick")
TRIGGER_MODES: tuple[str, ...] = ("button", "analog")
# Direction an analog trigger fills towards: "up" grows from the sprite's bottom edge upwards.
TRIGGER_DIRECTIONS: tuple[str, ...] = ("up", "down", "left", "right")
TRAVEL_SHAPES: tuple[str, ...] = ("round", "square")
DPAD_STATES: tuple[str, ...] = ("idle", "up", "down", "left", "right", "up_left", "up_right", "down_left", "down_right")
DPAD_BUTTONS: tuple[str, ...] = ("DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT")
PRESS_LEVEL = 0.5  # a button-mode trigger (and any button) shows pressed above this value

Rect = tuple[int, int, int, int]  # u, v, w, h: a sprite's rectangle in the atlas
Pos = tuple[int, int]  # x, y: a sprite's top-left corner on the skin canvas


@dataclass(frozen=True)
class StaticLayer:
    sprite: Rect
    pos: Pos


@dataclass(frozen=True)
class ButtonLayer:
    control: str  # canonical button name
    pos: Pos
    idle: Rect | None  # None: nothing drawn at rest (the rest look is part of a static layer)
    pressed: Rect


@dataclass(frozen=True)
class TriggerLayer:
    control: str  # canonical button name (usually LEFT_TRIGGER / RIGHT_TRIGGER)
    pos: Pos
    idle: Rect | None
    pressed: Rect
    mode: str  # "button": pressed replaces idle above PRESS_LEVEL; "analog": pressed cropped to value over idle
    direction: str  # analog fill direction, one of TRIGGER_DIRECTIONS


@dataclass(frozen=True)
class DpadLayer:
    pos: Pos
    sprites: tuple[tuple[str, Rect | None], ...]  # (state, rect) for every DPAD_STATES entry, in that order; idle may be None

    def sprite(self, state: str) -> Rect | None:
        return dict(self.sprites)[state]


@dataclass(frozen=True)
class StickLayer:
    side: str  # "left" or "right"
    pos: Pos  # the cap's top-left at rest
    cap: Rect
    cap_pressed: Rect | None  # drawn instead of `cap` while the stick's THUMB button is held
    travel: float  # px the cap moves at full deflection
    travel_shape: str  # "round": offset clipped to the disc of radius travel; "square": per axis

    @property
    def axes(self) -> tuple[str, str]:
        return STICK_AXES[self.side]

    @property
    def thumb(self) -> str:
        return STICK_BUTTONS[self.side]

    def offset(self, x: float, y: float) -> tuple[float, float]:
        """Cap displacement in skin px for axes (x, y) (y up-positive; image y grows down)."""
        dx, dy = x * self.travel, -y * self.travel
        if self.travel_shape == "round":
            length = math.hypot(dx, dy)
            if length > self.travel > 0:
                dx, dy = dx * self.travel / length, dy * self.travel / length
        return dx, dy

    @property
    def centre(self) -> tuple[float, float]:
        """Cap centre at rest, skin px."""
        return self.pos[0] + self.cap[2] / 2, self.pos[1] + self.cap[3] / 2

    @property
    def cap_radius(self) -> float:
        """Half the larger side of the cap sprites (clicked cap included), px."""
        sides = [*self.cap[2:], *(self.cap_pressed[2:] if self.cap_pressed else ())]
        return max(sides) / 2


Layer = StaticLayer | ButtonLayer | TriggerLayer | DpadLayer | StickLayer


@dataclass(frozen=True)
class SpriteSkin:
    """A validated sprite skin: its layers, its atlas and its rest picture."""

    id: str  # equals the layout file's stem
    family: str
    format_version: int
    size: tuple[int, int]  # canvas (width, height), px
    layers: tuple[Layer, ...]  # in drawing order
    layout_path: Path
    image_path: Path  # the atlas
    held_out: bool = False  # kept out of the overlay parser's training renders
    pixel_size: int = 1  # skin px per picture pixel: caps move, and analog triggers crop, in whole blocks of this side
    atlas: np.ndarray = field(default=None, compare=False, repr=False)  # type: ignore[assignment]  # (h, w, 4) uint8 RGBA, read-only
    rest: np.ndarray = field(default=None, compare=False, repr=False)  # type: ignore[assignment]  # (H, W, 4) uint8: the neutral action
    _premultiplied: dict[Rect | str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)  # sprite (and "static-base") → float32 premultiplied RGBA

    kind = SPRITE_KIND

    def sprite(self, rect: Rect) -> np.ndarray:
        """The atlas pixels of one sprite rectangle (a read-only view)."""
        u, v, w, h = rect
        return self.atlas[v : v + h, u : u + w]

    def static_base(self) -> tuple[np.ndarray, int]:
        """The leading static layers composited once (premultiplied canvas, kept per skin), and the index of the first other layer."""
        first = next((i for i, layer in enumerate(self.layers) if not isinstance(layer, StaticLayer)), len(self.layers))
        base = self._premultiplied.get("static-base")
        if base is None:
            base = np.zeros((self.size[1], self.size[0], 4), dtype=np.float32)
            for layer in self.layers[:first]:
                _blend(base, self.premultiplied(layer.sprite), layer.pos[0], layer.pos[1])  # type: ignore[union-attr]
            base.flags.writeable = False
            self._premultiplied["static-base"] = base
        return base, first

    def premultiplied(self, rect: Rect) -> np.ndarray:
        """One sprite as float32 premultiplied RGBA in [0, 1] (kept per skin: a render reuses them)."""
        out = self._premultiplied.get(rect)
        if out is None:
            rgba = self.sprite(rect).astype(np.float32) / 255.0
            out = np.concatenate([rgba[..., :3] * rgba[..., 3:4], rgba[..., 3:4]], axis=-1)
            self._premultiplied[rect] = out
        return out

    @property
    def sticks(self) -> tuple[StickLayer, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, StickLayer))

    @property
    def observed(self) -> frozenset[str]:
        """The buttons and axes some layer draws; the others are unobserved in every table made with this skin."""
        return frozenset(self.regions())

    def regions(self) -> dict[str, Box]:
        """Box (x0, y0, x1, y1) in skin px of every observed control, buttons in BUTTONS order then axes.

        A button: the union of its idle and pressed sprites. A d-pad direction: that half of the
        d-pad's box. A stick's axes (and its THUMB, when a clicked cap is drawn): the cap swept over its travel;
        a THUMB that a button layer draws too, the union of the two.
        """
        out: dict[str, Box] = {}

        def shows(name: str, box: Box) -> None:  # a THUMB may be shown by a button layer and a clicked cap both
            out[name] = _union((out[name], box)) if name in out else box

        for layer in self.layers:
            if isinstance(layer, (ButtonLayer, TriggerLayer)):
                shows(layer.control, _union(_placed(layer.pos, r) for r in (layer.idle, layer.pressed) if r is not None))
            elif isinstance(layer, DpadLayer):
                x0, y0, x1, y1 = _union(_placed(layer.pos, r) for _, r in layer.sprites if r is not None)
                xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
                out.update(DPAD_UP=(x0, y0, x1, ym), DPAD_DOWN=(x0, ym, x1, y1), DPAD_LEFT=(x0, y0, xm, y1), DPAD_RIGHT=(xm, y0, x1, y1))
            elif isinstance(layer, StickLayer):
                box = stick_sweep(layer)
                for axis in layer.axes:
                    out[axis] = box
                if layer.cap_pressed is not None:
                    shows(layer.thumb, box)
        return {name: out[name] for name in (*BUTTONS, *AXES) if name in out}


def stick_sweep(stick: StickLayer) -> Box:
    """The canvas box the cap (and clicked cap) can cover over its whole travel."""
    cx, cy = stick.centre
    half_w = max(stick.cap[2], stick.cap_pressed[2] if stick.cap_pressed else 0) / 2
    half_h = max(stick.cap[3], stick.cap_pressed[3] if stick.cap_pressed else 0) / 2
    return (cx - half_w - stick.travel, cy - half_h - stick.travel, cx + half_w + stick.travel, cy + half_h + stick.travel)


def _placed(pos: Pos, rect: Rect) -> Box:
    return (float(pos[0]), float(pos[1]), float(pos[0] + rect[2]), float(pos[1] + rect[3]))


def _union(boxes: Any) -> Box:
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def dpad_state(up: bool, down: bool, left: bool, right: bool) -> str:
    """The d-pad sprite shown for the held directions; of two opposite directions, up and left win."""
    vertical = "up" if up else ("down" if down else "")
    horizontal = "left" if left else ("right" if right else "")
    return "_".join(p for p in (vertical, horizontal) if p) or "idle"


def compose(skin: SpriteSkin, action: np.ndarray, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """`action` drawn on the skin canvas: (H, W, 4) float32 premultiplied RGBA in [0, 1]; with `region` (x0, y0, x1, y1),
    skin px, x0 and y0 whole blocks of pixel_size, only that part of it, the same pixels (the look reader draws a state
    for each control's box: a 2048-px preset's whole canvas per state is most of its cost)."""
    canvas, first = skin.static_base()
    x0, y0 = 0, 0
    if region is not None:
        x0, y0, x1, y1 = region
        if x0 % skin.pixel_size or y0 % skin.pixel_size:
            raise ValueError(f"region {region} must start on the skin's {skin.pixel_size}-px block grid")
        canvas = canvas[y0:y1, x0:x1]
    canvas = canvas.copy()
    held = action[: len(BUTTONS)] > PRESS_LEVEL
    for layer in skin.layers[first:]:
        if isinstance(layer, StaticLayer):
            _blend(canvas, skin.premultiplied(layer.sprite), layer.pos[0] - x0, layer.pos[1] - y0)
        elif isinstance(layer, ButtonLayer):
            rect = layer.pressed if held[BUTTON_INDEX[layer.control]] else layer.idle
            if rect is not None:
                _blend(canvas, skin.premultiplied(rect), layer.pos[0] - x0, layer.pos[1] - y0)
        elif isinstance(layer, TriggerLayer):
            _draw_trigger(canvas, skin, layer, float(action[BUTTON_INDEX[layer.control]]), (x0, y0))
        elif isinstance(layer, DpadLayer):
            rect = layer.sprite(dpad_state(*(bool(held[BUTTON_INDEX[b]]) for b in DPAD_BUTTONS)))
            if rect is not None:
                _blend(canvas, skin.premultiplied(rect), layer.pos[0] - x0, layer.pos[1] - y0)
        else:
            x_axis, y_axis = layer.axes
            dx, dy = layer.offset(float(action[AXIS_INDEX[x_axis]]), float(action[AXIS_INDEX[y_axis]]))
            clicked = layer.cap_pressed is not None and held[BUTTON_INDEX[layer.thumb]]
            cap = skin.premultiplied(layer.cap_pressed if clicked else layer.cap)  # type: ignore[arg-type]
            # A clicked cap of another size stays centred where the cap would be.
            cx, cy = layer.centre
            _blend_at(canvas, cap, cx + dx - cap.shape[1] / 2 - x0, cy + dy - cap.shape[0] / 2 - y0, skin.pixel_size)
    return canvas


def _draw_trigger(canvas: np.ndarray, skin: SpriteSkin, layer: TriggerLayer, value: float, origin: tuple[int, int] = (0, 0)) -> None:
    x, y = layer.pos[0] - origin[0], layer.pos[1] - origin[1]
    if layer.mode == "button":
        rect = layer.pressed if value > PRESS_LEVEL else layer.idle
        if rect is not None:
            _blend(canvas, skin.premultiplied(rect), x, y)
        return
    if layer.idle is not None:
        _blend(canvas, skin.premultiplied(layer.idle), x, y)
    pressed = skin.premultiplied(layer.pressed)
    h, w = pressed.shape[:2]
    extent = h if layer.direction in ("up", "down") else w
    n = int(round(min(max(value, 0.0), 1.0) * extent / skin.pixel_size)) * skin.pixel_size
    if n <= 0:
        return
    if layer.direction == "up":  # fills from the bottom edge upwards
        _blend(canvas, pressed[h - n :], x, y + h - n)
    elif layer.direction == "down":
        _blend(canvas, pressed[:n], x, y)
    elif layer.direction == "left":  # fills from the right edge leftwards
        _blend(canvas, pressed[:, w - n :], x + w - n, y)
    else:
        _blend(canvas, pressed[:, :n], x, y)


def _blend(canvas: np.ndarray, sprite: np.ndarray, x: int, y: int) -> None:
    """Premultiplied `sprite over canvas` with the sprite's top-left at canvas pixel (x, y), clipped to the canvas."""
    h, w = canvas.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(w, x + sprite.shape[1]), min(h, y + sprite.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    src = sprite[y0 - y : y1 - y, x0 - x : x1 - x]
    dst = canvas[y0:y1, x0:x1]
    dst *= 1.0 - src[..., 3:4]
    dst += src


def _blend_at(canvas: np.ndarray, sprite: np.ndarray, x: float, y: float, pixel_size: int = 1) -> None:
    """`_blend` at a sub-pixel position: the sprite is shifted by its fractional part (bilinear) first.

    With pixel_size k > 1 the position is in units of k-px blocks: the sprite (whole blocks) is
    shifted at block resolution and scaled back up by repeating each block, which is what drawing
    the picture at its own resolution and scaling it up by point filtering shows: a 1-block cap
    half-way between two blocks is two blocks at half strength, not a block moved by k/2 px.
    """
    k = pixel_size
    ix, iy = math.floor(x / k), math.floor(y / k)
    fx, fy = x / k - ix, y / k - iy
    if fx < 1e-4 and fy < 1e-4:
        _blend(canvas, sprite, ix * k, iy * k)
        return
    blocks = sprite[::k, ::k]
    h, w = blocks.shape[:2]
    shift = np.array([[1.0, 0.0, fx], [0.0, 1.0, fy]], dtype=np.float64)
    shifted = cv2.warpAffine(blocks, shift, (w + 1, h + 1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if k > 1:
        shifted = np.repeat(np.repeat(shifted, k, axis=0), k, axis=1)
    _blend(canvas, shifted, ix * k, iy * k)


def to_rgba(canvas: np.ndarray, width: int | None = None) -> np.ndarray:
    """A premultiplied float canvas → (h, width, 4) uint8 straight-alpha RGBA (resized in premultiplied space)."""
    h, w = canvas.shape[:2]
    if width is not None and width != w:
        height = max(1, round(h * width / w))
        canvas = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA if width < w else cv2.INTER_LINEAR)
    alpha = canvas[..., 3:4]
    rgb = np.divide(canvas[..., :3], alpha, out=np.zeros_like(canvas[..., :3]), where=alpha > 1e-6)
    return (np.concatenate([rgb, alpha], axis=-1) * 255.0).round().clip(0, 255).astype(np.uint8)


def render_sprite(skin: SpriteSkin, action: Sequence[float] | np.ndarray, width: int | None = None) -> np.ndarray:
    """The skin showing `action`, as (H, W, 4) uint8 RGBA `width` px wide (native if None)."""
    action = validate_action(action)
    if action.ndim != 1:
        raise ValueError(f"render_sprite takes one action, got shape {action.shape}")
    return to_rgba(compose(skin, action), width)


def is_sprite_layout(data: Any) -> bool:
    """Whether a decoded layout JSON declares a sprite skin (`"kind": "sprite"`)."""
    return isinstance(data, Mapping) and data.get("kind") == SPRITE_KIND


def load_sprite_skin(json_path: str | Path, data: Any = None) -> SpriteSkin:
    """Read and validate a sprite layout and its atlas; ValueError names the file and the key.

    `data` is the already decoded JSON (padflow.overlay.library reads each file once to dispatch on "kind").
    """
    path = Path(json_path)
    if data is None:
        data = read_layout_json(path)
    atlas_name = data.get("atlas", f"{path.stem}.png") if isinstance(data, Mapping) else f"{path.stem}.png"
    if not isinstance(atlas_name, str) or not atlas_name or Path(atlas_name).name != atlas_name:
        raise ValueError(f"{path}: atlas: expected a file name in the layout's folder, got {atlas_name!r}")
    image_path = path.parent / atlas_name
    atlas = read_rgba(path, image_path, "atlas: image")
    return parse_sprite_layout(data, atlas, path, image_path)


def parse_sprite_layout(data: Any, atlas: np.ndarray, path: Path, image_path: Path) -> SpriteSkin:
    """Validate a decoded sprite layout against its (h, w, 4) uint8 atlas and build the skin (its rest drawn)."""
    p = _SpriteParser(path)
    if not isinstance(data, Mapping):
        raise p.error("(top level)", "expected a JSON object")
    p.keys(data, "(top level)", required=("format_version", "kind", "id", "family", "size", "layers"), optional=("atlas", "held_out", "pixel_size"))
    if data["format_version"] != SPRITE_FORMAT_VERSION:
        raise p.error("format_version", f"{data['format_version']!r} is not supported; sprite skins are version {SPRITE_FORMAT_VERSION}")
    if data["kind"] != SPRITE_KIND:
        raise p.error("kind", f"{data['kind']!r}: this reader reads {SPRITE_KIND!r} skins")
    skin_id, family, size, held_out = p.identity(data)
    atlas = np.array(atlas, dtype=np.uint8, copy=True)
    atlas.flags.writeable = False
    p.image_size = (size[0], size[1])
    p.atlas_size = (atlas.shape[1], atlas.shape[0])
    raw_layers = data["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        raise p.error("layers", "expected a non-empty list of layers")
    layers = tuple(p.layer(spec, f"layers[{i}]") for i, spec in enumerate(raw_layers))
    p.check_unique(layers)
    pixel_size = p.pixel_size(data.get("pixel_size", 1), size, raw_layers)
    skin = SpriteSkin(skin_id, family, SPRITE_FORMAT_VERSION, (size[0], size[1]), layers, path, image_path, held_out, pixel_size, atlas)
    rest = render_sprite(skin, noop())
    rest.flags.writeable = False
    object.__setattr__(skin, "rest", rest)
    return skin


class _SpriteParser(_Parser):
    """Validators for the sprite layout: errors read '<file>: layers[3].pressed: <reason>'."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.atlas_size = (0, 0)

    def rect(self, value: Any, where: str, optional: bool = False) -> Rect | None:
        if value is None and optional:
            return None
        if not (isinstance(value, list) and len(value) == 4 and all(_is_int(v) for v in value)):
            raise self.error(where, f"expected [u, v, w, h] integers in the atlas{' or null' if optional else ''}, got {value!r}")
        u, v, w, h = value
        aw, ah = self.atlas_size
        if not (u >= 0 and v >= 0 and w >= 1 and h >= 1 and u + w <= aw and v + h <= ah):
            raise self.error(where, f"{value} lies outside the {aw}x{ah} atlas (or is empty)")
        return (u, v, w, h)

    def pos(self, value: Any, where: str) -> Pos:
        if not (isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value)):
            raise self.error(where, f"expected [x, y] integers on the skin canvas, got {value!r}")
        return (value[0], value[1])

    def pixel_size(self, value: Any, size: Sequence[int], raw_layers: Sequence[Mapping]) -> int:
        """`pixel_size` (default 1); above 1 the canvas and every pos and rect must lie on its block grid."""
        if not (_is_int(value) and value >= 1):
            raise self.error("pixel_size", f"expected an integer >= 1 (skin px per picture pixel), got {value!r}")
        if value > 1:
            on_grid = lambda numbers: all(n % value == 0 for n in numbers)  # noqa: E731
            if not on_grid(size):
                raise self.error("size", f"{list(size)} is not a whole number of {value}-px blocks (pixel_size {value})")
            for i, spec in enumerate(raw_layers):
                for key, entry in spec.items():
                    for where, numbers in entry.items() if key == "sprites" else [("", entry)]:
                        if isinstance(numbers, list) and not on_grid(numbers):
                            name = f"layers[{i}].{key}{'.' + where if where else ''}"
                            raise self.error(name, f"{numbers} is not on the {value}-px block grid (pixel_size {value})")
        return value

    def placed(self, pos: Pos, rect: Rect | None, where: str) -> None:
        if rect is not None:
            self.inside(_placed(pos, rect), where)

    def control(self, value: Any, where: str) -> str:
        try:
            name = canonical_name(value) if isinstance(value, str) else ""
        except ValueError:
            name = ""
        if name not in BUTTONS:
            raise self.error(where, f"{value!r} is not a button; valid: {', '.join(BUTTONS)} (or an alias)")
        return name

    def layer(self, spec: Any, where: str) -> Layer:
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise self.error(where, f"expected an object with a `type` ({', '.join(LAYER_TYPES)})")
        kind = self.choice(spec["type"], f"{where}.type", LAYER_TYPES)
        return getattr(self, f"_{kind}")(spec, where)

    def _static(self, spec: Mapping, where: str) -> StaticLayer:
        self.keys(spec, where, required=("type", "sprite", "pos"))
        pos, rect = self.pos(spec["pos"], f"{where}.pos"), self.rect(spec["sprite"], f"{where}.sprite")
        self.placed(pos, rect, f"{where}.sprite")
        return StaticLayer(rect, pos)  # type: ignore[arg-type]

    def _button(self, spec: Mapping, where: str) -> ButtonLayer:
        self.keys(spec, where, required=("type", "control", "pos", "idle", "pressed"))
        pos = self.pos(spec["pos"], f"{where}.pos")
        idle, pressed = self.rect(spec["idle"], f"{where}.idle", optional=True), self.rect(spec["pressed"], f"{where}.pressed")
        self.placed(pos, idle, f"{where}.idle")
        self.placed(pos, pressed, f"{where}.pressed")
        return ButtonLayer(self.control(spec["control"], f"{where}.control"), pos, idle, pressed)  # type: ignore[arg-type]

    def _trigger(self, spec: Mapping, where: str) -> TriggerLayer:
        self.keys(spec, where, required=("type", "control", "pos", "idle", "pressed", "mode", "direction"))
        pos = self.pos(spec["pos"], f"{where}.pos")
        idle, pressed = self.rect(spec["idle"], f"{where}.idle", optional=True), self.rect(spec["pressed"], f"{where}.pressed")
        self.placed(pos, idle, f"{where}.idle")
        self.placed(pos, pressed, f"{where}.pressed")
        return TriggerLayer(
            self.control(spec["control"], f"{where}.control"), pos, idle, pressed,  # type: ignore[arg-type]
            self.choice(spec["mode"], f"{where}.mode", TRIGGER_MODES),
            self.choice(spec["direction"], f"{where}.direction", TRIGGER_DIRECTIONS),
        )  # fmt: skip

    def _dpad(self, spec: Mapping, where: str) -> DpadLayer:
        self.keys(spec, where, required=("type", "pos", "sprites"))
        pos = self.pos(spec["pos"], f"{where}.pos")
        sprites = spec["sprites"]
        if not isinstance(sprites, Mapping):
            raise self.error(f"{where}.sprites", f"expected an object with {', '.join(DPAD_STATES)}")
        self.keys(sprites, f"{where}.sprites", required=DPAD_STATES)
        rects = []
        for state in DPAD_STATES:
            rect = self.rect(sprites[state], f"{where}.sprites.{state}", optional=state == "idle")
            self.placed(pos, rect, f"{where}.sprites.{state}")
            rects.append((state, rect))
        return DpadLayer(pos, tuple(rects))

    def _stick(self, spec: Mapping, where: str) -> StickLayer:
        self.keys(spec, where, required=("type", "side", "pos", "cap", "travel", "travel_shape"), optional=("cap_pressed",))
        pos = self.pos(spec["pos"], f"{where}.pos")
        stick = StickLayer(
            side=self.choice(spec["side"], f"{where}.side", STICK_SIDES),
            pos=pos,
            cap=self.rect(spec["cap"], f"{where}.cap"),  # type: ignore[arg-type]
            cap_pressed=self.rect(spec.get("cap_pressed"), f"{where}.cap_pressed", optional=True),
            travel=self.number(spec["travel"], f"{where}.travel", 0.0),
            travel_shape=self.choice(spec["travel_shape"], f"{where}.travel_shape", TRAVEL_SHAPES),
        )
        self.inside(stick_sweep(stick), f"{where}.travel")
        return stick

    def check_unique(self, layers: Sequence[Layer]) -> None:
        """Each control is drawn by at most one layer, but for a stick's THUMB: its clicked cap and one button layer may both show it.

        OBS input-overlay draws a stick element's clicked cap and a button element of the stick's
        click, both lit by the one press (element_analog_stick.cpp), and its presets use that (the
        Xbox KBA presets' well lights up under the clicked cap).
        """
        drawn: dict[str, str] = {}
        for i, layer in enumerate(layers):
            if isinstance(layer, (ButtonLayer, TriggerLayer)):
                names = [layer.control]
            elif isinstance(layer, DpadLayer):
                names = list(DPAD_BUTTONS)
            elif isinstance(layer, StickLayer):
                names = list(layer.axes)  # its THUMB: its side's axes are drawn once, so one clicked cap at most
            else:
                continue
            for name in names:
                if name in drawn:
                    raise self.error(f"layers[{i}]", f"{name} is already drawn by {drawn[name]}")
                drawn[name] = f"layers[{i}]"


def layer_dict(layer: Layer) -> dict[str, Any]:
    """One layer as its JSON object."""
    r = lambda rect: None if rect is None else list(rect)  # noqa: E731
    if isinstance(layer, StaticLayer):
        return {"type": "static", "sprite": r(layer.sprite), "pos": list(layer.pos)}
    if isinstance(layer, ButtonLayer):
        return {"type": "button", "control": layer.control, "pos": list(layer.pos), "idle": r(layer.idle), "pressed": r(layer.pressed)}
    if isinstance(layer, TriggerLayer):
        return {"type": "trigger", "control": layer.control, "pos": list(layer.pos), "idle": r(layer.idle),
                "pressed": r(layer.pressed), "mode": layer.mode, "direction": layer.direction}  # fmt: skip
    if isinstance(layer, DpadLayer):
        return {"type": "dpad", "pos": list(layer.pos), "sprites": {state: r(rect) for state, rect in layer.sprites}}
    out = {"type": "stick", "side": layer.side, "pos": list(layer.pos), "cap": r(layer.cap),
           "travel": layer.travel, "travel_shape": layer.travel_shape}  # fmt: skip
    if layer.cap_pressed is not None:
        out["cap_pressed"] = r(layer.cap_pressed)
    return out


def write_sprite_skin(
    folder: str | Path,
    skin_id: str,
    family: str,
    size: tuple[int, int],
    atlas: np.ndarray,
    layers: Sequence[Layer | Mapping[str, Any]],
    held_out: bool = False,
    pixel_size: int = 1,
) -> SpriteSkin:
    """Write `<id>.json` + `<id>.png` into `folder` and return the skin as loaded back.

    `layers` are Layer objects or their JSON objects. The layout is validated before anything is
    written, so an invalid skin raises ValueError (naming the key) and leaves the folder as it was.
    """
    folder = Path(folder)
    atlas = np.asarray(atlas)
    if atlas.dtype != np.uint8 or atlas.ndim != 3 or atlas.shape[2] != 4:
        raise ValueError(f"{skin_id}: atlas must be a uint8 (h, w, 4) RGBA array, got {atlas.dtype} {atlas.shape}")
    layout: dict[str, Any] = {
        "format_version": SPRITE_FORMAT_VERSION, "kind": SPRITE_KIND, "id": skin_id, "family": family,
        "size": [int(size[0]), int(size[1])], "atlas": f"{skin_id}.png",
        "layers": [dict(layer) if isinstance(layer, Mapping) else layer_dict(layer) for layer in layers],
    }  # fmt: skip
    if held_out:
        layout["held_out"] = True
    if pixel_size != 1:
        layout["pixel_size"] = pixel_size
    json_path, png_path = folder / f"{skin_id}.json", folder / f"{skin_id}.png"
    parse_sprite_layout(json.loads(json.dumps(layout)), atlas, json_path, png_path)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(png_path) as tmp:
        Image.fromarray(atlas, "RGBA").save(tmp, format="PNG")
    write_text(json_path, json.dumps(layout, indent=2) + "\n")
    return load_sprite_skin(json_path)
