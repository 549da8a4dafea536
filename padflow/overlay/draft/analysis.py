"""From frames to a draft: the rest look, which pixels differ, the regions, the overlay box, the sprites.

See padflow.overlay.draft for the method.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from padflow.overlay.crops import grow_box
from padflow.overlay.draft.model import Draft, DraftSettings, Region
from padflow.overlay.draft.regions import (
    linked_groups,
    merged,
    overlay_cluster,
    presses,
    split,
    steady,
    sticks_of,
    within,
)
from padflow.video import iter_frames, probe

MAX_CHAIN_WIDTH = 0.12  # fraction of frame width: the widest group split into controls (an overlay is at most 0.3 wide)


def read_frames(video: str | Path, settings: DraftSettings = DraftSettings()) -> np.ndarray:
    """(T, H, W, 3) uint8: the frames a draft analyses (padflow.video decodes them)."""
    path = Path(video)
    probe(path)  # a clear VideoError for a file that is not a video
    kept = []
    for i, frame in enumerate(iter_frames(path)):
        if i >= settings.start and (i - settings.start) % settings.stride == 0:
            kept.append(frame)
            if len(kept) == settings.frames:
                break
    if len(kept) < 8:
        raise ValueError(f"{path}: only {len(kept)} frames from frame {settings.start}; a draft needs at least 8")
    return np.stack(kept)


def draft_skin(video: str | Path, settings: DraftSettings = DraftSettings()) -> Draft:
    """Analyse a video and propose an overlay box, its rest picture and its controls; ValueError if no overlay shows."""
    frames = read_frames(video, settings)
    return draft_from_frames(frames, settings, str(video))


def draft_from_frames(frames: np.ndarray, settings: DraftSettings = DraftSettings(), video: str = "") -> Draft:
    """`draft_skin` on decoded (T, H, W, 3) uint8 frames (only `settings.within`, grown, where it is given)."""
    frame_size = (frames.shape[2], frames.shape[1])
    if settings.within is None:
        return _draft(frames, settings, video, frame_size[0])
    x0, y0, x1, y1 = searched_box(settings.within, frame_size, settings.within_margin, video)
    wx0, wy0, wx1, wy1 = settings.within
    # The frame's width still sets the analysis's scale (how far apart controls may lie), as without the box; controls
    # are sought inside the box itself, the margin around it only shows the overlay's edge and the backdrop.
    draft = _draft(np.ascontiguousarray(frames[:, y0:y1, x0:x1]), settings, video, frame_size[0],
                   (wx0 - x0, wy0 - y0, wx1 - x0, wy1 - y0))
    bx0, by0, bx1, by1 = draft.box
    return replace(draft, box=(bx0 + x0, by0 + y0, bx1 + x0, by1 + y0), frame_size=frame_size)


def _draft(frames: np.ndarray, settings: DraftSettings, video: str, frame_width: int,
           inside: tuple[int, int, int, int] | None = None) -> Draft:
    """The analysis of `draft_from_frames` over all of `frames`; `frame_width` (px) is the video's, which scales its distances;
    `inside` (px of `frames`): where a control's middle must lie (None: anywhere)."""
    t, h, w, _ = frames.shape
    rest = np.median(frames, axis=0).astype(np.uint8)
    differs = np.empty((t, h, w), dtype=bool)
    for i in range(t):  # frame by frame: a (T, H, W, 3) int16 difference would be 6x the frames' memory
        differs[i] = (cv2.absdiff(frames[i], rest).max(axis=2) > settings.tolerance)
    share = differs.mean(axis=0)
    raw = linked_groups(differs, share, settings)
    # A low-coherence group is a stick (its cap moves around), or neighbouring controls chained
    # together through the pixels between them (as is a group with two pressed looks): those are
    # split by their switching pattern.
    whole = [g for g in raw if g.coherence >= settings.coherence and steady(g, frames) <= settings.steady]
    groups = list(whole)
    for g in raw:
        # Only a compact group can be controls chained together; a long one is a game object's path.
        compact = max(g.box[2] - g.box[0], g.box[3] - g.box[1]) <= MAX_CHAIN_WIDTH * frame_width
        if compact and not any(g is k for k in whole):
            groups += split(g, differs, settings)
    groups = merged(groups, differs, settings)
    switching = [g for g in groups if g.coherence >= settings.coherence and presses(g) >= 1 and steady(g, frames) <= settings.steady
                 and (inside is None or _middle_inside(g.box, inside))]
    if not switching:
        where = "" if inside is None else " inside the overlay box given"
        raise ValueError(f"{video or 'frames'}: no part of the picture{where} switches between a rest look and another: no overlay controls found")
    cluster = overlay_cluster(switching, frame_width)
    box = _overlay_box([g.mask for g in cluster], share, rest, settings)
    # Sticks inside the overlay only; the button regions they cover are theirs.
    sticks = [st for st in sticks_of(frames, differs, share, settings, frame_width) if within(st["box"], box)]
    stick_pixels = np.zeros((h, w), bool)
    for st in sticks:
        stick_pixels[st["pixels"]] = True
    buttons = [g for g in cluster if (g.mask & stick_pixels).sum() < 0.5 * g.mask.sum()]
    return _assemble(frames, differs, rest, share, box, buttons, sticks, settings, video)


