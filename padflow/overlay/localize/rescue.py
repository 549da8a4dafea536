"""Rescue of overlays the ratio test misses: Hough-voted poses checked by guided matching.

When no fit passes, the poses most single matches vote for are checked by guided matching: the
ratio test drops most correct matches of a faint overlay, and of a skin whose buttons look
alike, while one upright match alone fixes a pose. Each voted pose is accepted only if, in an
upscaled crop, `rescue_min_locations` distinct template locations are matched exactly where
the pose puts them.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from padflow.overlay.crops import box_iou, transform_box
from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.localize.index import Features, TemplateIndex
from padflow.overlay.localize.match import Votes, fit_crop_matches, is_upright
from padflow.overlay.localize.refine import crop_features, crop_upscale
from padflow.overlay.localize.result import FOUND_BY_RESCUE, Fit, Localization, as_tuple, fit_box, found_reason, implausible

HOUGH_SCALE_BIN = 0.5  # pose-vote bins are this wide in log2 scale: a factor 1.4 (feature sizes are noisy)
HOUGH_LOCATION_BIN = 0.25  # pose-vote bins are this fraction of the overlay's width wide in position (Lowe 2004)
HOUGH_BINS_SCANNED = 8  # bins read per wanted pose (neighbouring bins repeat a pose; those are skipped)
GUIDED_NEIGHBOURS = 64  # nearest library descriptors looked up per crop feature in guided matching


def rescue(
    frames: list[np.ndarray], index: TemplateIndex, votes: list[Votes], missed: Localization, cfg: LocalizeConfig, scale: float
) -> tuple[Localization, list[Fit]]:
    """When no fit passed: check the most-voted poses by guided matching; the best one with rescue_min_locations wins.

    Returns the localization and every skin's guided fit (best first, in detection px, as
    `fit_skins` gives them), among which the colour check then picks a look-alike.

    The ratio test drops most correct matches of a faint overlay, and of a skin whose buttons
    look alike (the nearest and next template locations are both buttons), so RANSAC never sees
    enough of them. A single upright match still fixes a pose (scale from the features' sizes,
    place from their positions); every frame feature votes with its nearest library descriptor,
    and the votes, binned as in Lowe's Hough clustering, point at a few poses. Each pose is then
    checked for every skin of its family in an upscaled crop: a crop feature counts when its
    nearest descriptor of that skin lies where the pose puts it. Game content gives few such
    coincidences (bench/false_overlays.py: at most 6 distinct locations on 34 overlay-free
    tasks), a drawn overlay many.
    """
    frame_size = missed.frame_size
    fits: dict[int, Fit] = {}  # each skin's best guided fit
    detection_area = frame_size[0] * frame_size[1] * scale**2
    for family, pose in _voted_poses(votes, index, cfg, detection_area):
        transform = pose / scale
        members = [i for i, skin in enumerate(index.skins) if skin.family == family]
        skin = index.skins[members[0]]
        box = fit_box(transform, skin, frame_size)
        if implausible(transform, box, skin, frame_size, cfg):
            continue
        upscale = max(1.0, crop_upscale(box, cfg))
        found = crop_features(frames, box, upscale, cfg)
        if len(found) < 3:
            continue
        # One search for the family: each skin's nearest descriptor is its first among the k nearest
        # (k covers a family's look-alikes, which hold the same location, several times over).
        rows, _ = index.neighbours(found.descriptors, GUIDED_NEIGHBOURS)
        owner = np.where(rows >= 0, index.owner[np.clip(rows, 0, None)], -1)
        for skin_index in members:
            own = owner == skin_index
            nearest = np.where(own.any(axis=1), rows[np.arange(len(rows)), own.argmax(axis=1)], -1)
            fit = _guided_fit(found, nearest, index, transform, upscale, cfg)
            if fit is not None:
                # Once more from the refitted pose: a voted pose can be off by more than the radius at the far side.
                fit = max(fit, _guided_fit(found, nearest, index, fit[0], upscale, cfg) or fit, key=lambda f: (f[2], f[1]))
            old = fits.get(skin_index)
            if fit is not None and (old is None or (fit[2], fit[1]) > (old.locations, old.inliers)):
                fits[skin_index] = Fit(skin_index, fit[0] * scale, fit[1], fit[2])
    ranked = sorted(fits.values(), key=lambda f: (-f.locations, -f.inliers))
    if not ranked:
        return missed, []
    best = ranked[0]
    skin, transform, locations, inliers = index.skins[best.skin], best.transform / scale, best.locations, best.inliers
    box = fit_box(transform, skin, frame_size)
    if locations < cfg.rescue_min_locations or inliers < cfg.min_inliers or implausible(transform, box, skin, frame_size, cfg):
        reason = f"{missed.reason}; guided matching of voted poses finds at most {locations} locations ({skin.id}), needs {cfg.rescue_min_locations}"
        return replace(missed, reason=reason, rescue_locations=locations), []
    reason = (
        f"{found_reason(skin, FOUND_BY_RESCUE, best, box)} (no fit passed the ratio test: {missed.reason.removeprefix('no overlay: ')})"
    )
    fields = dict(found=True, skin_id=skin.id, family=skin.family, transform=as_tuple(transform), box=box, reason=reason)
    return replace(missed, **fields, inliers=inliers, locations=locations, rescue_locations=locations), ranked


def _voted_poses(votes: list[Votes], index: TemplateIndex, cfg: LocalizeConfig, image_area: float) -> list[tuple[str, np.ndarray]]:
    """Up to rescue_poses (family, 2x3 template→detection px) poses that votes of most distinct template locations agree on.

    Votes are pooled per family: its skins share a geometry, and a faint overlay's features
    match the family's look-alikes about as often as its own skin.

    Bins are HOUGH_SCALE_BIN wide in log2 scale and HOUGH_LOCATION_BIN of the overlay's width in
    position; each vote goes to the two nearest bins in each dimension, so a pose near a bin edge
    is not split (Lowe 2004). A bin's pose is its votes' median scale and median template origin.
    """
    if not votes:
        return []
    families = sorted({s.family for s in index.skins})
    family_of = np.array([families.index(s.family) for s in index.skins], np.int64)
    skin = np.concatenate([v.skin for v in votes]).astype(np.int64)
    family = family_of[skin]
    vscale = np.concatenate([v.scale for v in votes]).astype(np.float64)
    frame_pts = np.concatenate([v.frame_points for v in votes]).astype(np.float64)
    template_pts = np.concatenate([v.template_points for v in votes]).astype(np.float64)
    origin = frame_pts - vscale[:, None] * template_pts  # where the template's (0, 0) lands
    widths = np.array([s.size[0] for s in index.skins], np.float64)[skin]
    level = np.log2(vscale) / HOUGH_SCALE_BIN
    keys, members, areas = [], [], []
    for scale_bin in _two_nearest(level):
        cell = HOUGH_LOCATION_BIN * widths * 2.0 ** ((scale_bin + 0.5) * HOUGH_SCALE_BIN)  # bin width, detection px
        for x_bin in _two_nearest(origin[:, 0] / cell):
            for y_bin in _two_nearest(origin[:, 1] / cell):
                keys.append(np.stack([family, scale_bin, x_bin, y_bin], axis=1))
                members.append(np.arange(len(skin)))
                areas.append(cell**2)
    keys_all, member, area = np.concatenate(keys), np.concatenate(members), np.concatenate(areas)
    _, bin_of = np.unique(keys_all, axis=0, return_inverse=True)
    bin_of = bin_of.ravel()
    bins = bin_of.max() + 1
    # Distinct template locations per bin (a static look-alike matched in every frame counts once).
    cells = np.floor(template_pts[member] / cfg.location_cell_px).astype(np.int64)
    distinct = np.unique(np.stack([bin_of, cells[:, 0], cells[:, 1]], axis=1), axis=0)
    support = np.bincount(distinct[:, 0], minlength=bins)
    # Bins of large poses are large and gather many chance votes: rank by support above what votes
    # spread evenly over the image would put in a bin of that family, scale and size.
    _, level_of = np.unique(keys_all[:, :2], axis=0, return_inverse=True)
    level_of = level_of.ravel()
    level_votes = np.bincount(level_of)[level_of]
    expected = np.zeros(bins)
    expected[bin_of] = level_votes * area / image_area
    score = (support - expected) / np.sqrt(expected + 1.0)
    poses: list[tuple[str, np.ndarray]] = []
    boxes: list[tuple[int, tuple[int, int, int, int]]] = []
    for b in np.argsort(-score, kind="stable")[: HOUGH_BINS_SCANNED * cfg.rescue_poses]:
        if len(poses) >= cfg.rescue_poses:
            break
        if support[b] < 3:
            continue
        rows = member[bin_of == b]
        # Upright by construction (no rotation), as overlays are pasted.
        pose_scale = float(np.median(vscale[rows]))
        x, y = np.median(frame_pts[rows] - pose_scale * template_pts[rows], axis=0)
        pose = np.array([[pose_scale, 0.0, x], [0.0, pose_scale, y]])
        f = int(family[rows[0]])
        box = tuple(int(v) for v in transform_box(pose, index.skins[int(skin[rows[0]])].size, (10**6, 10**6)))
        if any(f == g and box_iou(box, other) >= 0.5 for g, other in boxes):
            continue  # the same pose again, from a neighbouring bin
        boxes.append((f, box))
        poses.append((families[f], pose))
    return poses


def _two_nearest(coordinate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bin a coordinate (in bin units) falls in, and the neighbouring bin on its nearer side."""
    low = np.floor(coordinate)
    return low.astype(np.int64), (low + np.where(coordinate % 1 >= 0.5, 1, -1)).astype(np.int64)


