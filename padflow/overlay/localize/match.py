"""Matching a frame's features against the template index, and one RANSAC fit per skin over all sampled frames.

The overlay does not move during a video, so the correspondences of all sampled frames are
pooled per skin and one RANSAC fit finds the transform they agree on: a faint overlay yields
only a few correct matches per frame, but the frames agree on one transform while wrong matches
scatter. Evidence is the pooled inlier count (`min_inliers`) and the number of distinct template
locations among the inliers (`min_locations`): a static game element that resembles one
template feature is matched in every frame, but counts once.

Overlays are pasted upright, so a match whose orientation or size ratio is implausible is
dropped before RANSAC. The transform is a similarity (cv2.estimateAffinePartial2D) by default,
or a full affine.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.localize.index import Features, TemplateIndex, distinct_locations
from padflow.overlay.localize.result import Fit, Localization, as_tuple, fit_box, found_reason, implausible

RANSAC_CONFIDENCE = 0.999


Matches = dict[int, tuple[np.ndarray, np.ndarray]]  # skin → (frame points, template points)


@dataclass(frozen=True)
class Votes:
    """One frame's nearest-descriptor matches as pose votes: an upright match alone fixes the overlay's scale and place."""

    skin: np.ndarray  # (N,) int32 index into the library's skins
    scale: np.ndarray  # (N,) float32 detection px per template px (ratio of the two features' sizes)
    frame_points: np.ndarray  # (N, 2) float32 the frame features, detection px
    template_points: np.ndarray  # (N, 2) float32 the template features they matched, native template px


def detection_grey(frame: np.ndarray, scale: float) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


def match_frame(
    found: Features, index: TemplateIndex, cfg: LocalizeConfig, image_width: float, skin: int | None = None, votes: list[Votes] | None = None
) -> Matches:
    """Per skin: the frame's matches that pass the ratio test and the upright/size checks.

    The first neighbour of each skin among the k nearest library descriptors is that skin's
    candidate; the ratio test compares it with the next neighbour of the same skin at a different
    template location (the same point seen at another scale or over another background is no
    ambiguity). A skin with no such second neighbour among the k passes: its next location is
    farther than all k. With `skin` given, only that skin's descriptors are searched. With `votes`,
    each feature's nearest library descriptor (ratio test or not), if upright and plausibly sized,
    is appended to it as a pose vote.
    """
    if found.descriptors is None or len(found) < 2:
        return {}
    idx, dist = index.neighbours(found.descriptors, cfg.neighbours, skin)
    q, k = idx.shape
    valid = idx >= 0
    idx = np.where(valid, idx, 0)
    owner = np.where(valid, index.owner[idx], -1)
    tpts = index.points[idx]
    same_point = 2 * cfg.location_cell_px
    keep = np.zeros((q, k), bool)
    for a in range(k):
        first = valid[:, a] & np.all(owner[:, :a] != owner[:, a : a + 1], axis=1)
        if not first.any():
            continue
        second = np.full(q, np.inf, np.float32)
        for b in range(a + 1, k):
            other = (owner[:, b] == owner[:, a]) & (np.linalg.norm(tpts[:, b] - tpts[:, a], axis=1) > same_point)
            second = np.where(np.isinf(second) & other, dist[:, b], second)
        keep[:, a] = first & (dist[:, a] < cfg.ratio * second)
    if votes is not None:
        rows = np.flatnonzero(valid[:, 0])  # each feature votes once, with its nearest library descriptor
        lib = idx[rows, 0]
        ok = upright_and_sized(found, rows, lib, index, cfg, image_width)
        rows, lib = rows[ok], lib[ok]
        scale = found.sizes[rows] / index.sizes[lib]  # detection px per template px, from the features' sizes
        votes.append(Votes(index.owner[lib], scale, found.points[rows], index.points[lib]))
    rows, cols = np.nonzero(keep)
    lib = idx[rows, cols]
    ok = upright_and_sized(found, rows, lib, index, cfg, image_width)
    rows, lib = rows[ok], lib[ok]
    owners = index.owner[lib]
    return {int(s): (found.points[rows[owners == s]], index.points[lib[owners == s]]) for s in np.unique(owners)}


def upright_and_sized(found: Features, rows: np.ndarray, lib: np.ndarray, index: TemplateIndex, cfg: LocalizeConfig, image_width: float) -> np.ndarray:
    """Which matches (frame feature rows, library rows) are upright and imply a plausible overlay width."""
    upright = is_upright(found.angles[rows], index.angles[lib], cfg)
    skin_width = np.array([s.size[0] for s in index.skins], np.float32)[index.owner[lib]]
    implied = found.sizes[rows] / index.sizes[lib] * skin_width / image_width
    lo, hi = cfg.width_range
    return upright & (implied >= lo / cfg.size_tolerance) & (implied <= hi * cfg.size_tolerance)


def is_upright(frame_angles: np.ndarray, template_angles: np.ndarray, cfg: LocalizeConfig) -> np.ndarray:
    """Whether each match's orientation (degrees) is nearly its template feature's: overlays are pasted upright."""
    turn = (frame_angles - template_angles + 180.0) % 360.0 - 180.0
    return np.abs(turn) <= cfg.max_rotation_deg + cfg.angle_tolerance_deg


def fit_skins(matches: list[Matches], cfg: LocalizeConfig, skins: range | list[int], floor: int = 0) -> list[Fit]:
    """One RANSAC fit per skin over the pooled matches of all frames, best first.

    Skins whose candidate matches cover fewer than max(min_locations, `floor`) distinct template
    locations are not fitted: their inliers could not cover more (the early-stop check passes its
    threshold as `floor`, which spares it a RANSAC per skin every few frames).
    """
    fits = []
    for skin in skins:
        pooled = [m[skin] for m in matches if skin in m]
        if not pooled:
            continue
        dst = np.concatenate([p for p, _ in pooled])
        src = np.concatenate([t for _, t in pooled])
        if len(src) < cfg.min_inliers or distinct_locations(src, cfg) < max(cfg.min_locations, floor):
            continue  # not even the candidates reach the thresholds
        cv2.setRNGSeed(cfg.seed)  # per skin: a skin's fit does not depend on which others were fitted
        fit = ransac_fit(src, dst, cfg, cfg.ransac_threshold)
        if fit is not None:
            transform, inlier = fit
            fits.append(Fit(skin, transform, int(inlier.sum()), distinct_locations(src[inlier], cfg)))
    return sorted(fits, key=lambda f: (-f.locations, -f.inliers))


def ransac_fit(src: np.ndarray, dst: np.ndarray, cfg: LocalizeConfig, threshold: float) -> tuple[np.ndarray, np.ndarray] | None:
    estimate = cv2.estimateAffinePartial2D if cfg.transform == "similarity" else cv2.estimateAffine2D
    transform, mask = estimate(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=cfg.ransac_iterations, confidence=RANSAC_CONFIDENCE
    )
    if transform is None or mask is None:
        return None
    return transform, mask.ravel().astype(bool)


def decide(index: TemplateIndex, fits: list[Fit], cfg: LocalizeConfig, scale: float, frame_size: tuple[int, int], n_frames: int) -> Localization:
    """The best fit as a Localization, or "no overlay" with the reason it fails."""
    runner = fits[1] if len(fits) > 1 else None
    common = dict(
        frame_size=frame_size,
        frames_sampled=n_frames,
        seconds=0.0,
        runner_up=index.skin_ids[runner.skin] if runner else None,
        runner_up_locations=runner.locations if runner else 0,
    )
    if not fits:
        reason = f"no overlay: no skin gathers {cfg.min_inliers} matches at {cfg.min_locations} distinct locations"
        return Localization(False, None, None, None, 0, 0, None, reason=reason, **common)
    best = fits[0]
    skin = index.skins[best.skin]
    transform = best.transform / scale  # the fit was made on the downscaled detection image
    box = fit_box(transform, skin, frame_size)
    if best.inliers < cfg.min_inliers or best.locations < cfg.min_locations:
        reason = (
            f"no overlay: the best fit ({skin.id}) has {best.inliers} inliers at {best.locations} distinct locations; "
            f"needs {cfg.min_inliers} at {cfg.min_locations}"
        )
        return Localization(False, None, None, None, best.inliers, best.locations, None, reason=reason, **common)
    problem = implausible(transform, box, skin, frame_size, cfg)
    if problem:
        reason = f"no overlay: the best fit ({skin.id}, {best.locations} locations) {problem}"
        return Localization(False, None, None, None, best.inliers, best.locations, None, reason=reason, **common)
    reason = found_reason(skin, "", best, box)
    return Localization(True, skin.id, skin.family, as_tuple(transform), best.inliers, best.locations, box, reason=reason, **common)


def fit_crop_matches(src: np.ndarray, dst: np.ndarray, upscale: float, cfg: LocalizeConfig) -> tuple[np.ndarray, int, int] | None:
    """RANSAC fit of template→frame px matches found in a crop upscaled by `upscale`: (transform, inliers, distinct locations) or None."""
    cv2.setRNGSeed(cfg.seed)
    # The same tolerance in upscaled crop px is finer in frame px.
    fit = ransac_fit(src, dst, cfg, max(cfg.ransac_threshold / upscale, 0.5))
    if fit is None:
        return None
    transform, inlier = fit
    return transform, int(inlier.sum()), distinct_locations(src[inlier], cfg)
