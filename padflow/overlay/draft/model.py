"""The draft's settings and results: `DraftSettings`, `Region` (one proposed control), `Draft`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DraftSettings:
    """How a draft reads a video (defaults suit padflow's renders and H.264 uploads)."""

    frames: int = 240  # frames analysed (consecutive from `start`, every `stride`-th); more: rarer presses seen
    start: int = 0  # first frame analysed (frame number, padflow.video's numbering)
    stride: int = 1  # analyse every stride-th frame (presses last a few frames: keep it small)
    tolerance: int = 28  # 0..255; a channel further than this from the rest look differs (H.264 noise stays below ~15)
    link: float = 0.6  # Jaccard index of two neighbours' "differs" series above which they belong to one region
    min_share: float = 0.01  # a control differs in at least this share of frames (rarer: noise)
    max_share: float = 0.85  # ... and at most this share (a pixel that always differs is game, not a control)
    min_pixels: int = 6  # smallest region, px
    coherence: float = 0.6  # a button's pixels differ together at least this much (see the module doc)
    steady: float = 12.0  # 0..255; a control's pressed look varies less than this between frames (std, see regions.steady)
    stable_share: float = 0.9  # a body pixel of the overlay stays at its rest look in at least this share of frames
    stick_spread: float = 0.04  # a stick's changed pixels' centroid spreads (std) at least this fraction of its blob's side in both axes
    max_grow: float = 0.6  # the box grows past the controls by at most this fraction of their extent per side
    # Where the overlay is, when known (x0, y0, x1, y1, frame px: extract's box of an `unknown_skin` video): only that box,
    # grown by `within_margin` of its size per side, is analysed, so game objects elsewhere cannot become "controls".
    within: tuple[int, int, int, int] | None = None
    within_margin: float = 0.25


@dataclass(frozen=True)
class Region:
    """One proposed control, in skin px (the draft's canvas = the overlay box)."""

    number: int
    kind: str  # "button" or "stick"
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    share: float  # share of analysed frames in which it differed from rest
    idle: np.ndarray = field(repr=False)  # (h, w, 4) uint8 rest look of the box (button) or the cap (stick)
    pressed: np.ndarray | None = field(default=None, repr=False)  # button: (h, w, 4) uint8 median look while differing
    cap_pos: tuple[int, int] | None = None  # stick: cap sprite top-left at rest, skin px
    travel: float = 0.0  # stick: px


@dataclass(frozen=True)
class Draft:
    """What `draft_skin` found: where the overlay is, its rest picture, and the proposed controls."""

    video: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the overlay in frame px (exclusive)
    frame_size: tuple[int, int]  # (width, height)
    frames: int  # frames analysed
    rest: np.ndarray = field(repr=False)  # (H, W, 4) uint8 static layer: rest look, stick wells empty
    regions: tuple[Region, ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video, "box": list(self.box), "frame_size": list(self.frame_size), "frames": self.frames,
            "regions": [{"number": r.number, "kind": r.kind, "box": list(r.box), "share": round(r.share, 4),
                         **({"cap_pos": list(r.cap_pos), "travel": round(r.travel, 2)} if r.kind == "stick" else {})}
                        for r in self.regions],
        }  # fmt: skip
