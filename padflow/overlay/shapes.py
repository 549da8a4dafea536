"""Anti-aliased drawing of skin shapes and glyphs, shared by the library generator and the renderer.

Everything is drawn with Pillow at `SUPERSAMPLE` times the skin resolution and box-filtered down,
which gives smooth edges without depending on a font file or a platform anti-aliaser, so the
same call draws byte-identical pixels on every run. Text uses Pillow's built-in bitmap font.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Colour = tuple[int, int, int, int]  # RGBA, 0..255
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in skin pixels (x1, y1 exclusive)

SUPERSAMPLE = 4  # drawing scale before the box filter; 4x4 samples per pixel
SHAPES: tuple[str, ...] = (
    "circle", "rect", "rounded_rect", "pill",
    "triangle_up", "triangle_down", "triangle_left", "triangle_right",
)  # fmt: skip
GLYPH_KINDS: tuple[str, ...] = (
    "text", "cross", "ring", "square", "triangle", "plus", "minus", "bars", "dot", "windows",
    "arrow_up", "arrow_down", "arrow_left", "arrow_right",
)  # fmt: skip
ROUNDED_RECT_RADIUS = 0.3  # corner radius of `rounded_rect`, fraction of the shorter side
GLYPH_STROKE = 0.16  # stroke width of line glyphs, fraction of the glyph size
TEXT_THRESHOLD = 110  # the upscaled bitmap font is re-binarised at this level to keep strokes crisp

_FONT = ImageFont.load_default_imagefont()


class Canvas:
    """An RGBA drawing surface addressed in skin pixels, drawn at SUPERSAMPLE resolution."""

    def __init__(self, width: int, height: int, origin: tuple[int, int] = (0, 0)) -> None:
        """A `width` x `height` px surface whose top-left pixel is skin pixel `origin`."""
        self.width, self.height = width, height
        self.origin = origin
        self.image = Image.new("RGBA", (width * SUPERSAMPLE, height * SUPERSAMPLE), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.image)

    def _p(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.origin[0]) * SUPERSAMPLE, (y - self.origin[1]) * SUPERSAMPLE

    def _s(self, box: Box) -> tuple[int, int, int, int]:
        ox, oy = self.origin
        x0, y0, x1, y1 = (round(v * SUPERSAMPLE) for v in (box[0] - ox, box[1] - oy, box[2] - ox, box[3] - oy))
        return x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)

    def shape(self, shape: str, box: Box, fill: Colour, outline: Colour | None = None, outline_width: float = 0) -> None:
        """Draw `shape` filling `box`; an outline grows the shape outwards by `outline_width` px."""
        if outline is not None and outline_width > 0:
            w = outline_width
            self.shape(shape, (box[0] - w, box[1] - w, box[2] + w, box[3] + w), outline)
        s = self._s(box)
        if shape == "circle":
            self.draw.ellipse(s, fill=fill)
        elif shape == "rect":
            self.draw.rectangle(s, fill=fill)
        elif shape in ("rounded_rect", "pill"):
            short = min(s[2] - s[0], s[3] - s[1])
            radius = short / 2 if shape == "pill" else short * ROUNDED_RECT_RADIUS
            self.draw.rounded_rectangle(s, radius=int(radius), fill=fill)
        elif shape.startswith("triangle_"):
            self.draw.polygon(_triangle(s, shape.removeprefix("triangle_")), fill=fill)
        else:
            raise ValueError(f"unknown shape {shape!r}; valid: {', '.join(SHAPES)}")

    def polygon(self, points: list[tuple[float, float]], fill: Colour) -> None:
        self.draw.polygon([self._p(x, y) for x, y in points], fill=fill)

    def disc(self, cx: float, cy: float, r: float, fill: Colour) -> None:
        self.shape("circle", (cx - r, cy - r, cx + r, cy + r), fill)

    def ring(self, cx: float, cy: float, r: float, width: float, colour: Colour) -> None:
        s = self._s((cx - r, cy - r, cx + r, cy + r))
        self.draw.ellipse(s, outline=colour, width=max(1, round(width * SUPERSAMPLE)))

    def line(self, points: list[tuple[float, float]], width: float, colour: Colour) -> None:
        pts = [self._p(x, y) for x, y in points]
        self.draw.line(pts, fill=colour, width=max(1, round(width * SUPERSAMPLE)), joint="curve")

    def glyph(self, kind: str, box: Box, colour: Colour, size: float, text: str = "") -> None:
        """Draw a glyph centred in `box`, `size` × the box's shorter side across."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        g = size * min(box[2] - box[0], box[3] - box[1])
        h = g / 2
        stroke = max(0.6, g * GLYPH_STROKE)
        if kind == "text":
            self._text(text, cx, cy, g, colour)
        elif kind == "cross":
            self.line([(cx - h, cy - h), (cx + h, cy + h)], stroke, colour)
            self.line([(cx - h, cy + h), (cx + h, cy - h)], stroke, colour)
        elif kind == "ring":
            self.ring(cx, cy, h, stroke, colour)
        elif kind == "square":
            self.line([(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h), (cx - h, cy - h)], stroke, colour)
        elif kind == "triangle":
            top, base = cy - h, cy + h * 0.75
            self.line([(cx, top), (cx + h, base), (cx - h, base), (cx, top)], stroke, colour)
        elif kind == "plus":
            self.line([(cx - h, cy), (cx + h, cy)], stroke, colour)
            self.line([(cx, cy - h), (cx, cy + h)], stroke, colour)
        elif kind == "minus":
            self.line([(cx - h, cy), (cx + h, cy)], stroke, colour)
        elif kind == "bars":
            for dy in (-h * 0.6, 0.0, h * 0.6):
                self.line([(cx - h, cy + dy), (cx + h, cy + dy)], stroke * 0.8, colour)
        elif kind == "dot":
            self.disc(cx, cy, h * 0.6, colour)
        elif kind == "windows":
            q = h * 0.55
            self.line([(cx - h, cy - h), (cx + q, cy - h), (cx + q, cy + q), (cx - h, cy + q), (cx - h, cy - h)], stroke * 0.8, colour)
            self.line([(cx - q, cy - q), (cx + h, cy - q), (cx + h, cy + h), (cx - q, cy + h), (cx - q, cy - q)], stroke * 0.8, colour)
        elif kind.startswith("arrow_"):
            self.polygon(_triangle((cx - h, cy - h, cx + h, cy + h), kind.removeprefix("arrow_")), colour)
        else:
            raise ValueError(f"unknown glyph kind {kind!r}; valid: {', '.join(GLYPH_KINDS)}")

    def _text(self, text: str, cx: float, cy: float, height: float, colour: Colour) -> None:
        x0, y0, x1, y1 = _FONT.getbbox(text)
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        ImageDraw.Draw(mask).text((-x0, -y0), text, fill=255, font=_FONT)
        scale = height * SUPERSAMPLE / mask.height
        size = (max(1, round(mask.width * scale)), max(1, round(mask.height * scale)))
        mask = mask.resize(size, Image.Resampling.BILINEAR).point(lambda v: 255 if v >= TEXT_THRESHOLD else 0)
        px, py = self._p(cx, cy)
        left, top = round(px - size[0] / 2), round(py - size[1] / 2)
        self.image.paste(Image.new("RGBA", size, colour), (left, top), mask)

    def blurred(self, radius: float) -> Canvas:
        """A copy blurred by a Gaussian of `radius` skin px (for glows)."""
        out = Canvas.__new__(Canvas)
        out.width, out.height, out.origin = self.width, self.height, self.origin
        out.image = self.image.filter(ImageFilter.GaussianBlur(radius * SUPERSAMPLE))
        out.draw = ImageDraw.Draw(out.image)
        return out

    def to_array(self) -> np.ndarray:
        """The drawing at skin resolution: (H, W, 4) uint8 straight-alpha RGBA."""
        return downsample(np.asarray(self.image), SUPERSAMPLE)


