"""The outcome of a localization (`Localization`), a pooled fit (`Fit`), and the checks that turn a fit into an outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from padflow.overlay.crops import transform_box
from padflow.overlay.localize.config import MIN_OVERLAY_WIDTH_PX, LocalizeConfig
from padflow.overlay.skin import Skin

FOUND_BY_RESCUE = " by guided matching of a voted pose"  # in the reason of a fit `rescue` found


@dataclass(frozen=True)
class Localization:
    """Where the overlay is in one video, or why none was accepted.

    Three outcomes (`outcome`): "found" (a library skin explains the overlay: skin_id, transform
    and box are set), "unknown_skin" (an overlay is there, at `box`, but its best-fitting library
    skin, `nearest_skin`, does not explain its looks: no skin, no transform, so nothing is read
    with a wrong layout) and "no_overlay".
    """

    found: bool  # a library skin was found (False for unknown_skin and no_overlay)
    skin_id: str | None  # best-matching skin (None when not found)
    family: str | None
    transform: tuple[tuple[float, float, float], tuple[float, float, float]] | None  # 2x3 template→frame px
    inliers: int  # pooled inlier matches of the best fit (found or not)
    locations: int  # distinct template locations among them
    box: tuple[int, int, int, int] | None  # (x0, y0, x1, y1) of the template in frame px, clipped
    frame_size: tuple[int, int]  # (width, height) of the video, px
    frames_sampled: int
    seconds: float  # wall time of the localization
    reason: str  # what was decided and why, in words
    runner_up: str | None = None  # second-best skin, for diagnosis
    runner_up_locations: int = 0
    rescue_locations: int = 0  # most locations guided matching found at a voted pose when no fit passed (0: none tried or matched)
    unknown_skin: bool = False  # an overlay is at `box`, but no library skin explains it (see `verify`)
    nearest_skin: str | None = None  # the library skin that fits the overlay best (found or unknown_skin)
    skin_agreement: float | None = None  # how well nearest_skin's rest image explains the overlay (`verify`); None: not checked
    runner_up_agreement: float | None = None  # the same for the best other skin whose fit puts the overlay there; None: none

    @property
    def outcome(self) -> str:
        """found | unknown_skin | no_overlay."""
        return "found" if self.found else "unknown_skin" if self.unknown_skin else "no_overlay"

    @property
    def matrix(self) -> np.ndarray:
        if self.transform is None:
            raise ValueError("no transform: the overlay was not found")
        return np.array(self.transform, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("transform", "box", "frame_size"):
            if out[key] is not None:
                out[key] = [list(v) if isinstance(v, tuple) else v for v in out[key]]
        return out


@dataclass(frozen=True)
class Fit:
    skin: int
    transform: np.ndarray  # 2x3 template→detection-image px
    inliers: int  # inlier matches, pooled over frames
    locations: int  # distinct template locations among them


def found_reason(skin: Skin, found_by: str, fit: Fit, box: tuple[int, int, int, int]) -> str:
    return f"found {skin.id}{found_by}: {fit.inliers} inliers at {fit.locations} distinct locations, {box[2] - box[0]} px wide"


def implausible(transform: np.ndarray, box: tuple[int, int, int, int], skin: Skin, frame_size: tuple[int, int], cfg: LocalizeConfig) -> str | None:
    """Why a fit cannot be a drawn overlay (too small or large, rotated, mirrored, off-frame), or None."""
    x0, y0, x1, y1 = box
    linear = transform[:, :2]
    width = float(np.hypot(*linear[:, 0])) * skin.size[0]
    lo, hi = cfg.width_range
    if x1 - x0 < MIN_OVERLAY_WIDTH_PX:
        return f"is {x1 - x0} px wide, below {MIN_OVERLAY_WIDTH_PX} px"
    if not lo <= width / frame_size[0] <= hi:
        return f"is {width / frame_size[0]:.2f} of the frame width, outside width_range {list(cfg.width_range)}"
    if np.linalg.det(linear) <= 0:
        return "is mirrored"
    rotation = float(np.degrees(np.arctan2(linear[1, 0], linear[0, 0])))
    if abs(rotation) > cfg.max_rotation_deg:
        return f"is rotated {rotation:.0f} degrees (max_rotation_deg {cfg.max_rotation_deg:g})"
    corners = np.array([[0, 0, 1], [skin.size[0], 0, 1], [0, skin.size[1], 1], [skin.size[0], skin.size[1], 1]], float) @ transform.T
    full = np.ptp(corners[:, 0]) * np.ptp(corners[:, 1])
    if (x1 - x0) * (y1 - y0) < 0.5 * full:
        return "lies mostly outside the frame"
    return None


def fit_box(transform: np.ndarray, skin: Skin, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    return tuple(int(v) for v in transform_box(transform, skin.size, frame_size))  # type: ignore[return-value]


def as_tuple(transform: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return tuple(tuple(float(v) for v in row) for row in np.asarray(transform, np.float64))  # type: ignore[return-value]
