"""The built-in skins: procedurally drawn, seeded controllers in four families.

`generate_skin` draws one built-in skin (its layout dict and rest image) from `LIBRARY_SEED`, a
style (colours, labels, pressed looks) and a geometry (where each control sits) sampled for it;
`regenerate_library` redraws every built-in skin (`<id>.png` + `<id>.json` under
padflow/overlay/skins/) byte-identically.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from padflow.io import atomic_path, write_json
from padflow.overlay.library import BUILTIN_SKIN_DIR, FAMILIES, SKINS_PER_FAMILY, builtin_skin_ids
from padflow.overlay.render import draw_cap
from padflow.overlay.shapes import SUPERSAMPLE, Canvas, Colour, ellipse_points
from padflow.overlay.skin import SKIN_FORMAT_VERSION, colour_hex, parse_layout

LIBRARY_SEED = 20_251_121
SKIN_WIDTH = 256  # px; every built-in rest image is this wide (heights differ by layout)

Rgb = tuple[int, int, int]
BODY_COLOURS: tuple[Rgb, ...] = (
    (28, 28, 30), (236, 236, 232), (40, 44, 52), (176, 30, 38), (24, 74, 160), (32, 120, 64),
    (96, 40, 140), (232, 118, 20), (0, 128, 136), (200, 40, 120), (120, 124, 130), (246, 238, 214),
    (14, 22, 40), (90, 60, 40), (150, 200, 60), (60, 170, 220),
)  # fmt: skip
HIGHLIGHTS: tuple[Rgb, ...] = (
    (255, 255, 255), (255, 225, 0), (0, 229, 255), (255, 43, 214), (156, 255, 0), (255, 122, 0), (255, 32, 32),
)  # fmt: skip
XBOX_FACE: dict[str, Rgb] = {"SOUTH": (63, 174, 73), "EAST": (224, 57, 62), "WEST": (45, 127, 211), "NORTH": (246, 198, 35)}
PS_FACE: dict[str, Rgb] = {"SOUTH": (124, 178, 232), "EAST": (255, 102, 102), "WEST": (233, 142, 212), "NORTH": (64, 196, 170)}
SNES_FACE: dict[str, Rgb] = {"SOUTH": (240, 196, 30), "EAST": (214, 40, 40), "WEST": (40, 150, 70), "NORTH": (40, 80, 200)}
ARCADE_COLOURS: tuple[Rgb, ...] = (
    (230, 40, 40), (250, 200, 0), (40, 110, 230), (40, 180, 80), (250, 250, 250), (20, 20, 20), (160, 60, 200), (255, 130, 0),
)  # fmt: skip
FACE_LABELS: dict[str, dict[str, tuple[str, str]]] = {  # family → button → (glyph kind, text)
    "xbox": {"SOUTH": ("text", "A"), "EAST": ("text", "B"), "WEST": ("text", "X"), "NORTH": ("text", "Y")},
    "playstation": {"SOUTH": ("cross", ""), "EAST": ("ring", ""), "WEST": ("square", ""), "NORTH": ("triangle", "")},
    "nintendo": {"SOUTH": ("text", "B"), "EAST": ("text", "A"), "WEST": ("text", "Y"), "NORTH": ("text", "X")},
}
SHOULDER_LABELS: dict[str, tuple[str, str, str, str]] = {  # LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_TRIGGER, RIGHT_TRIGGER
    "xbox": ("LB", "RB", "LT", "RT"),
    "playstation": ("L1", "R1", "L2", "R2"),
    "nintendo": ("L", "R", "ZL", "ZR"),
    "generic": ("L", "R", "L2", "R2"),
}
DPAD_ARROWS: dict[str, str] = {"DPAD_UP": "up", "DPAD_DOWN": "down", "DPAD_LEFT": "left", "DPAD_RIGHT": "right"}
PRESSED_CYCLE: tuple[str, ...] = ("fill", "glow", "swap")
CAP_CYCLE: tuple[str, ...] = ("concave", "solid", "dot")
JITTER_PX = 2.5  # layout groups move by up to this much between skins of one family


def regenerate_library(out_dir: str | Path = BUILTIN_SKIN_DIR) -> list[Path]:
    """Draw every built-in skin into `out_dir` (byte-identical on every run); return the layout paths."""
    out_dir = Path(out_dir)
    written = []
    for skin_id in builtin_skin_ids():
        layout, rest = generate_skin(skin_id)
        png = out_dir / f"{skin_id}.png"
        with atomic_path(png) as tmp:
            Image.fromarray(rest, "RGBA").save(tmp, format="PNG", optimize=False, compress_level=9)
        written.append(write_json(out_dir / f"{skin_id}.json", layout))
    return written


def generate_skin(skin_id: str, seed: int = LIBRARY_SEED) -> tuple[dict[str, Any], np.ndarray]:
    """The layout dict and rest image (H, W, 4) of one built-in skin (another `seed`: a variant of its design)."""
    family, _, number = skin_id.rpartition("-")
    if family not in FAMILIES or not number.isdigit() or not 1 <= int(number) <= SKINS_PER_FAMILY:
        raise ValueError(f"{skin_id!r} is not a built-in skin id; valid: {FAMILIES[0]}-01 … {FAMILIES[-1]}-{SKINS_PER_FAMILY:02d}")
    index = int(number)
    rng = np.random.default_rng([seed, FAMILIES.index(family), index])
    style = _Style.sample(family, index, rng)
    geometry = _GEOMETRY[style.layout](rng)
    return _Painter(skin_id, family, style, geometry).paint()


@dataclass(frozen=True)
class _Style:
    layout: str  # key of _GEOMETRY
    body: Rgb
    accent: Rgb  # second body tone (grips / panel)
    body_shape: str  # grips | compact | slim | slab | none
    outline: Rgb
    outline_width: float  # px
    element: Rgb  # base colour of d-pad, shoulders, small buttons
    face_fills: dict[str, Rgb]
    face_glyphs: dict[str, Rgb]
    label_kind: str  # family labels | numbers | none
    pressed: str  # fill | glow | swap
    highlight: Rgb
    cap_style: str
    cap: Rgb
    cap_edge: Rgb
    well: Rgb
    dpad_style: str  # cross | separate | triangles | buttons
    button_outline: float  # px ring around face buttons

    @staticmethod
    def sample(family: str, index: int, rng: np.random.Generator) -> _Style:
        fam = FAMILIES.index(family)
        body = BODY_COLOURS[(index * 5 + fam * 3) % len(BODY_COLOURS)]
        light = _luma(body) > 140
        element = _shade(body, -0.45 if light else 0.28)
        if family == "generic":
            layout = ("fightstick", "retropad", "allbutton")[index % 3]
        else:
            layout = family
        body_shape = {
            "fightstick": "slab", "retropad": "compact", "allbutton": "slab",
        }.get(layout) or ("grips", "compact", "slim", "none")[index % 4]  # fmt: skip
        accent = _shade(body, 0.18 if not light else -0.15) if rng.random() < 0.5 else body
        outline_width = float(rng.choice([0.0, 1.5, 2.5, 3.5]))
        outline = _shade(body, -0.6) if light or rng.random() < 0.5 else _shade(body, 0.55)
        face_fills, face_glyphs = _face_colours(family, layout, index, element, light, rng)
        pressed = PRESSED_CYCLE[(index + fam) % len(PRESSED_CYCLE)]
        highlight = _contrasting(list(face_fills.values()) + [body, element], rng)
        cap_style = "ball" if layout == "fightstick" else CAP_CYCLE[(index + 2 * fam) % len(CAP_CYCLE)]
        cap = _shade(element, -0.35) if rng.random() < 0.6 else ARCADE_COLOURS[index % len(ARCADE_COLOURS)]
        if layout == "fightstick":
            cap = ARCADE_COLOURS[(index * 3) % len(ARCADE_COLOURS)]
        cap_edge = _shade(cap, 0.45) if _luma(cap) < 110 else _shade(cap, -0.45)
        well = _shade(body, -0.55 if light else -0.5) if rng.random() < 0.7 else _shade(body, 0.35)
        dpad_style = {
            "playstation": "separate", "allbutton": "buttons", "fightstick": "cross",
        }.get(layout) or ("cross", "triangles", "cross", "separate")[index % 4]  # fmt: skip
        label_kind = "none" if (index % 5 == 4 and layout != "allbutton") else ("numbers" if layout == "allbutton" and index % 2 else "labels")
        return _Style(
            layout=layout, body=body, accent=accent, body_shape=body_shape, outline=outline,
            outline_width=outline_width, element=element, face_fills=face_fills, face_glyphs=face_glyphs,
            label_kind=label_kind, pressed=pressed, highlight=highlight, cap_style=cap_style, cap=cap,
            cap_edge=cap_edge, well=well, dpad_style=dpad_style, button_outline=float(rng.choice([0.0, 1.0, 1.5])),
        )  # fmt: skip


def _face_colours(
    family: str, layout: str, index: int, element: Rgb, light: bool, rng: np.random.Generator
) -> tuple[dict[str, Rgb], dict[str, Rgb]]:
    names = ("SOUTH", "EAST", "WEST", "NORTH")
    scheme = index % 3
    dark, white = (24, 24, 28), (245, 245, 245)
    if family == "xbox":
        if scheme == 0:
            return dict(XBOX_FACE), {n: white for n in names}
        if scheme == 1:
            return {n: dark for n in names}, dict(XBOX_FACE)
        return {n: element for n in names}, {n: white if _luma(element) < 128 else dark for n in names}
    if family == "playstation":
        if scheme == 0:
            return {n: dark for n in names}, dict(PS_FACE)
        if scheme == 1:
            return {n: element for n in names}, {n: white if _luma(element) < 128 else dark for n in names}
        return {n: _shade(c, -0.1) for n, c in PS_FACE.items()}, {n: white for n in names}
    if family == "nintendo":
        if scheme == 0:
            return dict(SNES_FACE), {n: white for n in names}
        return {n: element for n in names}, {n: white if _luma(element) < 128 else dark for n in names}
    # generic: all-one arcade colour, or one colour per button
    if scheme == 0:
        colour = ARCADE_COLOURS[(index + 1) % len(ARCADE_COLOURS)]
        fills = {n: colour for n in names}
    else:
        start = int(rng.integers(len(ARCADE_COLOURS)))
        fills = {n: ARCADE_COLOURS[(start + k) % len(ARCADE_COLOURS)] for k, n in enumerate(names)}
    return fills, {n: white if _luma(c) < 150 else dark for n, c in fills.items()}


@dataclass(frozen=True)
class _Geometry:
    height: int
    body_parts: tuple[tuple, ...]  # ("rrect", box, radius) | ("ellipse", cx, cy, rx, ry, angle)
    grips: tuple[tuple, ...]  # parts drawn in the accent colour
    face_centre: tuple[float, float]
    face_spacing: float
    face_radius: float
    face_shape: str
    face_positions: dict[str, tuple[float, float]] | None  # explicit positions (arcade grids) instead of a diamond
    dpad_centre: tuple[float, float]
    dpad_arm: float  # centre → tip, px
    dpad_half_width: float
    dpad_positions: dict[str, tuple[float, float, float]] | None  # name → (x, y, r) for button-style d-pads
    sticks: dict[str, tuple[float, float, float, float, float]]  # side → cx, cy, well, cap, travel
    shoulders: dict[str, tuple[str, tuple[float, float, float, float]]]  # name → (shape, region)
    small: dict[str, tuple[str, tuple[float, float, float, float], str]]  # BACK/START/GUIDE → (shape, region, glyph kind)
    decorations: tuple[tuple, ...]  # ("touchpad" | "capture" | "grille", box)


def _j(rng: np.random.Generator, scale: float = JITTER_PX) -> float:
    return float(np.round(rng.uniform(-scale, scale), 1))


def _pad_geometry(rng: np.random.Generator, family: str) -> _Geometry:
    """Two-handed pads: xbox (offset sticks), playstation (symmetric sticks), nintendo (offset, pro-like)."""
    height = 176
    offset = family != "playstation"
    jx, jy = _j(rng), _j(rng)
    face = (186 + jx, 80 + jy)
    left_top = (70 - jx, 80 + jy)  # upper-left: the left stick on offset pads, the d-pad on playstation
    if offset:
        ls = (left_top[0], left_top[1], 24.0, 13.0, 11.0)
        dpad = (100.0 + _j(rng), 127.0)
        rs = (158.0 + _j(rng), 127.0, 23.0, 12.5, 10.5)
    else:
        dpad = left_top
        ls = (100.0 + _j(rng, 1.5), 130.0, 23.0, 12.5, 10.5)
        rs = (256 - ls[0], 130.0, 23.0, 12.5, 10.5)
    face_r = float(np.round(rng.uniform(8.5, 10.0), 1))
    spacing = float(np.round(rng.uniform(16.5, 18.5), 1))
    sh_w = float(np.round(rng.uniform(54, 64)))
    shoulder_shape = "pill" if rng.random() < 0.6 else "rounded_rect"
    trig_shape = "rounded_rect" if rng.random() < 0.7 else "rect"
    shoulders = {
        "LEFT_SHOULDER": (shoulder_shape, (100 - sh_w, 30, 100, 41)),
        "RIGHT_SHOULDER": (shoulder_shape, (156, 30, 156 + sh_w, 41)),
        "LEFT_TRIGGER": (trig_shape, (54, 5, 92, 26)),
        "RIGHT_TRIGGER": (trig_shape, (164, 5, 202, 26)),
    }
    if family == "playstation":
        small = {
            "BACK": ("pill", (86, 47, 95, 64), "bars"),
            "START": ("pill", (161, 47, 170, 64), "bars"),
            "GUIDE": ("circle", (121, 92, 135, 106), "dot"),
        }
        decorations: tuple[tuple, ...] = (("touchpad", (101, 46, 155, 88)),)
    elif family == "nintendo":
        small = {
            "BACK": ("circle", (99, 54, 111, 66), "minus"),
            "START": ("circle", (145, 54, 157, 66), "plus"),
            "GUIDE": ("circle", (136, 84, 150, 98), "ring"),
        }
        decorations = (("capture", (107, 85, 119, 97)),)
    else:
        small = {
            "BACK": ("circle", (103, 74, 115, 86), "windows"),
            "START": ("circle", (141, 74, 153, 86), "bars"),
            "GUIDE": ("circle", (118, 46, 138, 66), "cross"),
        }
        decorations = (("grille", (120, 94, 136, 100)),)
    grips = (("ellipse", 66, 120, 33, 50, 22), ("ellipse", 190, 120, 33, 50, -22))
    body = (("rrect", (40, 44, 216, 130), 28),)
    return _Geometry(
        height=height, body_parts=body, grips=grips, face_centre=face, face_spacing=spacing, face_radius=face_r,
        face_shape="circle", face_positions=None, dpad_centre=dpad, dpad_arm=float(np.round(rng.uniform(16, 19))),
        dpad_half_width=float(np.round(rng.uniform(5.5, 7.0), 1)), dpad_positions=None,
        sticks={"left": ls, "right": rs}, shoulders=shoulders, small=small, decorations=decorations,
    )  # fmt: skip


def _arcade_grid(x0: float, y0: float, pitch: float, row_gap: float, r: float) -> dict[str, tuple[float, float]]:
    """Eight buttons in the fight-stick arc: top row W N RB LB, bottom row S E RT LT."""
    arc = (6.0, 0.0, 2.0, 8.0)
    top = ("WEST", "NORTH", "RIGHT_SHOULDER", "LEFT_SHOULDER")
    bottom = ("SOUTH", "EAST", "RIGHT_TRIGGER", "LEFT_TRIGGER")
    out = {}
    for k in range(4):
        x = x0 + k * pitch
        out[top[k]] = (x, y0 + arc[k])
        out[bottom[k]] = (x, y0 + row_gap + arc[k])
    return out


def _fightstick_geometry(rng: np.random.Generator) -> _Geometry:
    r = float(np.round(rng.uniform(10.0, 11.5), 1))
    grid = _arcade_grid(156 + _j(rng), 74 + _j(rng), 24.5, 27.0, r)
    small = {
        "BACK": ("circle", (104, 36, 116, 48), "minus"),
        "GUIDE": ("circle", (121, 35, 135, 49), "ring"),
        "START": ("circle", (140, 36, 152, 48), "plus"),
    }
    return _Geometry(
        height=156, body_parts=(("rrect", (4, 24, 252, 152), 14),), grips=(("rrect", (10, 30, 104, 146), 10),),
        face_centre=(0, 0), face_spacing=0, face_radius=r, face_shape="circle", face_positions=grid,
        dpad_centre=(124.0, 122.0), dpad_arm=13.0, dpad_half_width=4.5, dpad_positions=None,
        sticks={"left": (56.0 + _j(rng), 90.0, 31.0, 15.5, 15.0), "right": (124.0, 80.0, 13.0, 7.0, 6.0)},
        shoulders={}, small=small, decorations=(),
    )  # fmt: skip


def _retropad_geometry(rng: np.random.Generator) -> _Geometry:
    r = float(np.round(rng.uniform(9.0, 10.5), 1))
    shoulders = {
        "LEFT_SHOULDER": ("rounded_rect", (28, 25, 88, 37)),
        "RIGHT_SHOULDER": ("rounded_rect", (168, 25, 228, 37)),
        "LEFT_TRIGGER": ("rounded_rect", (36, 5, 76, 22)),
        "RIGHT_TRIGGER": ("rounded_rect", (180, 5, 220, 22)),
    }
    small = {
        "BACK": ("pill", (98, 74, 118, 82), ""),
        "START": ("pill", (138, 74, 158, 82), ""),
        "GUIDE": ("circle", (120, 47, 136, 63), "dot"),
    }
    return _Geometry(
        height=156, body_parts=(("rrect", (8, 38, 248, 152), 40),), grips=(),
        face_centre=(202 + _j(rng), 84.0), face_spacing=18.5, face_radius=r, face_shape="circle", face_positions=None,
        dpad_centre=(54 + _j(rng), 84.0), dpad_arm=19.0, dpad_half_width=6.5, dpad_positions=None,
        sticks={"left": (98.0, 122.0, 19.0, 10.0, 9.0), "right": (158.0, 122.0, 19.0, 10.0, 9.0)},
        shoulders=shoulders, small=small, decorations=(),
    )  # fmt: skip


def _allbutton_geometry(rng: np.random.Generator) -> _Geometry:
    r = float(np.round(rng.uniform(10.0, 11.0), 1))
    grid = _arcade_grid(150 + _j(rng), 52.0, 24.0, 27.0, r)
    dpad = {
        "DPAD_LEFT": (30.0, 62.0, r), "DPAD_DOWN": (55.0, 56.0, r), "DPAD_RIGHT": (80.0, 62.0, r),
        "DPAD_UP": (112.0, 112.0, r + 1.5),
    }  # fmt: skip
    small = {
        "BACK": ("pill", (100, 16, 118, 26), ""),
        "GUIDE": ("circle", (121, 13, 135, 27), "ring"),
        "START": ("pill", (138, 16, 156, 26), ""),
    }
    return _Geometry(
        height=146, body_parts=(("rrect", (4, 6, 252, 142), 12),), grips=(),
        face_centre=(0, 0), face_spacing=0, face_radius=r, face_shape="circle", face_positions=grid,
        dpad_centre=(0, 0), dpad_arm=0, dpad_half_width=0, dpad_positions=dpad,
        sticks={"left": (46.0, 112.0, 19.0, 10.0, 8.5), "right": (168.0, 118.0, 16.0, 9.0, 6.5)},
        shoulders={}, small=small, decorations=(),
    )  # fmt: skip


def sample_geometry(layout: str, rng: np.random.Generator) -> _Geometry:
    """Where each control of a `layout` (a GEOMETRY_LAYOUTS entry) sits, jittered by `rng`: what padflow.overlay.styles paints on."""
    return _GEOMETRY[layout](rng)


_GEOMETRY = {
    "xbox": lambda rng: _pad_geometry(rng, "xbox"),
    "playstation": lambda rng: _pad_geometry(rng, "playstation"),
    "nintendo": lambda rng: _pad_geometry(rng, "nintendo"),
    "fightstick": _fightstick_geometry,
    "retropad": _retropad_geometry,
    "allbutton": _allbutton_geometry,
}
GEOMETRY_LAYOUTS: tuple[str, ...] = tuple(_GEOMETRY)


class _Painter:
    """Draws one skin's rest image and writes its layout as it goes."""

    def __init__(self, skin_id: str, family: str, style: _Style, geometry: _Geometry) -> None:
        self.id, self.family, self.s, self.g = skin_id, family, style, geometry
        self.canvas = Canvas(SKIN_WIDTH, geometry.height)
        self.buttons: dict[str, dict[str, Any]] = {}

    def paint(self) -> tuple[dict[str, Any], np.ndarray]:
        self._shoulders()
        self._body()
        self._decorations()
        self._dpad()
        self._face()
        self._small()
        sticks = {side: self._well(side, *spec) for side, spec in self.g.sticks.items()}
        rest = self.canvas.to_array()
        layout = {
            "format_version": SKIN_FORMAT_VERSION,
            "id": self.id,
            "family": self.family,
            "size": [SKIN_WIDTH, self.g.height],
            "buttons": self.buttons,
            "sticks": sticks,
        }
        for spec in parse_layout(layout, rest, Path(f"{self.id}.json"), Path(f"{self.id}.png")).sticks:
            draw_cap(rest, spec, 0.0, 0.0, False, 1.0)
        return layout, rest

    # each control: draw its rest look and record its layout entry
    def _button(self, name: str, shape: str, region, fill: Rgb, glyph: tuple[str, str, Rgb, float] | None, outline: float = 0.0) -> None:
        region = tuple(float(np.round(v, 1)) for v in region)
        ring = _shade(fill, -0.45) if _luma(fill) > 60 else _shade(fill, 0.4)
        self.canvas.shape(shape, region, _rgba(fill), _rgba(ring), outline)
        entry: dict[str, Any] = {"shape": shape, "region": list(region), "pressed": self._pressed(fill, glyph[2] if glyph else None)}
        if glyph is not None:
            kind, text, colour, size = glyph
            self.canvas.glyph(kind, region, _rgba(colour), size, text)
            entry["glyph"] = {"kind": kind, "colour": _hex(colour), "size": size, **({"text": text} if kind == "text" else {})}
        self.buttons[name] = entry

    def _pressed(self, fill: Rgb, glyph_colour: Rgb | None) -> dict[str, str]:
        style = self.s.pressed
        highlight = self.s.highlight
        if _distance(highlight, fill) < 120:
            highlight = _contrasting([fill, self.s.body], None)
        if style == "swap":
            body = glyph_colour if glyph_colour is not None and _distance(glyph_colour, fill) >= 120 else highlight
            return {"style": "swap", "colour": _hex(body), "glyph_colour": _hex(fill)}
        return {"style": style, "colour": _hex(highlight)}

    def _body(self) -> None:
        s, g = self.s, self.g
        if s.body_shape == "none":
            return
        parts = g.body_parts + (g.grips if s.body_shape == "grips" else ())
        if s.body_shape == "compact":
            parts = (("rrect", (28, 44, 228, 160 if g.height > 160 else g.height - 4), 44),)
        elif s.body_shape == "slim":
            parts = (("rrect", (12, 46, 244, 156), 55),)
        mask = self._mask(parts)
        if s.outline_width > 0:
            k = int(round(s.outline_width * SUPERSAMPLE))
            dilated = cv2.dilate(np.asarray(mask), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
            self._paste(s.outline, Image.fromarray(dilated))
        self._paste(s.body, mask)
        if s.accent != s.body and s.body_shape == "grips" and g.grips:
            self._paste(s.accent, Image.fromarray(np.minimum(np.asarray(self._mask(g.grips)), np.asarray(mask))))
        elif s.accent != s.body and s.layout in ("fightstick",):
            self._paste(s.accent, self._mask(g.grips))

    def _mask(self, parts: Iterable[tuple]) -> Image.Image:
        mask = Image.new("L", self.canvas.image.size, 0)
        draw = ImageDraw.Draw(mask)
        for part in parts:
            if part[0] == "rrect":
                box = tuple(round(v * SUPERSAMPLE) for v in part[1])
                draw.rounded_rectangle(box, radius=round(part[2] * SUPERSAMPLE), fill=255)
            else:
                _, cx, cy, rx, ry, angle = part
                draw.polygon([(x * SUPERSAMPLE, y * SUPERSAMPLE) for x, y in ellipse_points(cx, cy, rx, ry, angle)], fill=255)
        return mask

    def _paste(self, colour: Rgb, mask: Image.Image) -> None:
        self.canvas.image.paste(Image.new("RGBA", self.canvas.image.size, _rgba(colour)), (0, 0), mask)

    def _decorations(self) -> None:
        s = self.s
        panel = _shade(s.body, -0.25) if _luma(s.body) > 90 else _shade(s.body, 0.2)
        for kind, box in self.g.decorations:
            if kind == "touchpad":
                self.canvas.shape("rounded_rect", box, _rgba(panel), _rgba(_shade(panel, -0.3)), 1.0)
            elif kind == "capture":
                self.canvas.shape("rounded_rect", box, _rgba(s.element))
                self.canvas.glyph("dot", box, _rgba(_shade(s.element, -0.4)), 0.6)
            elif kind == "grille" and s.body_shape != "none":
                x0, y0, x1, y1 = box
                for k in range(4):
                    x = x0 + k * (x1 - x0) / 3
                    self.canvas.line([(x, y0), (x, y1)], 1.0, _rgba(panel))

    def _dpad(self) -> None:
        s, g = self.s, self.g
        arrow = _shade(s.element, -0.5) if _luma(s.element) > 100 else _shade(s.element, 0.5)
        if g.dpad_positions is not None:
            for name, (x, y, r) in g.dpad_positions.items():
                fill = s.face_fills["SOUTH"] if name == "DPAD_UP" else s.element
                glyph_colour = s.face_glyphs["SOUTH"] if name == "DPAD_UP" else arrow
                self._button(name, "circle", (x - r, y - r, x + r, y + r), fill, (f"arrow_{DPAD_ARROWS[name]}", "", glyph_colour, 0.45), 1.5)
            return
        cx, cy = g.dpad_centre
        a, w = g.dpad_arm, g.dpad_half_width
        arms = {
            "DPAD_UP": (cx - w, cy - a, cx + w, cy - w),
            "DPAD_DOWN": (cx - w, cy + w, cx + w, cy + a),
            "DPAD_LEFT": (cx - a, cy - w, cx - w, cy + w),
            "DPAD_RIGHT": (cx + w, cy - w, cx + a, cy + w),
        }
        if s.dpad_style == "cross":
            ring = _shade(s.element, -0.45) if _luma(s.element) > 60 else _shade(s.element, 0.35)
            for box in ((cx - w, cy - a, cx + w, cy + a), (cx - a, cy - w, cx + a, cy + w)):
                self.canvas.shape("rounded_rect", box, _rgba(ring), None)
            inner = 1.0
            for box in ((cx - w + inner, cy - a + inner, cx + w - inner, cy + a - inner), (cx - a + inner, cy - w + inner, cx + a - inner, cy + w - inner)):
                self.canvas.shape("rect", box, _rgba(s.element))
            for name, box in arms.items():
                self._button(name, "rect", box, s.element, (f"arrow_{DPAD_ARROWS[name]}", "", arrow, 0.55))
        elif s.dpad_style == "separate":
            gap = 1.5
            for name, (x0, y0, x1, y1) in arms.items():
                d = DPAD_ARROWS[name]
                box = (x0, y0 - (gap if d == "up" else 0), x1 + (gap if d == "right" else 0), y1 + (gap if d == "down" else 0))
                box = (box[0] - (gap if d == "left" else 0), box[1], box[2], box[3])
                self._button(name, "rounded_rect", box, s.element, (f"arrow_{d}", "", arrow, 0.55), 1.0)
        else:  # triangles pointing outwards
            for name, (x0, y0, x1, y1) in arms.items():
                d = DPAD_ARROWS[name]
                grow = w * 0.5
                box = (x0 - grow, y0, x1 + grow, y1) if d in ("up", "down") else (x0, y0 - grow, x1, y1 + grow)
                self._button(name, f"triangle_{d}", box, s.element, None, 1.0)

    def _face(self) -> None:
        s, g = self.s, self.g
        if g.face_positions is not None:
            positions = g.face_positions
        else:
            cx, cy = g.face_centre
            d = g.face_spacing
            positions = {"SOUTH": (cx, cy + d), "EAST": (cx + d, cy), "WEST": (cx - d, cy), "NORTH": (cx, cy - d)}
        labels = FACE_LABELS.get(self.family, {})
        trigger_labels = dict(zip(("LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_TRIGGER", "RIGHT_TRIGGER"), SHOULDER_LABELS[self.family]))
        r = g.face_radius
        for k, (name, (x, y)) in enumerate(positions.items()):
            fill = s.face_fills.get(name, s.face_fills["SOUTH"] if k % 2 == 0 else s.face_fills["EAST"])
            glyph_colour = s.face_glyphs.get(name, s.face_glyphs["SOUTH"])
            if s.label_kind == "none":
                glyph = None
            elif s.label_kind == "numbers":
                glyph = ("text", str(k + 1), glyph_colour, 0.55)
            elif name in labels:
                kind, text = labels[name]
                glyph = (kind, text, glyph_colour, 0.55 if kind == "text" else 0.5)
            else:
                glyph = ("text", trigger_labels.get(name, ""), glyph_colour, 0.45) if name in trigger_labels else None
            self._button(name, g.face_shape, (x - r, y - r, x + r, y + r), fill, glyph, s.button_outline)

    def _shoulders(self) -> None:
        s = self.s
        labels = dict(zip(("LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_TRIGGER", "RIGHT_TRIGGER"), SHOULDER_LABELS[self.family]))
        label_colour = _shade(s.element, -0.55) if _luma(s.element) > 110 else _shade(s.element, 0.6)
        for name, (shape, region) in self.g.shoulders.items():
            glyph = None if s.label_kind == "none" else ("text", labels[name], label_colour, 0.62)
            self._button(name, shape, region, s.element, glyph, max(1.0, s.button_outline))

    def _small(self) -> None:
        s = self.s
        glyph_colour = _shade(s.element, -0.55) if _luma(s.element) > 110 else _shade(s.element, 0.6)
        for name, (shape, region, kind) in self.g.small.items():
            fill = s.element if name != "GUIDE" or self.family != "xbox" else _shade(s.element, 0.15)
            glyph = (kind, "", glyph_colour, 0.6) if kind else None
            self._button(name, shape, region, fill, glyph, 1.0)

    def _well(self, side: str, cx: float, cy: float, well: float, cap: float, travel: float) -> dict[str, Any]:
        s = self.s
        rim = _shade(s.well, 0.3) if _luma(s.well) < 100 else _shade(s.well, -0.3)
        self.canvas.disc(cx, cy, well + 1.5, _rgba(rim))
        self.canvas.disc(cx, cy, well, _rgba(s.well))
        press = self._pressed(s.cap, s.cap_edge)
        return {
            "centre": [cx, cy], "well_radius": well, "well_colour": _hex(s.well), "cap_radius": cap, "travel": travel,
            "cap_colour": _hex(s.cap), "cap_edge_colour": _hex(s.cap_edge), "cap_edge_width": 2.0 if cap > 9 else 1.5,
            "cap_style": s.cap_style, "pressed": press,
        }  # fmt: skip


def _rgba(c: Rgb) -> Colour:
    return (c[0], c[1], c[2], 255)


def _hex(c: Rgb) -> str:
    return colour_hex(_rgba(c))


def _luma(c: Sequence[int]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _shade(c: Rgb, t: float) -> Rgb:
    """Mix towards white (t > 0) or black (t < 0) by |t|."""
    target = 255 if t > 0 else 0
    return tuple(int(round(v + (target - v) * abs(t))) for v in c)  # type: ignore[return-value]


def _distance(a: Rgb, b: Rgb) -> float:
    return float(np.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))))


def _contrasting(against: list[Rgb], rng: np.random.Generator | None) -> Rgb:
    """The highlight colour farthest from every colour in `against` (one of the best two, by rng)."""
    ranked = sorted(HIGHLIGHTS, key=lambda h: -min(_distance(h, c) for c in against))
    return ranked[int(rng.integers(2))] if rng is not None else ranked[0]