def downsample(rgba: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter an RGBA image by an integer factor, averaging in premultiplied alpha."""
    h, w = rgba.shape[0] // factor, rgba.shape[1] // factor
    x = rgba[: h * factor, : w * factor].astype(np.float64)
    alpha = x[..., 3:4] / 255.0
    premult = np.concatenate([x[..., :3] * alpha, alpha], axis=-1)
    mean = premult.reshape(h, factor, w, factor, 4).mean(axis=(1, 3))
    a = mean[..., 3:4]
    rgb = np.divide(mean[..., :3], a, out=np.zeros_like(mean[..., :3]), where=a > 0)
    return np.concatenate([rgb, a * 255.0], axis=-1).round().clip(0, 255).astype(np.uint8)


def over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Porter-Duff `top over bottom` for straight-alpha uint8 RGBA images of one size."""
    ta = top[..., 3:4].astype(np.float64) / 255.0
    ba = bottom[..., 3:4].astype(np.float64) / 255.0
    out_a = ta + ba * (1.0 - ta)
    rgb = top[..., :3] * ta + bottom[..., :3] * ba * (1.0 - ta)
    rgb = np.divide(rgb, out_a, out=np.zeros_like(rgb), where=out_a > 0)
    return np.concatenate([rgb, out_a * 255.0], axis=-1).round().clip(0, 255).astype(np.uint8)


def ellipse_points(cx: float, cy: float, rx: float, ry: float, angle_deg: float = 0.0, n: int = 64) -> list[tuple[float, float]]:
    """Polygon outline of an ellipse rotated by `angle_deg` (clockwise on screen)."""
    a = math.radians(angle_deg)
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts.append((cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)))
    return pts


def _triangle(s: tuple[int, int, int, int], direction: str) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = s
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return {
        "up": [(cx, y0), (x1, y1), (x0, y1)],
        "down": [(x0, y0), (x1, y0), (cx, y1)],
        "left": [(x0, cy), (x1, y0), (x1, y1)],
        "right": [(x0, y0), (x1, cy), (x0, y1)],
    }[direction]
