"""From a video frame to the overlay parser's input — the one path shared by training and extraction.

Localization gives the skin and an affine transform that maps skin (template) pixels to frame
pixels. A crop is the frame warped back into the template's own coordinates ("rectified"), so
scale, position and small rotations are undone before the parser looks. Each frame gives:

    crop     (h, w, 3) uint8       the whole overlay at the parser's crop size
    sticks   (2, s, s, 3) uint8    a square around each stick's well (left, right) at a finer
                                   scale: a full deflection moves the cap only a few crop pixels

Because the skin is known, the parser also gets a `SkinView`: the skin's rest image through the
same crops (a reference showing every button released and both sticks centred), where each
control sits, and which controls the skin draws at all. Both skin kinds (parametric, sprite) go
through the same path; a control a sprite skin does not draw gets an empty box, and a stick it
does not draw a patch at the skin's centre with zero travel (its readings are not labels). A `ParserBatch` is what the parser reads for N frames: two consecutive frames side
by side (previous left, current right) with the rest image stacked on as three more channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from padflow.actions import ACTION_NAMES, BUTTONS, N_BUTTONS
from padflow.overlay.skin import STICK_SIDES, Skin
from padflow.overlay.readable import readable_controls
from padflow.overlay.sprite import SpriteSkin

# ImageNet statistics, as SegFormer checkpoints expect (kept for pretrained-weight compatibility).
PIXEL_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
PIXEL_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
INPUT_CHANNELS = 6  # RGB of the video frames + RGB of the skin at rest
N_STICKS = 2
# A stick patch's half-side, as a multiple of the stick's reach (cap travel + cap radius): the
# margin keeps the well's rim in view when localization is off by a pixel or two.
STICK_PATCH_MARGIN = 1.2
REST_BACKGROUND = 128  # grey level the rest image is composited over (overlays are semi-transparent)
ABSENT_STICK_PATCH = 0.25  # half-side of the patch of a stick the skin does not draw, fraction of the skin's shorter side

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class SkinView:
    """What the parser is told about a localized skin."""

    skin_id: str
    rest_crop: np.ndarray  # (h, w, 3) uint8: the skin at rest, rectified like a crop
    rest_sticks: np.ndarray  # (2, s, s, 3) uint8: its stick patches at rest
    stick_regions: tuple[Box, Box]  # template px (x0, y0, x1, y1) of each stick patch
    button_boxes: np.ndarray  # (17, 4) float32: each button's box, fractions of the skin's (w, h)
    stick_travel: np.ndarray  # (2,) float32: cap travel at full deflection / patch half-side
    observed: np.ndarray = field(default_factory=lambda: np.ones(len(ACTION_NAMES), dtype=bool))  # (21,) bool: controls the skin draws readably (padflow.overlay.readable)


class ParserBatch(NamedTuple):
    """The parser's input for N frames (numpy arrays, or torch tensors once converted)."""

    frames: np.ndarray  # (N, 6, h, 2w) uint8: [previous | current] crop RGB, then [rest | rest] RGB
    sticks: np.ndarray  # (N, 2, 6, s, 2s) uint8: the same for each stick patch (left, right)
    button_boxes: np.ndarray  # (N, 17, 4) in [0, 1]: (x0, y0, x1, y1) of each button in the crop
    stick_travel: np.ndarray  # (N, 2): cap travel / patch half-side


