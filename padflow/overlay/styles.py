"""Procedural skin *styles*: seeded sprite skins drawn the many ways real overlays are drawn.

padflow.overlay.skingen paints the built-in library (four families, one drawing style). Real
overlays (streamer presets, OBS input-overlay textures) look nothing like it: outline art with
thin strokes on transparent bodies, flat icons, photo-like shading, pixel art, semi-transparent
bodies, thin-outline or dark stick caps, controls of any shape, and pressed looks from a bright
fill to a sprite swap to a darker or barely different colour, a subtle tint, an outline-only
highlight, a glow that spills onto neighbours, a half-transparent press, an analog trigger fill.
This module draws such skins, on skingen's control geometry (`skingen.sample_geometry`), as
sprite skins (padflow.overlay.sprite; in memory, nothing written), so the overlay parser can be
trained on "what changed on this controller" rather than on one drawing style.

A skin's style is a (body, press) pair from BODY_STYLES x PRESS_LOOKS plus seeded details (shapes,
colours, stroke widths, cap look, pixel art, which controls the pad omits). HELD_OUT_STYLES, a
fifth of the pairs with every body and every press look still seen in training under other
partners, are never drawn by `style_skins(..., held_out=False)`: `held_out=True` draws only those
pairs, from another seed stream, to measure generalization to unseen styles.
`parametric_variants` redraws skingen's parametric skins from other seeds (new colours, glyphs,
pressed looks and jitter on the built-in designs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from padflow.overlay import skingen
from padflow.overlay.library import FAMILIES, SKINS_PER_FAMILY
from padflow.overlay.skin import Skin, parse_layout
from padflow.overlay.sprite import DPAD_STATES, SPRITE_FORMAT_VERSION, SPRITE_KIND, SpriteSkin, parse_sprite_layout

STYLE_SEED = 20_261_203
STYLE_FAMILY = "style"  # the family every generated skin reports (per-family figures keep them apart)
BODY_STYLES: tuple[str, ...] = ("none", "flat", "gradient", "outline", "semi")
PRESS_LOOKS: tuple[str, ...] = ("bright_fill", "dark_swap", "similar_swap", "tint", "outline_highlight", "glow", "fade", "pushed")
# (body, press) pairs never drawn for training: (i + 2j) % 5 == 0 leaves 8 of 40 pairs out while
# every body style and every press look keeps training partners.
HELD_OUT_STYLES: frozenset[tuple[str, str]] = frozenset(
    (b, p) for i, b in enumerate(BODY_STYLES) for j, p in enumerate(PRESS_LOOKS) if (i + 2 * j) % 5 == 0
)
SHAPES: tuple[str, ...] = ("circle", "rrect", "rect", "diamond", "polygon", "blob")
CAP_LOOKS: tuple[str, ...] = ("thin_outline", "dark", "solid", "gradient", "ring_dot")
SUPERSAMPLE = 4  # masks are drawn this much larger and area-averaged down (anti-aliased edges)
ATLAS_WIDTH = 512  # px; sprites are packed in shelves
SPRITE_PAD = 1  # px of transparent border around every sprite (bilinear sampling at its edge)
FACE_ORDER = ("SOUTH", "EAST", "WEST", "NORTH")
FACE_OFFSETS = {"SOUTH": (0, 1), "EAST": (1, 0), "WEST": (-1, 0), "NORTH": (0, -1)}
GLYPHS = {"SOUTH": "A", "EAST": "B", "WEST": "X", "NORTH": "Y"}

Rgb = np.ndarray  # (3,) float32 in [0, 255]


@dataclass(frozen=True)
class SkinStyle:
    """How one generated skin is drawn."""

    body: str  # BODY_STYLES
    press: str  # PRESS_LOOKS
    cap: str  # CAP_LOOKS
    pixel: int  # pixel-art block size, px (1 = smooth)
    stroke: float  # outline width, px
    idle_in_static: bool  # idle looks drawn on the static layer, buttons draw only their pressed sprite
    dpad_sprites: bool  # one d-pad layer with 9 state sprites (else four buttons)
    analog_triggers: bool


def style_of(index: int, held_out: bool) -> tuple[str, str]:
    """The (body, press) pair of skin `index`: cycling through the held-out pairs, or through the others."""
    pairs = sorted(HELD_OUT_STYLES) if held_out else sorted((b, p) for b in BODY_STYLES for p in PRESS_LOOKS if (b, p) not in HELD_OUT_STYLES)
    return pairs[index % len(pairs)]


def style_skins(count: int, held_out: bool = False, seed: int = STYLE_SEED) -> dict[str, SpriteSkin]:
    """`count` generated sprite skins keyed by id (`style-NNNN`, or `style-held-NNNN` with held_out=True, flagged held out)."""
    if count < 0:
        raise ValueError(f"count: {count} must be >= 0")
    prefix = "style-held" if held_out else "style"
    return {f"{prefix}-{i:04d}": style_skin(i, held_out, seed) for i in range(count)}


def style_skin(index: int, held_out: bool = False, seed: int = STYLE_SEED) -> SpriteSkin:
    """One generated sprite skin; the same (index, held_out, seed) always draws the same skin."""
    rng = np.random.default_rng([seed, int(held_out), index])
    body, press = style_of(index, held_out)
    style = SkinStyle(
        body=body, press=press, cap=CAP_LOOKS[int(rng.integers(len(CAP_LOOKS)))],
        pixel=int(rng.choice([1, 1, 1, 2, 3])), stroke=float(rng.choice([1.0, 1.5, 2.0, 3.0])),
        # a faded copy drawn over the same idle look on the static layer would not show: fade keeps its idle sprite
        idle_in_static=bool(rng.random() < 0.3) and press != "fade",
        dpad_sprites=bool(rng.random() < 0.6), analog_triggers=bool(rng.random() < 0.5),
    )  # fmt: skip
    skin_id = f"{'style-held' if held_out else 'style'}-{index:04d}"
    layout, atlas = _StylePainter(skin_id, style, rng).paint()
    if held_out:
        layout["held_out"] = True
    return parse_sprite_layout(layout, atlas, Path(f"{skin_id}.json"), Path(f"{skin_id}.png"))


def parametric_variants(count: int, seed: int = STYLE_SEED) -> dict[str, Skin]:
    """`count` parametric skins drawn by skingen's painter from `seed` instead of the library's seed, keyed `variant-NNNN`."""
    out: dict[str, Skin] = {}
    for i in range(count):
        family = FAMILIES[i % len(FAMILIES)]
        builtin = f"{family}-{(i // len(FAMILIES)) % SKINS_PER_FAMILY + 1:02d}"
        layout, rest = skingen.generate_skin(builtin, seed=seed + 1 + i // (len(FAMILIES) * SKINS_PER_FAMILY))
        skin_id = f"variant-{i:04d}"
        layout = {**layout, "id": skin_id}
        out[skin_id] = parse_layout(layout, rest, Path(f"{skin_id}.json"), Path(f"{skin_id}.png"))
    return out


def _polygon(kind: str, w: float, h: float, rng: np.random.Generator) -> np.ndarray:
    """Outline points (n, 2) of a shape filling a w x h box."""
    cx, cy, rx, ry = w / 2, h / 2, w / 2, h / 2
    if kind in ("rect", "rrect"):
        r = 0.0 if kind == "rect" else min(rx, ry) * float(rng.uniform(0.25, 0.7))
        t = np.linspace(0, np.pi / 2, 8)
        corners = [(w - r, h - r, 0.0), (r, h - r, np.pi / 2), (r, r, np.pi), (w - r, r, 1.5 * np.pi)]
        return np.concatenate([np.stack([x + r * np.cos(t + a), y + r * np.sin(t + a)], -1) for x, y, a in corners])
    if kind == "diamond":
        return np.array([[cx, 0], [w, cy], [cx, h], [0, cy]], dtype=np.float64)
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if kind == "polygon":
        n = int(rng.integers(3, 9))
        t = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, np.pi)
        return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], -1)
    if kind == "blob":
        radius = 1.0 + 0.18 * sum(rng.uniform(-1, 1) * np.cos(k * t + rng.uniform(0, 6.3)) for k in (2, 3, 5))
        radius = radius / radius.max()
        return np.stack([cx + rx * radius * np.cos(t), cy + ry * radius * np.sin(t)], -1)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], -1)  # circle / ellipse


def _mask(points: Sequence[np.ndarray], size: tuple[int, int], offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(h, w) float32 coverage in [0, 1] of the union of polygons (points in px, shifted by offset)."""
    w, h = size
    big = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    for pts in points:
        p = ((np.asarray(pts) + offset) * SUPERSAMPLE).round().astype(np.int32)
        cv2.fillPoly(big, [p], 255)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _ring(mask: np.ndarray, width: float) -> np.ndarray:
    """The band of `mask` within `width` px of its edge."""
    k = max(1, int(round(width * 2)) | 1)
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return np.clip(mask - inner, 0.0, 1.0)


