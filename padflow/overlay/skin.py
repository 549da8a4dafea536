"""Controller skins: a rest image (RGBA PNG) plus a layout JSON naming where every control is.

A skin is two files with one stem, `<id>.png` and `<id>.json`; docs/skins.md documents the
layout format. `load_skin` validates both and returns a frozen `Skin`; every error names the
file and the offending field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from padflow.actions import ACTION_NAMES, BUTTONS, canonical_name
from padflow.overlay.shapes import GLYPH_KINDS, SHAPES, Box, Colour

SKIN_FORMAT_VERSION = 1
PRESSED_STYLES: tuple[str, ...] = ("fill", "glow", "swap")
CAP_STYLES: tuple[str, ...] = ("solid", "concave", "dot", "ball")
STICK_SIDES: tuple[str, ...] = ("left", "right")
OBSERVE_ALL: frozenset[str] = frozenset(ACTION_NAMES)  # every button and axis of padflow.actions
# The thumb-stick clicks are drawn by their stick (`sticks.<side>.pressed`), not as a button.
STICK_BUTTONS: dict[str, str] = {"left": "LEFT_THUMB", "right": "RIGHT_THUMB"}
STICK_AXES: dict[str, tuple[str, str]] = {"left": ("LEFT_X", "LEFT_Y"), "right": ("RIGHT_X", "RIGHT_Y")}
FACE_BUTTONS: tuple[str, ...] = tuple(b for b in BUTTONS if b not in STICK_BUTTONS.values())
MIN_SKIN_SIDE = 32  # px; smaller rest images cannot hold 17 distinguishable controls
MIN_GLYPH_SIZE, MAX_GLYPH_SIZE = 0.1, 1.0  # glyph size, fraction of its region's shorter side
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_COLOUR_PATTERN = re.compile(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


@dataclass(frozen=True)
class Glyph:
    """A label drawn on a control (letter, symbol, arrow)."""

    kind: str  # one of shapes.GLYPH_KINDS
    colour: Colour  # RGBA at rest
    size: float = 0.6  # fraction of the region's shorter side
    text: str = ""  # the label, for kind "text" (Pillow's built-in bitmap font)


@dataclass(frozen=True)
class PressedStyle:
    """How a control looks while held."""

    style: str  # fill: shape filled with `colour`; glow: halo + tint in `colour`; swap: body `colour`, glyph `glyph_colour`
    colour: Colour  # the fill, glow or swapped body colour
    glyph_colour: Colour | None = None  # swap only: the glyph's colour while pressed


@dataclass(frozen=True)
class ButtonLayout:
    """One of the 15 non-stick buttons."""

    name: str  # canonical name from padflow.actions.BUTTONS
    shape: str  # one of shapes.SHAPES
    region: Box  # x0, y0, x1, y1 in skin px
    pressed: PressedStyle
    glyph: Glyph | None = None


@dataclass(frozen=True)
class StickLayout:
    """A thumb-stick: a well the cap moves in, and the cap."""

    side: str  # "left" or "right"
    centre: tuple[float, float]  # well centre, skin px
    well_radius: float  # px; the renderer repaints this disc in `well_colour` before drawing the cap
    well_colour: Colour
    cap_radius: float  # px
    travel: float  # px the cap centre moves at full deflection
    cap_colour: Colour
    cap_edge_colour: Colour
    cap_edge_width: float  # px
    cap_style: str  # one of CAP_STYLES
    pressed: PressedStyle  # the stick click (LEFT_THUMB / RIGHT_THUMB)

    @property
    def region(self) -> Box:
        cx, cy = self.centre
        r = max(self.well_radius, self.travel + self.cap_radius)
        return (cx - r, cy - r, cx + r, cy + r)


@dataclass(frozen=True)
class Skin:
    """A validated controller skin: layout plus its rest image."""

    id: str  # equals the file stem
    family: str  # e.g. xbox, playstation, nintendo, generic
    format_version: int
    size: tuple[int, int]  # rest image (width, height) in px
    buttons: tuple[ButtonLayout, ...]  # the 15 non-stick buttons, in BUTTONS order
    sticks: tuple[StickLayout, StickLayout]  # left, right
    layout_path: Path
    image_path: Path
    rest: np.ndarray = field(compare=False, repr=False)  # (H, W, 4) uint8 RGBA, read-only
    held_out: bool = False  # layout's "held_out": kept out of the overlay parser's training renders
    kind = "parametric"  # the layout's optional "kind" (padflow.overlay.sprite reads "sprite" skins)

    @property
    def observed(self) -> frozenset[str]:
        """Controls this skin draws: a parametric skin draws all 17 buttons and 4 axes."""
        return OBSERVE_ALL

    def button(self, name: str) -> ButtonLayout:
        name = canonical_name(name)
        for b in self.buttons:
            if b.name == name:
                return b
        raise ValueError(f"{name} is drawn by a stick in skin {self.id}; use Skin.regions()")

    def regions(self) -> dict[str, Box]:
        """Bounding box of all 17 buttons (thumbs = their stick's reach), in skin px."""
        out = {b.name: b.region for b in self.buttons}
        for stick in self.sticks:
            out[STICK_BUTTONS[stick.side]] = stick.region
        return {name: out[name] for name in BUTTONS}


def load_skin(json_path: str | Path) -> Skin:
    """Read and validate `<id>.json` and its `<id>.png`; ValueError names the file and the field."""
    path = Path(json_path)
    data = read_layout_json(path)
    image_path = path.with_suffix(".png")
    rest = read_rgba(path, image_path, "rest image")
    return parse_layout(data, rest, path, image_path)


def read_layout_json(path: Path) -> Any:
    """A layout file's decoded JSON; ValueError names the file."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: layout file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read layout: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None


def read_rgba(path: Path, image_path: Path, what: str) -> np.ndarray:
    """The picture beside layout `path` as a read-only (h, w, 4) uint8 array; ValueError names the
    layout and `what` the picture is to it ("rest image", "atlas: image")."""
    try:
        with Image.open(image_path) as img:
            img.load()
            rgba = np.asarray(img.convert("RGBA")).copy()
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} {image_path.name} not found beside the layout") from None
    except OSError as exc:
        raise ValueError(f"{path}: {what} {image_path.name} is not a readable image: {exc}") from None
    rgba.flags.writeable = False
    return rgba


def parse_layout(data: Any, rest: np.ndarray, path: Path, image_path: Path) -> Skin:
    """Validate a decoded layout against its rest image and build the Skin."""
    p = _Parser(path)
    if not isinstance(data, Mapping):
        raise p.error("(top level)", "expected a JSON object")
    p.keys(data, "(top level)", required=("format_version", "id", "family", "size", "buttons", "sticks"), optional=("kind", "held_out"))
    if data.get("kind", "parametric") != "parametric":
        raise p.error("kind", f"{data['kind']!r}: a format_version {SKIN_FORMAT_VERSION} layout is 'parametric' (sprite skins: format_version 2)")
    version = data["format_version"]
    if version != SKIN_FORMAT_VERSION:
        raise p.error("format_version", f"{version!r} is not supported; this padflow reads version {SKIN_FORMAT_VERSION}")
    skin_id, family, (width, height), held_out = p.identity(data)
    if rest.shape[:2] != (height, width):
        raise p.error("size", f"{width}x{height} does not match the rest image {image_path.name} ({rest.shape[1]}x{rest.shape[0]})")
    p.image_size = (width, height)

    raw_buttons = data["buttons"]
    if not isinstance(raw_buttons, Mapping):
        raise p.error("buttons", "expected an object of button name → layout")
    by_name: dict[str, ButtonLayout] = {}
    for key, spec in raw_buttons.items():
        where = f"buttons.{key}"
        try:
            name = canonical_name(key)
        except ValueError:
            raise p.error(where, f"unknown button name {key!r}; valid: {', '.join(FACE_BUTTONS)} (or an alias)") from None
        if name in STICK_BUTTONS.values():
            side = "left" if name == "LEFT_THUMB" else "right"
            raise p.error(where, f"{name} is drawn by its stick: give its look in sticks.{side}.pressed")
        if name not in FACE_BUTTONS:
            raise p.error(where, f"{key!r} is an axis, not a button")
        if name in by_name:
            raise p.error(where, f"{name} is given twice")
        by_name[name] = p.button(name, spec, where)
    missing = [b for b in FACE_BUTTONS if b not in by_name]
    if missing:
        raise p.error("buttons", f"missing button(s) {', '.join(missing)}; every one of the 17 buttons must be placed")

    raw_sticks = data["sticks"]
    if not isinstance(raw_sticks, Mapping):
        raise p.error("sticks", "expected an object with `left` and `right`")
    p.keys(raw_sticks, "sticks", required=STICK_SIDES)
    sticks = tuple(p.stick(side, raw_sticks[side], f"sticks.{side}") for side in STICK_SIDES)
    return Skin(
        id=skin_id,
        family=family,
        format_version=version,
        size=(width, height),
        buttons=tuple(by_name[b] for b in FACE_BUTTONS),
        sticks=sticks,  # type: ignore[arg-type]
        layout_path=path,
        image_path=image_path,
        rest=rest,
        held_out=held_out,
    )


def parse_colour(value: Any) -> Colour:
    """`#rrggbb` or `#rrggbbaa` → RGBA tuple."""
    if not isinstance(value, str) or not _COLOUR_PATTERN.match(value):
        raise ValueError(f"{value!r} is not a colour; expected '#rrggbb' or '#rrggbbaa'")
    h = value[1:] + ("ff" if len(value) == 7 else "")
    return tuple(int(h[i : i + 2], 16) for i in range(0, 8, 2))  # type: ignore[return-value]


def colour_hex(colour: Colour) -> str:
    r, g, b, a = colour
    return f"#{r:02x}{g:02x}{b:02x}" + ("" if a == 255 else f"{a:02x}")


class _Parser:
    """Field validators that raise ValueError('<file>: <field>: <reason>')."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.image_size = (0, 0)

    def error(self, where: str, reason: str) -> ValueError:
        return ValueError(f"{self.path}: {where}: {reason}")

    def identity(self, data: Mapping) -> tuple[str, str, tuple[int, int], bool]:
        """`id` (equal to the file stem), `family`, `size` [width, height] and `held_out`: what every skin kind states."""
        skin_id = self.slug(data["id"], "id")
        if skin_id != self.path.stem:
            raise self.error("id", f"{skin_id!r} must equal the file stem {self.path.stem!r}")
        family = self.slug(data["family"], "family")
        size = data["size"]
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v >= MIN_SKIN_SIDE for v in size)):
            raise self.error("size", f"expected [width, height] integers >= {MIN_SKIN_SIDE}, got {size!r}")
        held_out = data.get("held_out", False)
        if not isinstance(held_out, bool):
            raise self.error("held_out", f"expected true or false, got {held_out!r}")
        return skin_id, family, (size[0], size[1]), held_out

    def keys(self, data: Mapping, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
        missing = [k for k in required if k not in data]
        if missing:
            raise self.error(where, f"missing field(s) {', '.join(missing)}")
        unknown = sorted(set(data) - set(required) - set(optional))
        if unknown:
            raise self.error(where, f"unknown field(s) {', '.join(unknown)}; valid: {', '.join(required + optional)}")

    def slug(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _ID_PATTERN.match(value):
            raise self.error(where, f"{value!r} must be lower-case letters, digits, '-' or '_'")
        return value

    def colour(self, value: Any, where: str) -> Colour:
        try:
            return parse_colour(value)
        except ValueError as exc:
            raise self.error(where, str(exc)) from None

    def number(self, value: Any, where: str, low: float = 0.0, high: float = float("inf")) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise self.error(where, f"expected a number in [{low:g}, {high:g}], got {value!r}")
        return float(value)

    def choice(self, value: Any, where: str, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.error(where, f"{value!r} is not one of {', '.join(options)}")
        return value

    def inside(self, box: Box, where: str) -> None:
        w, h = self.image_size
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise self.error(where, f"[{x0:g}, {y0:g}, {x1:g}, {y1:g}] lies outside the {w}x{h} image (or is empty)")

    def region(self, value: Any, where: str) -> Box:
        if not (isinstance(value, list) and len(value) == 4 and all(_is_number(v) for v in value)):
            raise self.error(where, f"expected [x0, y0, x1, y1] in skin pixels, got {value!r}")
        box = tuple(float(v) for v in value)
        self.inside(box, where)  # type: ignore[arg-type]
        return box  # type: ignore[return-value]

    def pressed(self, spec: Any, where: str) -> PressedStyle:
        if not isinstance(spec, Mapping):
            raise self.error(where, "expected an object with `style` and `colour`")
        self.keys(spec, where, required=("style", "colour"), optional=("glyph_colour",))
        style = self.choice(spec["style"], f"{where}.style", PRESSED_STYLES)
        glyph_colour = None
        if style == "swap":
            if "glyph_colour" not in spec:
                raise self.error(f"{where}.glyph_colour", "required for style 'swap'")
            glyph_colour = self.colour(spec["glyph_colour"], f"{where}.glyph_colour")
        elif "glyph_colour" in spec:
            raise self.error(f"{where}.glyph_colour", f"only used by style 'swap', not {style!r}")
        return PressedStyle(style, self.colour(spec["colour"], f"{where}.colour"), glyph_colour)

    def glyph(self, spec: Any, where: str) -> Glyph | None:
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise self.error(where, "expected an object with `kind` and `colour`, or null")
        self.keys(spec, where, required=("kind", "colour"), optional=("size", "text"))
        kind = self.choice(spec["kind"], f"{where}.kind", GLYPH_KINDS)
        text = spec.get("text", "")
        if kind == "text" and (not isinstance(text, str) or not text.isascii() or not text.strip()):
            raise self.error(f"{where}.text", f"kind 'text' needs a non-empty ASCII label, got {text!r}")
        size = self.number(spec.get("size", 0.6), f"{where}.size", MIN_GLYPH_SIZE, MAX_GLYPH_SIZE)
        return Glyph(kind, self.colour(spec["colour"], f"{where}.colour"), size, text if kind == "text" else "")

    def button(self, name: str, spec: Any, where: str) -> ButtonLayout:
        if not isinstance(spec, Mapping):
            raise self.error(where, "expected an object with `shape`, `region` and `pressed`")
        self.keys(spec, where, required=("shape", "region", "pressed"), optional=("glyph",))
        return ButtonLayout(
            name=name,
            shape=self.choice(spec["shape"], f"{where}.shape", SHAPES),
            region=self.region(spec["region"], f"{where}.region"),
            pressed=self.pressed(spec["pressed"], f"{where}.pressed"),
            glyph=self.glyph(spec.get("glyph"), f"{where}.glyph"),
        )

    def stick(self, side: str, spec: Any, where: str) -> StickLayout:
        fields = (
            "centre", "well_radius", "well_colour", "cap_radius", "travel",
            "cap_colour", "cap_edge_colour", "cap_edge_width", "cap_style", "pressed",
        )  # fmt: skip
        if not isinstance(spec, Mapping):
            raise self.error(where, f"expected an object with {', '.join(fields)}")
        self.keys(spec, where, required=fields)
        centre = spec["centre"]
        if not (isinstance(centre, list) and len(centre) == 2 and all(_is_number(v) for v in centre)):
            raise self.error(f"{where}.centre", f"expected [x, y] in skin pixels, got {centre!r}")
        cx, cy = float(centre[0]), float(centre[1])
        well = self.number(spec["well_radius"], f"{where}.well_radius", 1.0)
        cap = self.number(spec["cap_radius"], f"{where}.cap_radius", 1.0, well)
        travel = self.number(spec["travel"], f"{where}.travel", 1.0)
        reach = max(well, travel + cap)
        self.inside((cx - reach, cy - reach, cx + reach, cy + reach), f"{where}.centre/travel")
        return StickLayout(
            side=side,
            centre=(cx, cy),
            well_radius=well,
            well_colour=self.colour(spec["well_colour"], f"{where}.well_colour"),
            cap_radius=cap,
            travel=travel,
            cap_colour=self.colour(spec["cap_colour"], f"{where}.cap_colour"),
            cap_edge_colour=self.colour(spec["cap_edge_colour"], f"{where}.cap_edge_colour"),
            cap_edge_width=self.number(spec["cap_edge_width"], f"{where}.cap_edge_width", 0.0, cap),
            cap_style=self.choice(spec["cap_style"], f"{where}.cap_style", CAP_STYLES),
            pressed=self.pressed(spec["pressed"], f"{where}.pressed"),
        )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
