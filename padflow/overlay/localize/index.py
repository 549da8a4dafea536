"""The template index: local features of every skin in a library, computed once per library and feature settings.

Each skin's rest image is described over two backgrounds (its transparent parts shown mid-grey
and near-black) and at several sizes, so features of a small overlay are compared with
features taken at a similar size. The last `INDEX_CACHE_SIZE` indexes stay in memory.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from padflow.overlay.library import SkinLibrary
from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.skin import Skin

INDEX_CACHE_SIZE = 4  # template indexes kept in memory (one per library x feature settings)
MASK_DILATE_PX = 3  # template keypoints may sit this far outside the opaque area (edges of floating buttons)
ORB_EDGE_THRESHOLD = 15  # px border ORB leaves out; below its default 31 so small templates keep features
ORB_SCALE_FACTOR = 1.2  # ORB pyramid step
FLANN_KDTREE, FLANN_TREES, FLANN_CHECKS = 1, 4, 64  # approximate kd-tree search over the library's SIFT descriptors


@dataclass(frozen=True)
class Features:
    """Keypoints of one image: positions (N, 2), orientations (N,) in degrees, sizes (N,) in px, descriptors."""

    points: np.ndarray
    angles: np.ndarray
    sizes: np.ndarray
    descriptors: np.ndarray | None

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class TemplateIndex:
    """Features of every skin in a library, concatenated; picklable, so workers can share one."""

    skin_ids: tuple[str, ...]
    skins: tuple[Skin, ...]
    descriptors: np.ndarray  # (N, D) float32 (SIFT) or uint8 (ORB)
    points: np.ndarray  # (N, 2) float32 keypoint positions in native template px
    angles: np.ndarray  # (N,) float32 orientation, degrees
    sizes: np.ndarray  # (N,) float32 diameter in native template px
    owner: np.ndarray  # (N,) int32 index into skin_ids
    detector: str
    _matchers: dict = field(default_factory=dict, compare=False, repr=False)  # built lazily, never pickled
    twin_cache: dict = field(default_factory=dict, compare=False, repr=False)  # skin index -> its twins, kept by localize.verify.twins; never pickled

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_matchers": {}, "twin_cache": {}}

    def neighbours(self, descriptors: np.ndarray, k: int, skin_index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(Q, k) library rows (into all descriptors, -1 where none) and distances of each query's k nearest.

        With `skin_index`, only that skin's descriptors are searched. Matchers are built lazily,
        one per thread (OpenCV's matchers are not documented as safe to share between threads).
        """
        key = (skin_index, threading.get_ident())
        if key not in self._matchers:
            rows = np.arange(len(self.descriptors)) if skin_index is None else np.flatnonzero(self.owner == skin_index)
            data = np.ascontiguousarray(self.descriptors[rows])  # kept with the matcher: FLANN may point into it
            self._matchers[key] = (_make_matcher(self.detector, data), rows, data)
        matcher, rows, _ = self._matchers[key]
        k = min(k, len(rows))
        if self.detector == "sift":
            found, dist = matcher.knnSearch(np.ascontiguousarray(descriptors, np.float32), k, params={"checks": FLANN_CHECKS})
            # FLANN's L2 index reports squared distances; the ratio test compares distances.
            dist = np.sqrt(np.maximum(dist, 0.0)).astype(np.float32)
            found = found.astype(np.int64)
        else:
            found, dist = np.full((len(descriptors), k), -1, np.int64), np.full((len(descriptors), k), np.inf, np.float32)
            for i, row in enumerate(matcher.knnMatch(descriptors, k=k)):
                for j, m in enumerate(row):
                    found[i, j], dist[i, j] = m.trainIdx, m.distance
        valid = (found >= 0) & (found < len(rows))
        return np.where(valid, rows[np.clip(found, 0, len(rows) - 1)], -1), np.where(valid, dist, np.inf).astype(np.float32)


def make_detector(cfg: LocalizeConfig) -> cv2.Feature2D:
    if cfg.detector == "sift":
        return cv2.SIFT_create(nfeatures=cfg.max_features, contrastThreshold=cfg.contrast_threshold)
    return cv2.ORB_create(
        nfeatures=cfg.max_features, scaleFactor=ORB_SCALE_FACTOR, edgeThreshold=ORB_EDGE_THRESHOLD, patchSize=ORB_EDGE_THRESHOLD * 2 + 1
    )


def _make_matcher(detector: str, descriptors: np.ndarray) -> Any:
    if detector == "sift":
        # Approximate search: exact search over ~10^4 library descriptors per frame descriptor is seconds a frame.
        return cv2.flann_Index(descriptors, {"algorithm": FLANN_KDTREE, "trees": FLANN_TREES})
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    matcher.add([descriptors])
    matcher.train()
    return matcher