def placement_transform(box: tuple[float, float, float, float], skin_size: tuple[int, int]) -> np.ndarray:
    """The 2x3 template→frame affine of an axis-aligned overlay drawn into `box` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    sx, sy = (x1 - x0) / skin_size[0], (y1 - y0) / skin_size[1]
    return np.array([[sx, 0.0, x0], [0.0, sy, y0]], dtype=np.float64)


def union_box(boxes: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    """The smallest (x0, y0, x1, y1) box holding every box of `boxes` (at least one)."""
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def grow_box(box: Sequence[int], frame_size: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    """`box` (x0, y0, x1, y1) grown by `margin` of its width and height per side, clipped to the (width, height) frame."""
    x0, y0, x1, y1 = box
    mx, my = round(margin * (x1 - x0)), round(margin * (y1 - y0))
    return max(0, x0 - mx), max(0, y0 - my), min(frame_size[0], x1 + mx), min(frame_size[1], y1 + my)


def visible_box(skin, box: Sequence[float]) -> tuple[tuple[float, float, float, float], tuple[float, float]]:  # noqa: ANN001
    """What can be seen of `skin` (either kind) drawn at `box` (frame px; its canvas may have transparent margins): the
    box of its opaque rest pixels in frame px, and the skin-to-frame scale (sx, sy)."""
    ys, xs = np.nonzero(skin.rest[..., 3] > 0)
    sx, sy = (box[2] - box[0]) / skin.size[0], (box[3] - box[1]) / skin.size[1]
    return (box[0] + xs.min() * sx, box[1] + ys.min() * sy, box[0] + (xs.max() + 1) * sx, box[1] + (ys.max() + 1) * sy), (sx, sy)


def boxes_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two (x0, y0, x1, y1) boxes share some area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def transform_box(transform: np.ndarray, skin_size: tuple[int, int], frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) in frame pixels of the template's corners, clipped to the frame (w, h)."""
    w, h = skin_size
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ np.asarray(transform).T
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    fw, fh = frame_size
    return max(0, x0), max(0, y0), min(fw, x1), min(fh, y1)