def _guided_fit(
    found: Features, nearest: np.ndarray, index: TemplateIndex, transform: np.ndarray, upscale: float, cfg: LocalizeConfig
) -> tuple[np.ndarray, int, int] | None:
    """Match one skin where a pose (2x3 template→frame px) puts it; (refitted transform, inliers, distinct locations) or None.

    `found` are the crop features around the pose in frame px (`crop_features`), `nearest` the
    library row of each one's nearest descriptor of the skin (-1: none). A feature is kept when
    that descriptor lies within guided_radius_px of where the pose maps the feature back into the
    template, and it is upright and sized as the pose implies; no ratio test, since the pose has
    already said which location to expect.
    """
    back = cv2.invertAffineTransform(transform)
    pose_scale = float(np.hypot(*transform[:, 0]))  # frame px per template px
    ok = nearest >= 0
    lib = np.where(ok, nearest, 0)
    expected = found.points @ back[:, :2].T + back[:, 2]  # template px
    landed = np.linalg.norm(index.points[lib] - expected, axis=1) <= cfg.guided_radius_px
    upright = is_upright(found.angles, index.angles[lib], cfg)
    size_ratio = found.sizes / (index.sizes[lib] * pose_scale)
    sized = (size_ratio >= 1.0 / cfg.size_tolerance) & (size_ratio <= cfg.size_tolerance)
    keep = ok & landed & upright & sized
    src, dst = index.points[lib[keep]].astype(np.float32), found.points[keep].astype(np.float32)
    if len(src) < 3:
        return None
    return fit_crop_matches(src, dst, upscale, cfg)