def detect(grey: np.ndarray, detector: cv2.Feature2D, mask: np.ndarray | None = None) -> Features:
    """Keypoints and descriptors of one grey uint8 image."""
    keypoints, descriptors = detector.detectAndCompute(grey, mask)
    if descriptors is None or not keypoints:
        empty = np.zeros(0, np.float32)
        return Features(np.zeros((0, 2), np.float32), empty, empty, None)
    return Features(
        np.array([k.pt for k in keypoints], np.float32),
        np.array([k.angle for k in keypoints], np.float32),
        np.array([k.size for k in keypoints], np.float32),
        descriptors,
    )


def template_views(skin: Skin, cfg: LocalizeConfig) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(scale, grey image, detection mask) of the skin over each background at each scale."""
    rest = skin.rest.astype(np.float32)
    alpha = rest[..., 3:4] / 255.0
    k = 2 * MASK_DILATE_PX + 1
    views = []
    for background in cfg.template_backgrounds:
        rgb = (rest[..., :3] * alpha + background * (1.0 - alpha)).round().astype(np.uint8)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        for scale in cfg.template_scales:
            w, h = max(1, round(skin.size[0] * scale)), max(1, round(skin.size[1] * scale))
            small = grey if (w, h) == skin.size else cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
            opaque = cv2.resize(skin.rest[..., 3], (w, h), interpolation=cv2.INTER_AREA) > 0
            mask = cv2.dilate(opaque.astype(np.uint8) * 255, np.ones((k, k), np.uint8))
            views.append((w / skin.size[0], small, mask))
    return views


def template_index(library: SkinLibrary, cfg: LocalizeConfig) -> TemplateIndex:
    """Features of every skin (all scales and backgrounds), cached per library and feature settings.

    A skin whose rest image yields fewer than `min_inliers` keypoints could never be localized:
    that is a ValueError naming its layout file.
    """
    if not library.skins:
        raise ValueError("the skin library is empty: nothing to localize against")
    return _cached_index(_IndexKey(tuple(library.skins.values()), cfg))


@dataclass(frozen=True, eq=False)
class _IndexKey:
    """What an index is built from, compared by each skin's (id, layout file, rest image shape) and the feature settings."""

    skins: tuple[Skin, ...]
    cfg: LocalizeConfig

    def key(self) -> tuple:
        return (tuple((s.id, str(s.layout_path), s.rest.shape) for s in self.skins), self.cfg.feature_key())

    def __hash__(self) -> int:
        return hash(self.key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _IndexKey) and self.key() == other.key()


@functools.lru_cache(maxsize=INDEX_CACHE_SIZE)
def _cached_index(key: _IndexKey) -> TemplateIndex:
    return build_index(key.skins, key.cfg)


def build_index(skins: tuple[Skin, ...], cfg: LocalizeConfig) -> TemplateIndex:
    """The template index of `skins` (uncached: `template_index` keeps the last few)."""
    detector = make_detector(cfg)
    parts: list[tuple[Features, float, int]] = []
    for i, skin in enumerate(skins):
        views = [(detect(grey, detector, mask), scale) for scale, grey, mask in template_views(skin, cfg)]
        count = sum(len(f) for f, _ in views)
        if count < cfg.min_inliers:
            raise ValueError(
                f"{skin.layout_path}: the rest image {skin.image_path.name} yields only {count} keypoints, fewer than "
                f"min_inliers={cfg.min_inliers}; a template needs visible texture (is it blank or fully transparent?)"
            )
        # A fit counts the distinct template places its inliers sit at, so a template whose keypoints
        # all sit at fewer places than min_locations can never be found (smooth shading has few corners).
        places = distinct_locations(np.concatenate([f.points / scale for f, scale in views if len(f)]), cfg)
        if places < cfg.min_locations:
            raise ValueError(
                f"{skin.layout_path}: the rest image {skin.image_path.name} yields {count} keypoints at only {places} distinct "
                f"places ({cfg.location_cell_px:g}-px cells), fewer than min_locations={cfg.min_locations}: no fit could ever "
                "name this skin; a template needs texture spread over the picture (outlines, labels, edges), not smooth shading alone"
            )
        parts += [(f, scale, i) for f, scale in views if len(f)]
    return TemplateIndex(
        skin_ids=tuple(s.id for s in skins),
        skins=skins,
        descriptors=np.concatenate([f.descriptors for f, _, _ in parts]),
        points=np.concatenate([f.points / scale for f, scale, _ in parts]).astype(np.float32),
        angles=np.concatenate([f.angles for f, _, _ in parts]),
        sizes=np.concatenate([f.sizes / scale for f, scale, _ in parts]).astype(np.float32),
        owner=np.concatenate([np.full(len(f), i, np.int32) for f, _, i in parts]),
        detector=cfg.detector,
    )


def distinct_locations(template_points: np.ndarray, cfg: LocalizeConfig) -> int:
    """How many `cfg.location_cell_px` cells of the template the points (n, 2) template px fall in."""
    if len(template_points) == 0:
        return 0
    return len(np.unique(np.floor(template_points / cfg.location_cell_px).astype(np.int64), axis=0))