def rectify(frame: np.ndarray, transform: np.ndarray, out_size: tuple[int, int], region: Box) -> np.ndarray:
    """Warp the template `region` (x0, y0, x1, y1 in template px) of an (H, W, 3) uint8 frame to out_size (w, h)."""
    ow, oh = out_size
    x0, y0, x1, y1 = region
    # Output pixel → template pixel → frame pixel; warpAffine samples the frame through that map.
    to_template = np.array([[(x1 - x0) / ow, 0.0, x0], [0.0, (y1 - y0) / oh, y0], [0.0, 0.0, 1.0]])
    full = np.vstack([np.asarray(transform, dtype=np.float64), [0.0, 0.0, 1.0]]) @ to_template
    return cv2.warpAffine(
        frame, full[:2], (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def stick_geometry(skin: Skin | SpriteSkin) -> list[tuple[tuple[float, float], float, float] | None]:
    """Per side (left, right): (cap centre at rest, travel, cap radius) in skin px, or None if the skin draws no such stick."""
    by_side = {s.side: s for s in skin.sticks}
    return [(by_side[side].centre, by_side[side].travel, by_side[side].cap_radius) if side in by_side else None for side in STICK_SIDES]


def stick_regions(skin: Skin | SpriteSkin) -> tuple[Box, Box]:
    """The square template region each stick patch covers (left, right)."""
    out = []
    for geometry in stick_geometry(skin):
        if geometry is None:
            (cx, cy), half = (skin.size[0] / 2, skin.size[1] / 2), ABSENT_STICK_PATCH * min(skin.size)
        else:
            (cx, cy), travel, radius = geometry
            half = (travel + radius) * STICK_PATCH_MARGIN
        out.append((cx - half, cy - half, cx + half, cy + half))
    return out[0], out[1]


def frame_crops(frame: np.ndarray, transform: np.ndarray, view: SkinView, skin_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The crop (h, w, 3) and stick patches (2, s, s, 3) of one frame, sized like the view's rest images."""
    h, w = view.rest_crop.shape[:2]
    s = view.rest_sticks.shape[1]
    crop = rectify(frame, transform, (w, h), (0.0, 0.0, float(skin_size[0]), float(skin_size[1])))
    sticks = np.stack([rectify(frame, transform, (s, s), region) for region in view.stick_regions])
    return crop, sticks


def skin_view(skin: Skin | SpriteSkin, crop_size: tuple[int, int], stick_size: int) -> SkinView:
    """The rest image through the crop path, and the layout in crop units, for one skin."""
    alpha = skin.rest[..., 3:4].astype(np.float32) / 255.0
    rest = (skin.rest[..., :3] * alpha + REST_BACKGROUND * (1.0 - alpha)).round().astype(np.uint8)
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    regions = stick_regions(skin)
    w, h = skin.size
    rest_crop = rectify(rest, identity, crop_size, (0.0, 0.0, float(w), float(h)))
    rest_sticks = np.stack([rectify(rest, identity, (stick_size, stick_size), r) for r in regions])
    boxes = skin.regions()
    empty = (0.0, 0.0, 0.0, 0.0)  # an undrawn button: no cell of the crop belongs to it
    button_boxes = np.array([[v / d for v, d in zip(boxes.get(b, empty), (w, h, w, h))] for b in BUTTONS], dtype=np.float32)
    travel = np.array([0.0 if g is None else g[1] / ((g[1] + g[2]) * STICK_PATCH_MARGIN) for g in stick_geometry(skin)], dtype=np.float32)
    readable = readable_controls(skin)  # controls drawn unreadably are no labels: not trained on
    observed = np.array([name in readable for name in ACTION_NAMES], dtype=bool)
    return SkinView(skin.id, rest_crop, rest_sticks, regions, np.clip(button_boxes, 0.0, 1.0), travel, observed)


def _side_by_side(previous: np.ndarray, current: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(N, ..., H, W, 3) previous/current and a broadcastable rest → (N, ..., 6, H, 2W) uint8.

    Pixels stay uint8 here (a quarter of float32's bytes to gather per batch); the parser
    converts and normalizes them with PIXEL_MEAN / PIXEL_STD as its first step.
    """
    pair = np.concatenate([previous, current], axis=-2)
    reference = np.broadcast_to(np.concatenate([rest, rest], axis=-2), pair.shape)
    return np.moveaxis(np.concatenate([pair, reference], axis=-1), -1, -3)


def parser_inputs(
    previous: tuple[np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray], views: SkinView | list[SkinView]
) -> ParserBatch:
    """Pair (crops (N, h, w, 3), sticks (N, 2, s, s, 3)) of previous and current frames into a ParserBatch.

    `views` is one SkinView for all N frames (a video) or one per frame (training batches mix skins).
    """
    (prev_crops, prev_sticks), (crops, sticks) = previous, current
    n = len(crops)
    if isinstance(views, SkinView):
        rest_crop, rest_sticks = views.rest_crop[None], views.rest_sticks[None]
        boxes = np.broadcast_to(views.button_boxes, (n, N_BUTTONS, 4))
        travel = np.broadcast_to(views.stick_travel, (n, N_STICKS))
    else:
        if len(views) != n:
            raise ValueError(f"parser_inputs: {len(views)} skin views for {n} frames")
        rest_crop = np.stack([v.rest_crop for v in views])
        rest_sticks = np.stack([v.rest_sticks for v in views])
        boxes = np.stack([v.button_boxes for v in views])
        travel = np.stack([v.stick_travel for v in views])
    return ParserBatch(
        frames=_side_by_side(prev_crops, crops, rest_crop),
        sticks=_side_by_side(prev_sticks, sticks, rest_sticks),
        button_boxes=np.ascontiguousarray(boxes, dtype=np.float32),
        stick_travel=np.ascontiguousarray(travel, dtype=np.float32),
    )


def parser_batch(crops: np.ndarray, sticks: np.ndarray, view: SkinView) -> ParserBatch:
    """(T, h, w, 3) crops and (T, 2, s, s, 3) stick patches of consecutive frames → T pairs (frame 0 pairs with itself)."""
    previous = (np.concatenate([crops[:1], crops[:-1]]), np.concatenate([sticks[:1], sticks[:-1]]))
    return parser_inputs(previous, (crops, sticks), view)
