"""Is the named skin really the overlay's skin? How much of the overlay's static look a skin's rest image explains.

Features find *where* an overlay is and which library skin fits it best; they do not say that
the best fit is the drawn skin. An overlay whose skin is not in the library is fitted by the
nearest look-alike (a skin of the same family shares its geometry up to a few px), and reading it
with that layout gives a wrong table. So the chosen skin's rest image, warped into the frame with
its fit, is compared with the per-pixel median of the sampled frames (which keeps the static
overlay and drops most moving game content).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from padflow.overlay.crops import box_iou
from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.localize.index import TemplateIndex
from padflow.overlay.localize.result import Fit, Localization, fit_box

RUNNER_UP_IOU = 0.5  # another skin's fit overlapping the found box this much is a look-alike reading of the same overlay
FULLY_OPAQUE = 250  # rest-image alpha from which a pixel shows the skin's own colour unblended
MIN_PIXELS = 50  # opaque pixels inside the frame a comparison needs
COLOUR_LEVELS = 8  # levels per channel the rest colours are grouped by (flat colours and their anti-aliased blends fall apart)
MIN_GROUP_PIXELS = 4  # a colour group needs this many pixels in the frame to be compared
MIN_GROUP_SHARE = 0.01  # ... and this share of the opaque pixels


def check_skin(frames: list[np.ndarray], index: TemplateIndex, fits: list[Fit], chosen: Localization, cfg: LocalizeConfig, scale: float) -> Localization:
    """The found localization with its skin agreement, or, below min_skin_agreement, unknown_skin at the same box.

    `fits` are every skin's fit in detection px (`scale` detection px per frame px); the best
    other skin whose fit overlaps the found box is scored too (`runner_up_agreement`), to show
    how far the drawn skin stands above its nearest look-alike.
    """
    x0, y0, x1, y1 = chosen.box
    median = np.median(np.stack([f[y0:y1, x0:x1] for f in frames]), axis=0).astype(np.float32)  # (h, w, 3)
    score = skin_agreement(median, warped_rest(index.skins[index.skin_ids.index(chosen.skin_id)].rest, chosen.matrix, chosen.box))
    others = []
    for fit in fits:
        skin = index.skins[fit.skin]
        if skin.id == chosen.skin_id:
            continue
        transform = fit.transform / scale
        box = fit_box(transform, skin, chosen.frame_size)
        if box[2] > box[0] and box[3] > box[1] and box_iou(box, chosen.box) >= RUNNER_UP_IOU:
            others.append(skin_agreement(median, warped_rest(skin.rest, transform, chosen.box)))
    runner_up = round(max(others), 3) if others else None
    checked = replace(chosen, nearest_skin=chosen.skin_id, skin_agreement=round(score, 3), runner_up_agreement=runner_up)
    if score >= cfg.min_skin_agreement:
        others_said = f", best other skin there {runner_up:.2f}" if runner_up is not None else ""
        return replace(checked, reason=f"{chosen.reason}; its rest colours agree with the overlay to {score:.2f}{others_said}")
    reason = (
        f"unknown skin: an overlay is at {list(chosen.box)}, but the best-fitting library skin {chosen.skin_id} "
        f"({chosen.locations} template locations) agrees with its colours only to {score:.2f} (correlation of the skin's colour "
        f"groups with what the sampled frames' median shows there); a library skin needs >= {cfg.min_skin_agreement:g}"
    )
    return replace(checked, found=False, unknown_skin=True, skin_id=None, family=None, transform=None, reason=reason)


def warped_rest(rest: np.ndarray, transform: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The rest image (H, W, 4) drawn into `box` of the frame by the 2x3 template→frame transform, as float32.

    The rest image is first shrunk with area averaging to about the overlay's size (a plain warp
    of a 256-px image onto 60 px aliases its thin outlines), then warped the rest of the way.
    """
    x0, y0, x1, y1 = box
    scale = float(np.hypot(*transform[:, 0]))
    source, shrink = rest, 1.0
    if scale < 1.0:
        size = (max(1, round(rest.shape[1] * scale)), max(1, round(rest.shape[0] * scale)))
        source = cv2.resize(rest, size, interpolation=cv2.INTER_AREA)
        shrink = rest.shape[1] / size[0]
    m = transform.astype(np.float64).copy()
    m[:, :2] *= shrink
    m[:, 2] -= (x0, y0)
    out = cv2.warpAffine(source, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    return out.astype(np.float32)


def skin_agreement(median: np.ndarray, rest: np.ndarray) -> float:
    """How well a warped rest image (h, w, 4) explains the frames' median (h, w, 3) there: -1..1.

    The rest image's opaque pixels are grouped by colour (`COLOUR_LEVELS` per channel: a skin is
    drawn in a few flat colours), and each group's colour is compared with the mean the median
    shows over the same pixels: the correlation over groups and channels, each group weighing the
    same. Means over a group average out most of the game seen through a translucent overlay (a
    faint true skin over a busy background still scores high), and equal weights let the buttons
    count as much as the body, so a look-alike that shares the body colour but not the buttons'
    scores low. Groups smaller than `MIN_GROUP_PIXELS`, or `MIN_GROUP_SHARE` of the opaque pixels
    (anti-aliased edges), are left out; fewer than two groups score -1.
    """
    opaque = rest[..., 3] >= FULLY_OPAQUE
    if opaque.sum() < MIN_PIXELS:
        return -1.0
    q = np.clip(rest[..., :3] * (COLOUR_LEVELS / 256.0), 0, COLOUR_LEVELS - 1).astype(np.int32)
    group = (q[..., 0] * COLOUR_LEVELS + q[..., 1]) * COLOUR_LEVELS + q[..., 2]
    keys, counts = np.unique(group[opaque], return_counts=True)
    kept = keys[counts >= max(MIN_GROUP_PIXELS, MIN_GROUP_SHARE * opaque.sum())]
    if len(kept) < 2:
        return -1.0
    drawn, seen = [], []
    for key in kept:
        pixels = opaque & (group == key)
        drawn.append(rest[..., :3][pixels].mean(axis=0))
        seen.append(median[pixels].mean(axis=0))
    r = np.corrcoef(np.ravel(drawn), np.ravel(seen))[0, 1]
    return float(r) if np.isfinite(r) else -1.0