def _fill(mask: np.ndarray, colour: np.ndarray, body: str, stroke: float, edge: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A (h, w, 4) float32 RGBA picture of `mask` drawn in a body style."""
    h, w = mask.shape
    rgb = np.broadcast_to(colour, (h, w, 3)).astype(np.float32).copy()
    alpha = mask.copy()
    if body == "gradient":  # photo-like: vertical light falloff, a specular spot, darker rim
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        light = 1.25 - 0.5 * yy / max(h - 1, 1)
        spot = np.exp(-(((xx - 0.35 * w) / (0.3 * w + 1)) ** 2 + ((yy - 0.3 * h) / (0.3 * h + 1)) ** 2))
        rgb = rgb * light[..., None] + 90.0 * spot[..., None]
    elif body == "outline":  # thin strokes on a (nearly) transparent body
        alpha = np.maximum(_ring(mask, stroke), mask * float(rng.uniform(0.0, 0.2)))
        rgb = np.where(_ring(mask, stroke)[..., None] > 0.05, edge, rgb)
    elif body == "semi":
        alpha = mask * float(rng.uniform(0.35, 0.65))
    if body in ("flat", "gradient", "semi") and rng.random() < 0.5:  # an edge line
        ring = _ring(mask, stroke)[..., None]
        rgb = rgb * (1 - ring) + edge * ring
        alpha = np.maximum(alpha, ring[..., 0] * mask)
    return np.concatenate([np.clip(rgb, 0, 255), alpha[..., None]], axis=-1)


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Straight-alpha RGBA `top` over `bottom` (float32, same size)."""
    a_t, a_b = top[..., 3:], bottom[..., 3:]
    a = a_t + a_b * (1 - a_t)
    rgb = (top[..., :3] * a_t + bottom[..., :3] * a_b * (1 - a_t)) / np.maximum(a, 1e-6)
    return np.concatenate([rgb, a], axis=-1)


def _pressed(idle: np.ndarray, mask: np.ndarray, look: str, style: SkinStyle, colour: np.ndarray, highlight: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The pressed picture of a control drawn as `idle` (RGBA float32) with coverage `mask`."""
    out = idle.copy()
    shape = mask[..., None]
    if look == "bright_fill":
        out = _over(np.concatenate([np.broadcast_to(highlight, idle.shape[:2] + (3,)), shape * 0.95], -1), idle)
    elif look == "dark_swap":
        dark = colour * float(rng.uniform(0.1, 0.35))
        out = _fill(mask, dark, "flat" if style.body in ("none", "outline") else style.body, style.stroke, dark * 0.5, rng)
        out[..., 3] = np.maximum(out[..., 3], mask)
    elif look == "similar_swap":  # a sprite swap to a barely different colour
        shift = float(rng.choice([-1, 1])) * float(rng.uniform(28, 50))
        out[..., :3] = np.clip(idle[..., :3] + shift * shape, 0, 255)
        out[..., 3] = np.maximum(idle[..., 3], mask * 0.6)
    elif look == "tint":
        t = float(rng.uniform(0.25, 0.45))
        out[..., :3] = idle[..., :3] * (1 - t * shape) + highlight * t * shape
        out[..., 3] = np.maximum(idle[..., 3], mask * 0.5)
    elif look == "outline_highlight":
        ring = _ring(mask, max(1.0, style.stroke))[..., None]
        out[..., :3] = idle[..., :3] * (1 - ring) + highlight * ring
        out[..., 3] = np.maximum(idle[..., 3], ring[..., 0])
    elif look == "glow":  # a halo that spills past the control (the sprite has a margin for it)
        sigma = float(rng.uniform(1.5, 3.5))
        halo = np.clip(cv2.GaussianBlur(mask, (0, 0), sigma) * 1.8, 0, 1) * float(rng.uniform(0.6, 0.95))
        glow = np.concatenate([np.broadcast_to(highlight, idle.shape[:2] + (3,)), halo[..., None]], -1)
        out = _over(idle, glow)
        out[..., :3] = out[..., :3] * (1 - 0.3 * shape) + highlight * 0.3 * shape
    elif look == "fade":  # the pressed control turns half transparent
        out[..., 3] = idle[..., 3] * float(rng.uniform(0.25, 0.55))
    elif look == "pushed":  # shifted down a pixel or two and darker, as a 3D key going in
        dy = int(rng.integers(1, 3))
        out = np.zeros_like(idle)
        out[dy:] = idle[:-dy]
        out[..., :3] *= float(rng.uniform(0.6, 0.8))
    return out


def _pixelate(sprite: np.ndarray, block: int) -> np.ndarray:
    """Pixel art: block-averaged, colours quantized to 32 levels, alpha in quarters, upscaled nearest."""
    if block <= 1:
        return sprite
    h, w = sprite.shape[:2]
    small = cv2.resize(sprite, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    small[..., :3] = np.round(small[..., :3] / 32.0) * 32.0
    alpha = small[..., 3]
    # alpha in quarters, and a thin stroke that covers part of a block still draws it (at least half opaque)
    small[..., 3] = np.where(alpha > 0.12, np.maximum(np.round(alpha * 4) / 4, 0.5), 0.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _colour(rng: np.random.Generator, dark: bool | None = None) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0, 255), rng.uniform(40, 255)]]], np.float32)
    if dark is True:
        hsv[..., 2] = rng.uniform(20, 80)
    elif dark is False:
        hsv[..., 2] = rng.uniform(170, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


class _StylePainter:
    """Paints one skin's sprites on skingen's geometry and collects its atlas and layers."""

    def __init__(self, skin_id: str, style: SkinStyle, rng: np.random.Generator) -> None:
        self.id, self.s, self.rng = skin_id, style, rng
        self.g = skingen.sample_geometry(str(rng.choice(skingen.GEOMETRY_LAYOUTS)), rng)
        self.size = (skingen.SKIN_WIDTH, self.g.height)
        self.sprites: list[np.ndarray] = []  # RGBA uint8, atlas order
        self.layers: list[dict[str, Any]] = []
        self.static: list[dict[str, Any]] = []  # idle looks drawn on the static layer (idle_in_static)
        self.body_colour = _colour(rng)
        self.element = _colour(rng, dark=None)
        self.edge = _colour(rng, dark=bool(rng.random() < 0.7))
        self.highlight = _colour(rng, dark=False) if style.press != "dark_swap" else _colour(rng, dark=True)
        self.shape = str(rng.choice(SHAPES))

    def add(self, picture: np.ndarray) -> list[int]:
        """Store an RGBA float picture as a sprite; its atlas rect is assigned in `atlas`."""
        pic = _pixelate(picture.astype(np.float32), self.s.pixel)
        rgba = np.concatenate([np.clip(pic[..., :3], 0, 255), np.clip(pic[..., 3:] * 255, 0, 255)], -1).round().astype(np.uint8)
        self.sprites.append(rgba)
        return [len(self.sprites) - 1]  # an index placeholder, replaced by the rect

    def fit(self, pos: list[int], *pictures: np.ndarray) -> tuple[list[int], list[np.ndarray]]:
        """Crop same-sized pictures placed at `pos` to the canvas (a sprite must lie inside it)."""
        w, h = self.size
        ph, pw = pictures[0].shape[:2]
        x0, y0 = max(0, -pos[0]), max(0, -pos[1])
        x1, y1 = min(pw, w - pos[0]), min(ph, h - pos[1])
        return [pos[0] + x0, pos[1] + y0], [p[y0:y1, x0:x1] for p in pictures]

    def paint(self) -> tuple[dict[str, Any], np.ndarray]:
        rng, g = self.rng, self.g
        omit = {name for name, p in (("GUIDE", 0.4), ("BACK", 0.15), ("START", 0.1)) if rng.random() < p}
        if self.s.body != "none":
            self._body()
        for name, (kind, region) in g.shoulders.items():
            if rng.random() >= 0.1:
                self._control(name, region, "rrect" if kind != "rect" else "rect", trigger="TRIGGER" in name)
        for name, (kind, region, _glyph) in g.small.items():
            if name not in omit:
                self._control(name, region, self.shape if rng.random() < 0.5 else ("circle" if kind == "circle" else "rrect"))
        self._face()
        self._dpad()
        if rng.random() >= 0.15:
            for side, (cx, cy, well, cap, travel) in g.sticks.items():
                self._stick(side, cx, cy, well, cap, travel)
        return self._layout()

    def _body(self) -> None:
        g, w, h = self.g, *self.size
        polys = []
        for part in (*g.body_parts, *g.grips):
            if part[0] == "rrect":
                (x0, y0, x1, y1), _r = part[1], part[2]
                polys.append(_polygon("rrect", x1 - x0, y1 - y0, self.rng) + (x0, y0))
            else:
                _, cx, cy, rx, ry, angle = part
                t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
                a = np.radians(angle)
                x, y = rx * np.cos(t), ry * np.sin(t)
                polys.append(np.stack([cx + x * np.cos(a) - y * np.sin(a), cy + x * np.sin(a) + y * np.cos(a)], -1))
        mask = _mask(polys, (w, h))
        picture = _fill(mask, self.body_colour, self.s.body, self.s.stroke, self.edge, self.rng)
        self.layers.append({"type": "static", "sprite": self.add(picture), "pos": [0, 0]})

    def _sprite_pair(self, box: tuple[float, float, float, float], shape: str, colour: np.ndarray, margin: int, glyph: str = "") -> tuple[list[int], list[int], np.ndarray, list[int]]:
        """Idle and pressed sprites of one control in `box` (skin px), their mask and top-left position."""
        x0, y0, x1, y1 = box
        pos = [int(np.floor(x0)) - margin, int(np.floor(y0)) - margin]
        w = int(np.ceil(x1)) - pos[0] + margin
        h = int(np.ceil(y1)) - pos[1] + margin
        outline = _polygon(shape, x1 - x0, y1 - y0, self.rng)
        mask = _mask([outline], (w, h), (x0 - pos[0], y0 - pos[1]))
        body = self.s.body if self.s.body != "none" else str(self.rng.choice(["flat", "gradient", "outline"]))
        idle = _fill(mask, colour, body, self.s.stroke, self.edge, self.rng)
        if glyph and self.rng.random() < 0.6:
            ink = (255, 255, 255) if colour.mean() < 128 else (20, 20, 20)
            text = np.zeros((h, w), np.uint8)
            scale = max(0.25, (y1 - y0) / 30.0)
            (tw, th), _ = cv2.getTextSize(glyph, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            cv2.putText(text, glyph, (int(w / 2 - tw / 2), int(h / 2 + th / 2)), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
            text = text.astype(np.float32) / 255.0
            idle[..., :3] = idle[..., :3] * (1 - text[..., None]) + np.array(ink, np.float32) * text[..., None]
            idle[..., 3] = np.maximum(idle[..., 3], text)
        pressed = _pressed(idle, mask, self.s.press, self.s, colour, self.highlight, self.rng)
        pos, (idle, pressed) = self.fit(pos, idle, pressed)
        return self.add(idle), self.add(pressed), mask, pos

    def _margin(self) -> int:
        return 5 if self.s.press == "glow" else SPRITE_PAD

    def _control(self, name: str, box: tuple[float, float, float, float], shape: str, trigger: bool = False, glyph: str = "") -> None:
        colour = self.element if self.rng.random() < 0.7 else _colour(self.rng)
        idle, pressed, _mask_, pos = self._sprite_pair(box, shape, colour, self._margin(), glyph)
        if self.s.idle_in_static:
            self.static.append({"type": "static", "sprite": idle, "pos": pos})
            idle = None  # type: ignore[assignment]
        if trigger and self.s.analog_triggers:
            direction = str(self.rng.choice(["up", "down", "left", "right"]))
            self.layers.append({"type": "trigger", "control": name, "pos": pos, "idle": idle, "pressed": pressed, "mode": "analog", "direction": direction})
        elif trigger:
            self.layers.append({"type": "trigger", "control": name, "pos": pos, "idle": idle, "pressed": pressed, "mode": "button", "direction": "up"})
        else:
            self.layers.append({"type": "button", "control": name, "pos": pos, "idle": idle, "pressed": pressed})

    def _face(self) -> None:
        g = self.g
        r = g.face_radius * float(self.rng.uniform(0.85, 1.15))
        shape = self.shape if self.rng.random() < 0.6 else "circle"
        if g.face_positions is not None:
            centres = dict(g.face_positions)  # arcade grids hold the shoulders and triggers too
        else:
            centres = {n: (g.face_centre[0] + dx * g.face_spacing, g.face_centre[1] + dy * g.face_spacing) for n, (dx, dy) in FACE_OFFSETS.items()}
        for name, (cx, cy) in centres.items():
            self._control(name, (cx - r, cy - r, cx + r, cy + r), shape, trigger="TRIGGER" in name, glyph=GLYPHS.get(name, ""))

    def _dpad(self) -> None:
        g, rng = self.g, self.rng
        if g.dpad_positions is not None or not self.s.dpad_sprites:
            for name in ("DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT"):
                if g.dpad_positions is not None:
                    cx, cy, r = g.dpad_positions[name]
                    box = (cx - r, cy - r, cx + r, cy + r)
                else:
                    (cx, cy), arm, hw = g.dpad_centre, g.dpad_arm, g.dpad_half_width
                    dx, dy = {"DPAD_UP": (0, -1), "DPAD_DOWN": (0, 1), "DPAD_LEFT": (-1, 0), "DPAD_RIGHT": (1, 0)}[name]
                    mx, my = cx + dx * (arm + hw) / 2, cy + dy * (arm + hw) / 2
                    half = (arm - hw) / 2 + 1
                    box = (mx - (half if dx else hw), my - (half if dy else hw), mx + (half if dx else hw), my + (half if dy else hw))
                self._control(name, box, str(rng.choice(["rect", "rrect", "diamond", "circle"])))
            return
        (cx, cy), arm, hw = g.dpad_centre, g.dpad_arm, g.dpad_half_width
        m = self._margin()
        pos = [int(np.floor(cx - arm)) - m, int(np.floor(cy - arm)) - m]
        side = int(np.ceil(2 * arm)) + 2 * m + 1
        ox, oy = cx - pos[0], cy - pos[1]
        cross = [np.array([[ox - hw, oy - arm], [ox + hw, oy - arm], [ox + hw, oy + arm], [ox - hw, oy + arm]]),
                 np.array([[ox - arm, oy - hw], [ox + arm, oy - hw], [ox + arm, oy + hw], [ox - arm, oy + hw]])]  # fmt: skip
        mask = _mask(cross, (side, side))
        colour = self.element
        body = self.s.body if self.s.body != "none" else "flat"
        idle = _fill(mask, colour, body, self.s.stroke, self.edge, rng)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
        arms = {"up": yy < oy - hw, "down": yy > oy + hw, "left": xx < ox - hw, "right": xx > ox + hw}
        pictures = {"idle": idle}
        for state in DPAD_STATES[1:]:
            region = np.zeros((side, side), bool)
            for part in state.split("_"):
                region |= arms[part]
            if self.s.press == "glow":
                region = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            pressed = _pressed(idle, mask * region, self.s.press, self.s, colour, self.highlight, rng)
            pictures[state] = np.where(region[..., None], pressed, idle)
        pos, fitted = self.fit(pos, *pictures.values())
        pictures = dict(zip(pictures, fitted))
        sprites: dict[str, Any] = {state: self.add(p) for state, p in pictures.items() if state != "idle"}
        sprites = {"idle": None if self.s.idle_in_static else self.add(pictures["idle"]), **sprites}
        if self.s.idle_in_static:
            self.static.append({"type": "static", "sprite": self.add(pictures["idle"]), "pos": pos})
        self.layers.append({"type": "dpad", "pos": pos, "sprites": sprites})

    def _stick(self, side: str, cx: float, cy: float, well: float, cap: float, travel: float) -> None:
        rng, w, h = self.rng, *self.size
        cap *= float(rng.uniform(0.8, 1.2))
        travel *= float(rng.uniform(0.7, 1.3))
        travel = max(2.0, min(travel, cx - cap - 1, w - cx - cap - 1, cy - cap - 1, h - cy - cap - 1))
        reach = cap + travel
        if rng.random() < 0.7:  # the well, on the static layer
            wpos = [int(np.floor(cx - reach)) - 1, int(np.floor(cy - reach)) - 1]
            wside = int(np.ceil(2 * reach)) + 3
            wmask = _mask([_polygon("circle", 2 * reach, 2 * reach, rng)], (wside, wside), (cx - reach - wpos[0], cy - reach - wpos[1]))
            look = str(rng.choice(["outline", "semi", "flat"]))
            wpos, (well_picture,) = self.fit(wpos, _fill(wmask, self.edge, look, self.s.stroke, self.edge, rng))
            self.static.append({"type": "static", "sprite": self.add(well_picture), "pos": wpos})
        m = SPRITE_PAD
        pos = [int(round(cx - cap)) - m, int(round(cy - cap)) - m]
        side_px = int(round(2 * cap)) + 2 * m
        mask = _mask([_polygon("circle", 2 * cap, 2 * cap, rng)], (side_px, side_px), (m, m))
        colour = _colour(rng, dark=True) if self.s.cap in ("dark", "thin_outline") else _colour(rng)
        if self.s.cap == "thin_outline":
            picture = _fill(mask, colour, "outline", float(rng.choice([1.0, 1.5])), self.edge, rng)
        elif self.s.cap == "ring_dot":
            picture = _fill(mask, colour, "outline", self.s.stroke, self.edge, rng)
            dot = _mask([_polygon("circle", cap * 0.6, cap * 0.6, rng)], (side_px, side_px), (m + cap * 0.7, m + cap * 0.7))
            picture = _over(np.concatenate([np.broadcast_to(self.edge, dot.shape + (3,)), dot[..., None]], -1), picture)
        else:
            picture = _fill(mask, colour, {"dark": "flat", "solid": "flat", "gradient": "gradient"}[self.s.cap], self.s.stroke, self.edge, rng)
        layer = {"type": "stick", "side": side, "pos": pos, "cap": self.add(picture), "travel": round(float(travel), 2),
                 "travel_shape": "square" if rng.random() < 0.4 else "round"}  # fmt: skip
        if rng.random() < 0.5:
            layer["cap_pressed"] = self.add(_pressed(picture, mask, self.s.press, self.s, colour, self.highlight, rng))
        self.layers.append(layer)

    def _layout(self) -> tuple[dict[str, Any], np.ndarray]:
        """Pack the sprites into one atlas (shelves) and resolve every layer's sprite indices into rects."""
        rects, x, y, shelf = [], 0, 0, 0
        for sprite in self.sprites:
            h, w = sprite.shape[:2]
            if x + w > ATLAS_WIDTH:
                x, y, shelf = 0, y + shelf, 0
            rects.append([x, y, w, h])
            x, shelf = x + w, max(shelf, h)
        atlas = np.zeros((y + shelf, ATLAS_WIDTH, 4), np.uint8)
        for (u, v, w, h), sprite in zip(rects, self.sprites):
            atlas[v : v + h, u : u + w] = sprite

        def resolve(value: Any) -> Any:
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int):
                return rects[value[0]]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return value

        statics = [layer for layer in self.layers if layer["type"] == "static"]
        others = [layer for layer in self.layers if layer["type"] != "static"]
        layers = [{k: (v if k in ("pos", "control", "side", "type", "mode", "direction", "travel", "travel_shape") else resolve(v)) for k, v in layer.items()}
                  for layer in (*statics, *self.static, *others)]  # fmt: skip
        layout = {"format_version": SPRITE_FORMAT_VERSION, "kind": SPRITE_KIND, "id": self.id, "family": STYLE_FAMILY,
                  "size": list(self.size), "atlas": f"{self.id}.png", "layers": layers}  # fmt: skip
        return layout, atlas