def _middle_inside(box: tuple[int, int, int, int], inside: tuple[int, int, int, int]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return inside[0] <= cx < inside[2] and inside[1] <= cy < inside[3]


def searched_box(within: tuple[int, int, int, int], frame_size: tuple[int, int], margin: float, video: str = "") -> tuple[int, int, int, int]:
    """`within` grown by `margin` of its size per side and clipped to the frame; ValueError naming the video if it misses the frame."""
    x0, y0, x1, y1 = (int(v) for v in within)
    w, h = frame_size
    if not (0 <= x0 < x1 and 0 <= y0 < y1 and x0 < w and y0 < h):
        raise ValueError(f"{video or 'frames'}: the overlay box {[x0, y0, x1, y1]} is not inside the {w}x{h} frame "
                         "(x0 < x1, y0 < y1, frame px of this video)")
    return grow_box((x0, y0, x1, y1), frame_size, margin)


def _overlay_box(masks: list[np.ndarray], share: np.ndarray, rest: np.ndarray, s: DraftSettings) -> tuple[int, int, int, int]:
    """The controls' box grown over still pixels that do not look like the backdrop around them."""
    h, w = share.shape
    union = np.zeros((h, w), bool)
    for m in masks:
        union |= m
    ys, xs = np.nonzero(union)
    cx0, cy0, cx1, cy1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    gx, gy = round(s.max_grow * (cx1 - cx0)), round(s.max_grow * (cy1 - cy0))
    wx0, wy0, wx1, wy1 = max(0, cx0 - gx), max(0, cy0 - gy), min(w, cx1 + gx), min(h, cy1 + gy)
    still = share <= 1.0 - s.stable_share
    backdrop = _backdrop(rest, still, (wx0, wy0, wx1, wy1))
    body = still & ~backdrop
    body[:wy0], body[wy1:], body[:, :wx0], body[:, wx1:] = False, False, False, False
    body |= union
    body = cv2.morphologyEx(body.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    body = cv2.morphologyEx(body, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) | union
    n, labels = cv2.connectedComponents(body.astype(np.uint8), connectivity=8)
    keep = np.unique(labels[union & (labels > 0)])
    part = np.isin(labels, keep)
    ys, xs = np.nonzero(part)
    # A row or column where the body is a thin sliver (a still game edge touching it) is not the overlay.
    x0, x1 = _trim(part.sum(axis=0), int(xs.min()), int(xs.max()) + 1, cx0, cx1)
    y0, y1 = _trim(part.sum(axis=1), int(ys.min()), int(ys.max()) + 1, cy0, cy1)
    return x0, y0, x1, y1


def _trim(profile: np.ndarray, lo: int, hi: int, keep_lo: int, keep_hi: int) -> tuple[int, int]:
    """Drop outer lines whose body count is below a quarter of the typical line's (never inside the controls)."""
    typical = float(np.median(profile[keep_lo:keep_hi]))
    floor = 0.25 * typical
    while lo < keep_lo and profile[lo] < floor:
        lo += 1
    while hi > keep_hi and profile[hi - 1] < floor:
        hi -= 1
    return lo, hi


def _backdrop(rest: np.ndarray, still: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """Pixels whose rest colour is one of the dominant still colours on the window's border."""
    x0, y0, x1, y1 = window
    ring = np.zeros(still.shape, bool)
    ring[y0:y1, x0:x1] = True
    ring[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] = False
    ring &= still
    quant = (rest // 16).astype(np.int32)
    code = (quant[..., 0] << 8) | (quant[..., 1] << 4) | quant[..., 2]
    out = np.zeros(still.shape, bool)
    if not ring.any():
        return out
    values, counts = np.unique(code[ring], return_counts=True)
    for value in values[counts >= 0.1 * ring.sum()]:
        colour = np.array([(value >> 8) & 15, (value >> 4) & 15, value & 15]) * 16 + 8
        out |= np.abs(rest.astype(np.int16) - colour).max(axis=2) <= 16
    return out


def _assemble(frames, differs, rest, share, box, buttons, sticks, s: DraftSettings, video: str) -> Draft:
    x0, y0, x1, y1 = box
    t = len(frames)
    alpha = np.where(share <= 1.0 - s.stable_share, 255, 0).astype(np.uint8)
    static = np.dstack([rest, alpha])
    proposals: list[tuple[tuple[int, int], dict[str, Any]]] = []
    for g in buttons:
        bx0, by0, bx1, by1 = g.box
        on = g.active >= 0.5
        crop = frames[on][:, by0:by1, bx0:bx1]
        pressed = np.median(crop, axis=0).astype(np.uint8)
        static[by0:by1, bx0:bx1, 3] = np.maximum(static[by0:by1, bx0:bx1, 3], g.mask[by0:by1, bx0:bx1] * 255)
        changed = differs[on][:, by0:by1, bx0:bx1].mean(axis=0) >= 0.5
        pressed_alpha = np.where(changed, 255, static[by0:by1, bx0:bx1, 3])
        item = {"kind": "button", "box": (bx0 - x0, by0 - y0, bx1 - x0, by1 - y0), "share": float(on.mean()),
                "pressed": np.dstack([np.where(changed[..., None], pressed, rest[by0:by1, bx0:bx1]), pressed_alpha])}  # fmt: skip
        proposals.append(((by0 + by1) // 2, item))
    for st in sticks:
        hx, hy = st["centre"]
        r = st["radius"]
        ys, xs = st["pixels"]
        cx0, cy0 = int(round(hx)) - int(np.ceil(r)), int(round(hy)) - int(np.ceil(r))
        look = st["cap"]
        cx1, cy1 = cx0 + look.shape[1], cy0 + look.shape[0]
        gy, gx = np.mgrid[cy0:cy1, cx0:cx1]
        disc = np.hypot(gx + 0.5 - hx, gy + 0.5 - hy) <= r + 0.5
        cap = np.dstack([look, np.where(disc, 255, 0).astype(np.uint8)])
        # The empty well under the cap: each cap pixel's median over frames where it differed (the cap was away).
        for yy, xx in zip(*np.nonzero(disc)):
            fy, fx = cy0 + yy, cx0 + xx
            away = differs[:, fy, fx]
            if away.sum() >= 2:
                static[fy, fx, :3] = np.median(frames[away, fy, fx], axis=0).astype(np.uint8)
            static[fy, fx, 3] = 255
        static[ys, xs, 3] = 255
        reach = r + st["travel"]
        item = {"kind": "stick", "share": st["share"], "cap": cap, "travel": st["travel"], "cap_pos": (cx0 - x0, cy0 - y0),
                "box": (max(0, int(hx - reach) - x0), max(0, int(hy - reach) - y0),
                        min(x1 - x0, int(np.ceil(hx + reach)) + 1 - x0), min(y1 - y0, int(np.ceil(hy + reach)) + 1 - y0))}  # fmt: skip
        proposals.append((int(hy), item))
    canvas = static[y0:y1, x0:x1].copy()
    # Numbered in reading order: rows of regions top to bottom, left to right within a row.
    row = max(4, (y1 - y0) // 12)
    proposals.sort(key=lambda p: (p[0] // row, p[1]["box"][0]))
    regions = []
    for number, (_, item) in enumerate(proposals, start=1):
        rx0, ry0, rx1, ry1 = item["box"]
        if item["kind"] == "button":
            regions.append(Region(number, "button", item["box"], item["share"], canvas[ry0:ry1, rx0:rx1].copy(), item["pressed"]))
        else:
            regions.append(Region(number, "stick", item["box"], item["share"], item["cap"], None, item["cap_pos"], item["travel"]))
    return Draft(video, box, (frames.shape[2], frames.shape[1]), t, canvas, tuple(regions))
