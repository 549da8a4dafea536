"""Refinement of small overlays: re-match the chosen skin in an upscaled crop around the coarse box.

Once a fit is accepted, the region around it is cut from the full-resolution frames, upscaled
towards the template's size and matched again against the chosen skin, which sharpens the box
of a 60-px overlay to within a pixel or two.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.localize.index import Features, TemplateIndex, detect, make_detector
from padflow.overlay.localize.match import fit_crop_matches, match_frame
from padflow.overlay.localize.result import Localization, as_tuple, fit_box, implausible


def refine(frames: list[np.ndarray], index: TemplateIndex, coarse: Localization, cfg: LocalizeConfig) -> Localization:
    """Re-match the chosen skin in an upscaled crop around the coarse box; keep the sharper fit if it holds."""
    skin_index = index.skin_ids.index(coarse.skin_id)
    skin = index.skins[skin_index]
    upscale = crop_upscale(coarse.box, cfg)
    if upscale <= 1.0:
        return coarse
    matched = match_frame(crop_features(frames, coarse.box, upscale, cfg), index, cfg, coarse.frame_size[0], skin=skin_index).get(skin_index)
    if matched is None:
        return coarse
    dst_arr, src_arr = matched
    if len(src_arr) < cfg.min_inliers:
        return coarse
    fit = fit_crop_matches(src_arr, dst_arr, upscale, cfg)
    if fit is None:
        return coarse
    transform, inliers, locations = fit
    box = fit_box(transform, skin, coarse.frame_size)
    if locations < max(cfg.min_locations, coarse.locations) or inliers < cfg.min_inliers or implausible(transform, box, skin, coarse.frame_size, cfg):
        return coarse
    reason = f"{coarse.reason}; refined in a {upscale:.1f}x crop to {inliers} inliers at {locations} distinct locations, {box[2] - box[0]} px wide"
    return replace(coarse, transform=as_tuple(transform), inliers=inliers, locations=locations, box=box, reason=reason)


def crop_upscale(box: tuple[int, int, int, int], cfg: LocalizeConfig) -> float:
    """How much a crop around `box` is upscaled so the overlay reaches about refine_width_px."""
    return min(cfg.max_refine_upscale, cfg.refine_width_px / max(1, box[2] - box[0]))


def crop_features(frames: list[np.ndarray], box: tuple[int, int, int, int], upscale: float, cfg: LocalizeConfig) -> Features:
    """Features of every frame's crop around `box` (with refine_margin) upscaled by `upscale`, pooled; positions and sizes in frame px."""
    fh, fw = frames[0].shape[:2]
    x0, y0, x1, y1 = box
    mx, my = round((x1 - x0) * cfg.refine_margin), round((y1 - y0) * cfg.refine_margin)
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(fw, x1 + mx), min(fh, y1 + my)
    detector = make_detector(cfg)
    parts = []
    for frame in frames:
        crop = cv2.cvtColor(frame[cy0:cy1, cx0:cx1], cv2.COLOR_RGB2GRAY)
        if upscale != 1.0:
            crop = cv2.resize(crop, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        found = detect(crop, detector)
        if found.descriptors is not None:
            parts.append(found)
    if not parts:
        empty = np.zeros(0, np.float32)
        return Features(np.zeros((0, 2), np.float32), empty, empty, None)
    return Features(
        np.concatenate([f.points for f in parts]) / upscale + np.array([cx0, cy0], np.float32),
        np.concatenate([f.angles for f in parts]),
        np.concatenate([f.sizes for f in parts]) / upscale,
        np.concatenate([f.descriptors for f in parts]),
    )
