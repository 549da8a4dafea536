"""Draw a unified action on a skin and composite the overlay onto a game frame.

The corpus draws an overlay on every frame of many videos, so a skin is prepared once per output
width (`_SkinSprites`: the rest image with empty stick wells, and one pre-rendered patch per
pressed button); a render then copies the base, pastes the patches of the held buttons and
draws the two stick caps at sub-pixel positions. A sprite skin (padflow.overlay.sprite) is drawn
by its own module: its layers composited at skin resolution, then resized to the asked width.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from padflow.actions import ACTION_DIM, AXIS_INDEX, BUTTON_INDEX, noop, validate_action
from padflow.overlay.shapes import Canvas, Colour, over
from padflow.overlay.skin import STICK_AXES, STICK_BUTTONS, ButtonLayout, PressedStyle, Skin, StickLayout
from padflow.overlay.sprite import SpriteSkin, render_sprite
from padflow.overlay.sprite_crop import render_sprite_crop

# anchor → (vertical, horizontal) position of the overlay in the frame
_ANCHOR_SIDES: dict[str, tuple[str, str]] = {
    "top-left": ("top", "left"), "top": ("top", "centre"), "top-right": ("top", "right"),
    "left": ("centre", "left"), "right": ("centre", "right"),
    "bottom-left": ("bottom", "left"), "bottom": ("bottom", "centre"), "bottom-right": ("bottom", "right"),
}  # fmt: skip
ANCHORS: tuple[str, ...] = tuple(_ANCHOR_SIDES)
MIN_WIDTH_FRAC, MAX_WIDTH_FRAC = 0.08, 0.30  # overlay width, fraction of frame width (NitroGen's range)
MIN_OPACITY, MAX_OPACITY = 0.4, 1.0
MAX_MARGIN_FRAC = 0.1  # a larger gap would push the overlay towards the play area
MAX_OVERLAY_LAG = 2  # frames; overlay software shows the pad state up to two frames late
MIN_RENDER_WIDTH = 8  # px; below this no control is distinguishable
GLOW_MARGIN = 0.45  # glow halo reach, fraction of the button's shorter side
GLOW_TINT_ALPHA = 150  # 0..255: how strongly a glowing button is tinted with the glow colour
CAP_CONCAVE_RING = 0.62  # radius of the concave cap's inner ring, fraction of the cap radius
CAP_DOT_RADIUS = 0.3  # centre dot of the `dot` cap, fraction of the cap radius
BALL_HIGHLIGHT = (0.32, 0.38)  # ball cap highlight: offset up-left and radius, fractions of the cap radius
STICK_GLOW_WIDTH = 0.35  # ring drawn around a clicked stick cap with glow style, fraction of the cap radius
SPRITE_CACHE_SIZE = 512  # prepared (skin, width) pairs kept; one is ~ a few rest images in size
LAYER_CACHE_SIZE = 128  # skins whose full-resolution pressed layers are kept
_SHIFT = 4  # cv2 sub-pixel bits: centres and radii are in 1/16 px
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Placement:
    """Where and how an overlay sits on a frame."""

    anchor: str = "bottom-left"  # corner or edge the overlay hugs, one of ANCHORS
    width_frac: float = 0.15  # overlay width, fraction of frame width, in [0.08, 0.30]
    opacity: float = 1.0  # overlay alpha multiplier, in [0.4, 1.0]
    margin_frac: float = 0.02  # gap to the nearest frame edges, fraction of frame width, in [0, 0.1]

    def __post_init__(self) -> None:
        if self.anchor not in ANCHORS:
            raise ValueError(f"anchor: {self.anchor!r} is not one of {', '.join(ANCHORS)}")
        if not MIN_WIDTH_FRAC <= self.width_frac <= MAX_WIDTH_FRAC:
            raise ValueError(f"width_frac: {self.width_frac} is outside [{MIN_WIDTH_FRAC}, {MAX_WIDTH_FRAC}]")
        if not MIN_OPACITY <= self.opacity <= MAX_OPACITY:
            raise ValueError(f"opacity: {self.opacity} is outside [{MIN_OPACITY}, {MAX_OPACITY}]")
        if not 0.0 <= self.margin_frac <= MAX_MARGIN_FRAC:
            raise ValueError(f"margin_frac: {self.margin_frac} is outside [0, {MAX_MARGIN_FRAC}]")

    def overlay_width(self, frame_width: int) -> int:
        return max(MIN_RENDER_WIDTH, round(self.width_frac * frame_width))

    def box(self, frame_width: int, frame_height: int, overlay_height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the overlay in frame pixels (x1, y1 exclusive)."""
        w, h = self.overlay_width(frame_width), overlay_height
        margin = round(self.margin_frac * frame_width)
        if w + 2 * margin > frame_width or h + 2 * margin > frame_height:
            raise ValueError(f"a {w}x{h} overlay with {margin} px margins does not fit a {frame_width}x{frame_height} frame")
        vertical, horizontal = _ANCHOR_SIDES[self.anchor]
        x0 = {"left": margin, "right": frame_width - margin - w}.get(horizontal, (frame_width - w) // 2)
        y0 = {"top": margin, "bottom": frame_height - margin - h}.get(vertical, (frame_height - h) // 2)
        return x0, y0, x0 + w, y0 + h


@dataclass(frozen=True)
class OverlayLag:
    """The overlay shows the action `frames` frames late; before that it shows the neutral pad."""

    frames: int = 0  # 0..MAX_OVERLAY_LAG

    def __post_init__(self) -> None:
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or not 0 <= self.frames <= MAX_OVERLAY_LAG:
            raise ValueError(f"frames: overlay lag {self.frames!r} must be an integer in [0, {MAX_OVERLAY_LAG}]")

    def shown_action(self, actions: np.ndarray, i: int) -> np.ndarray:
        """The action the overlay displays at frame `i` of an (T, 21) action sequence."""
        if not 0 <= i < len(actions):
            raise ValueError(f"frame {i} is outside the {len(actions)}-frame action sequence")
        return actions[i - self.frames] if i >= self.frames else noop()

    def shown_actions(self, actions: np.ndarray) -> np.ndarray:
        """(T, 21) actions as displayed frame by frame."""
        actions = validate_action(actions, "actions")
        if actions.ndim != 2:
            raise ValueError(f"actions must be (T, {ACTION_DIM}), got {actions.shape}")
        head = np.zeros((min(self.frames, len(actions)), ACTION_DIM), dtype=np.float32)
        return np.concatenate([head, actions[: len(actions) - len(head)]])


@dataclass(frozen=True)
class _ButtonPatch:
    index: int  # position in the action vector
    rows: slice
    cols: slice
    pixels: np.ndarray  # (h, w, 4) the pressed look
    mask: np.ndarray  # (h, w, 1) bool: pixels that differ from rest


@dataclass(frozen=True)
class _StickDraw:
    stick: StickLayout
    x_index: int
    y_index: int
    click_index: int


@dataclass(frozen=True)
class _SkinSprites:
    base: np.ndarray  # (h, w, 4) rest image with both stick wells empty
    patches: tuple[_ButtonPatch, ...]
    sticks: tuple[_StickDraw, ...]
    scale: float  # output px per skin px


class _ByLayout:
    """A skin as a cache key: hashed and compared by its id and layout file (its images are not hashable)."""

    __slots__ = ("key", "skin")

    def __init__(self, skin: Skin) -> None:
        self.skin = skin
        self.key = (skin.id, str(skin.layout_path))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByLayout) and self.key == other.key


def render_overlay(skin: Skin | SpriteSkin, action: Sequence[float] | np.ndarray, width: int | None = None) -> np.ndarray:
    """The skin (either kind) showing `action`, as a (H, W, 4) uint8 RGBA image `width` px wide (native if None)."""
    action = validate_action(action)
    if action.ndim != 1:
        raise ValueError(f"render_overlay takes one action, got shape {action.shape}")
    if isinstance(skin, SpriteSkin):
        return render_sprite(skin, action, _checked_width(skin.size[0] if width is None else width))
    sprites = _prepared(skin, skin.size[0] if width is None else width)
    out = sprites.base.copy()
    held = action > 0.5
    for patch in sprites.patches:
        if held[patch.index]:
            np.copyto(out[patch.rows, patch.cols], patch.pixels, where=patch.mask)
    for s in sprites.sticks:
        draw_cap(out, s.stick, float(action[s.x_index]), float(action[s.y_index]), bool(held[s.click_index]), sprites.scale)
    return out


def render_overlay_crop(skin: Skin | SpriteSkin, action: Sequence[float] | np.ndarray, width: int | None,
                        box: tuple[int, int, int, int]) -> np.ndarray:  # fmt: skip
    """`render_overlay(skin, action, width)[y0:y1, x0:x1]` for `box` (x0, y0, x1, y1) in the rendered picture's px; a sprite
    skin draws only what those pixels show (padflow.overlay.sprite_crop), a parametric one is cheap whole."""
    x0, y0, x1, y1 = box
    if isinstance(skin, SpriteSkin):
        action = validate_action(action)
        if action.ndim != 1:
            raise ValueError(f"render_overlay_crop takes one action, got shape {action.shape}")
        return render_sprite_crop(skin, action, None if width is None else _checked_width(width), box)
    return render_overlay(skin, action, width)[y0:y1, x0:x1]


def composite(
    frame: np.ndarray, overlay_rgba: np.ndarray, placement: Placement, inplace: bool = False
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Alpha-blend the overlay onto an (H, W, 3) uint8 RGB frame; return the frame and the overlay box.

    The overlay is resized to `placement.width_frac` of the frame width if it is not already that wide.
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
    if overlay_rgba.dtype != np.uint8 or overlay_rgba.ndim != 3 or overlay_rgba.shape[2] != 4:
        raise ValueError(f"overlay must be uint8 (H, W, 4) RGBA, got {overlay_rgba.dtype} {overlay_rgba.shape}")
    fh, fw = frame.shape[:2]
    width = placement.overlay_width(fw)
    if overlay_rgba.shape[1] != width:
        height = max(1, round(overlay_rgba.shape[0] * width / overlay_rgba.shape[1]))
        overlay_rgba = resize_rgba(overlay_rgba, width, height)
    box = placement.box(fw, fh, overlay_rgba.shape[0])
    out = frame if inplace else frame.copy()
    x0, y0, x1, y1 = box
    region = out[y0:y1, x0:x1]
    # 8-bit fixed point: weights in 0..256, so an opaque pixel at opacity 1 replaces the frame exactly.
    weight_of_alpha = np.round(np.arange(256) / 255.0 * placement.opacity * 256).astype(np.uint16)
    weight = weight_of_alpha[overlay_rgba[..., 3:4]]
    blended = (region * (256 - weight) + overlay_rgba[..., :3] * weight + 128) >> 8
    np.copyto(region, blended, casting="unsafe")
    return out, box


def draw_overlay(
    frame: np.ndarray, skin: Skin | SpriteSkin, action: Sequence[float] | np.ndarray, placement: Placement, inplace: bool = False
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Render `action` on `skin` at the placement's size and composite it onto `frame`."""
    if frame.ndim != 3:
        raise ValueError(f"frame must be uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
    overlay = render_overlay(skin, action, placement.overlay_width(frame.shape[1]))
    return composite(frame, overlay, placement, inplace=inplace)


def resize_rgba(rgba: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize straight-alpha RGBA in premultiplied space, so transparent pixels leave no dark fringe."""
    if rgba.shape[1] == width and rgba.shape[0] == height:
        return rgba.copy()
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    premult = np.concatenate([rgba[..., :3] * alpha, rgba[..., 3:4].astype(np.float32)], axis=-1)
    shrinking = width < rgba.shape[1]
    resized = cv2.resize(premult, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    a = resized[..., 3:4] / 255.0
    rgb = np.divide(resized[..., :3], a, out=np.zeros_like(resized[..., :3]), where=a > 1e-6)
    return np.concatenate([rgb, resized[..., 3:4]], axis=-1).round().clip(0, 255).astype(np.uint8)


def pressed_layer(skin: Skin, button: ButtonLayout) -> tuple[np.ndarray, tuple[int, int]]:
    """The layer that turns `button`'s rest look into its pressed look, and its top-left skin pixel.

    The layer covers only the button (plus its glow), so preparing a skin stays cheap.
    """
    style = button.pressed
    x0, y0, x1, y1 = button.region
    reach = GLOW_MARGIN * min(x1 - x0, y1 - y0) if style.style == "glow" else 0.0
    left, top = max(0, math.floor(x0 - 2 * reach) - 1), max(0, math.floor(y0 - 2 * reach) - 1)
    right, bottom = min(skin.size[0], math.ceil(x1 + 2 * reach) + 1), min(skin.size[1], math.ceil(y1 + 2 * reach) + 1)
    size, origin = (right - left, bottom - top), (left, top)
    body = Canvas(*size, origin=origin)
    halo_px = None
    if style.style == "glow":
        halo = Canvas(*size, origin=origin)
        halo.shape(button.shape, (x0 - reach, y0 - reach, x1 + reach, y1 + reach), style.colour)
        halo_px = halo.blurred(reach / 2).to_array()
        hole = Canvas(*size, origin=origin)
        hole.shape(button.shape, button.region, (255, 255, 255, 255))
        halo_px[..., 3] = (halo_px[..., 3] * (1.0 - hole.to_array()[..., 3] / 255.0)).round().astype(np.uint8)
        r, g, b, _ = style.colour
        body.shape(button.shape, button.region, (r, g, b, GLOW_TINT_ALPHA))
    else:
        body.shape(button.shape, button.region, style.colour)
    if button.glyph is not None:
        colour = style.glyph_colour if style.style == "swap" and style.glyph_colour else button.glyph.colour
        body.glyph(button.glyph.kind, button.region, colour, button.glyph.size, button.glyph.text)
    layer = body.to_array()
    return (layer if halo_px is None else over(layer, halo_px)), origin


def _checked_width(width: int) -> int:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < MIN_RENDER_WIDTH:
        raise ValueError(f"overlay width {width!r} must be an integer >= {MIN_RENDER_WIDTH} px")
    return int(width)


def _prepared(skin: Skin, width: int) -> _SkinSprites:
    return _cached_sprites(_ByLayout(skin), _checked_width(width))


@functools.lru_cache(maxsize=SPRITE_CACHE_SIZE)
def _cached_sprites(skin: _ByLayout, width: int) -> _SkinSprites:
    return _prepare(skin.skin, width)


def _prepare(skin: Skin, width: int) -> _SkinSprites:
    sw, sh = skin.size
    scale = width / sw
    height = max(1, round(sh * scale))
    base_full, pressed_layers = _skin_layers(skin)
    base = resize_rgba(base_full, width, height)
    patches = []
    for button, layer, (left, top) in pressed_layers:
        pressed_full = base_full.copy()
        window = (slice(top, top + layer.shape[0]), slice(left, left + layer.shape[1]))
        pressed_full[window] = over(layer, base_full[window])
        pressed = resize_rgba(pressed_full, width, height)
        changed = (pressed != base).any(axis=-1)
        if not changed.any():
            continue
        ys, xs = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        rows, cols = slice(int(ys[0]), int(ys[-1]) + 1), slice(int(xs[0]), int(xs[-1]) + 1)
        patches.append(
            _ButtonPatch(BUTTON_INDEX[button.name], rows, cols, pressed[rows, cols].copy(), changed[rows, cols, None].copy())
        )
    sticks = tuple(
        _StickDraw(s, *(AXIS_INDEX[a] for a in STICK_AXES[s.side]), BUTTON_INDEX[STICK_BUTTONS[s.side]])
        for s in skin.sticks
    )
    base.flags.writeable = False
    return _SkinSprites(base, tuple(patches), sticks, scale)


def _skin_layers(skin: Skin) -> tuple[np.ndarray, list[tuple[ButtonLayout, np.ndarray, tuple[int, int]]]]:
    """At skin resolution: the rest image with empty wells, and each button's pressed layer (cached per skin)."""
    return _cached_layers(_ByLayout(skin))


@functools.lru_cache(maxsize=LAYER_CACHE_SIZE)
def _cached_layers(key: _ByLayout) -> tuple[np.ndarray, list[tuple[ButtonLayout, np.ndarray, tuple[int, int]]]]:
    skin = key.skin
    wells = Canvas(*skin.size)
    for stick in skin.sticks:
        wells.disc(*stick.centre, stick.well_radius, stick.well_colour)
    base_full = over(wells.to_array(), skin.rest)
    return base_full, [(b, *pressed_layer(skin, b)) for b in skin.buttons]


def draw_cap(out: np.ndarray, stick: StickLayout, x: float, y: float, clicked: bool, scale: float) -> None:
    """Draw the stick cap displaced by (x, y) × travel (y up = cap up), sub-pixel anti-aliased."""
    cx = (stick.centre[0] + x * stick.travel) * scale - 0.5  # cv2 puts pixel centres on integers
    cy = (stick.centre[1] - y * stick.travel) * scale - 0.5
    r = stick.cap_radius * scale
    edge_colour, fill_colour = stick.cap_edge_colour, stick.cap_colour
    press: PressedStyle = stick.pressed
    if clicked:
        if press.style == "fill":
            fill_colour = press.colour
        elif press.style == "swap":
            fill_colour, edge_colour = press.colour, press.glyph_colour or edge_colour
        else:
            glow = max(1.0, STICK_GLOW_WIDTH * r)
            _circle(out, cx, cy, r + glow, press.colour)
            fill_colour = _mix(fill_colour, press.colour, GLOW_TINT_ALPHA / 255.0)
    _circle(out, cx, cy, r, edge_colour)
    inner = r - stick.cap_edge_width * scale
    if inner > 0:
        _circle(out, cx, cy, inner, fill_colour)
    if stick.cap_style == "concave":
        _circle(out, cx, cy, CAP_CONCAVE_RING * r, edge_colour, thickness=max(1.0, stick.cap_edge_width * scale * 0.6))
    elif stick.cap_style == "dot":
        _circle(out, cx, cy, CAP_DOT_RADIUS * r, edge_colour)
    elif stick.cap_style == "ball":
        offset, radius = BALL_HIGHLIGHT
        _circle(out, cx - offset * r, cy - offset * r, radius * r, _mix(fill_colour, (255, 255, 255, 255), 0.55))


def _circle(out: np.ndarray, cx: float, cy: float, r: float, colour: Colour, thickness: float = -1) -> None:
    centre = (int(round(cx * _ONE)), int(round(cy * _ONE)))
    thick = -1 if thickness < 0 else max(1, int(round(thickness)))
    cv2.circle(out, centre, max(1, int(round(r * _ONE))), tuple(int(c) for c in colour), thick, cv2.LINE_AA, _SHIFT)


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return tuple(int(round(u + (v - u) * t)) for u, v in zip(a, b))  # type: ignore[return-value]


