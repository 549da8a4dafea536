"""Choosing among look-alike skins by colour.

Skins of one family share a geometry and differ in colour, which grey-level features barely
see, and on small faint overlays skins of other families with a similar outline gather nearly
as many locations as the drawn one; so among the family's skins whose fits put the overlay in
the same place, and the other families' skins that do so with nearly as many locations
(`colour_location_margin`), the one whose rest colours correlate best with the median of the
sampled frames is chosen (the parser reads presses against that rest image).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from padflow.overlay.crops import box_iou
from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.localize.index import TemplateIndex
from padflow.overlay.localize.result import FOUND_BY_RESCUE, Fit, Localization, as_tuple, fit_box, found_reason, implausible

# Another skin's fit whose box overlaps the chosen one this much is the same overlay read with that
# skin's layout: a look-alike whose colours decide (pick_by_colour).
COLOUR_CANDIDATE_IOU = 0.9
OPAQUE_ALPHA = 128  # rest-image alpha from which a pixel counts as the skin's own colour
MIN_COLOUR_PIXELS = 50  # opaque pixels a candidate needs inside the frame to be compared


def pick_by_colour(frames: list[np.ndarray], index: TemplateIndex, fits: list[Fit], chosen: Localization, cfg: LocalizeConfig, scale: float) -> Localization:
    """Among the look-alike skins whose fits put the overlay in the chosen box, the one whose rest colours match the frames best.

    The chosen fit has shown that an overlay sits there; which skin it is, features cannot always
    tell. Skins of one family share their geometry up to a pixel or two and differ in colour,
    which grey-level features barely see, so a family look-alike whose own fit there passes
    `min_locations` is a candidate however many locations the chosen fit has (RANSAC's count for
    a look-alike varies by several between runs). On a small faint overlay, skins of other
    families with a similar outline gather nearly as many locations as the drawn one, so any fit
    within `colour_location_margin` locations of the chosen one is a candidate too; one that
    falls clearly short loses on its features. Among the candidates the colours decide (the
    parser reads presses against that skin's rest image): each rest image is warped into the
    frame with its own fit and correlated (RGB together, so gain and offset from opacity do not
    matter) with the per-pixel median of the sampled frames, which keeps the static overlay and
    drops most moving game content.
    """
    frame_size = chosen.frame_size
    near = chosen.locations - cfg.colour_location_margin
    candidates = []
    for fit in fits:
        transform = fit.transform / scale
        skin = index.skins[fit.skin]
        box = fit_box(transform, skin, frame_size)
        floor = min(cfg.min_locations, near) if skin.family == chosen.family else near
        if fit.inliers < cfg.min_inliers or fit.locations < floor or box_iou(box, chosen.box) < COLOUR_CANDIDATE_IOU:
            continue
        if not implausible(transform, box, skin, frame_size, cfg):
            candidates.append((fit, transform, skin, box))
    if len(candidates) < 2:
        return chosen
    x0, y0 = min(c[3][0] for c in candidates), min(c[3][1] for c in candidates)
    x1, y1 = max(c[3][2] for c in candidates), max(c[3][3] for c in candidates)
    median = np.median(np.stack([f[y0:y1, x0:x1] for f in frames]), axis=0).astype(np.float32)  # (h, w, 3)
    scores = []
    for _, transform, skin, _ in candidates:
        shifted = transform - np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])
        rest = cv2.warpAffine(skin.rest, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
        opaque = rest[..., 3] >= OPAQUE_ALPHA
        if opaque.sum() < MIN_COLOUR_PIXELS:
            scores.append(-1.0)
            continue
        scores.append(float(np.corrcoef(rest[..., :3][opaque].astype(np.float32).ravel(), median[opaque].ravel())[0, 1]))
    pick = int(np.nanargmax(scores))
    fit, transform, skin, box = candidates[pick]
    if skin.id == chosen.skin_id:
        return chosen
    others = ", ".join(f"{c[2].id} {s:.2f}" for c, s in zip(candidates, scores) if c[0] is not fit)
    found_by = FOUND_BY_RESCUE if chosen.rescue_locations else ""
    reason = f"{found_reason(skin, found_by, fit, box)}; its rest colours match the frames best (correlation {scores[pick]:.2f}; {others})"
    fields = dict(skin_id=skin.id, family=skin.family, transform=as_tuple(transform), inliers=fit.inliers, locations=fit.locations, box=box)
    return replace(chosen, **fields, reason=reason, runner_up=chosen.skin_id, runner_up_locations=chosen.locations)
