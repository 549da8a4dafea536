"""Find the controller overlay in a video: which skin, and the template→frame affine transform.

Frames are sampled evenly across the whole video; local features (SIFT, or ORB) of every frame
are matched against the features of every skin in the library, computed once per library and
kept in memory (`template_index`). Each skin's templates are described over two backgrounds
(their transparent parts shown mid-grey and near-black) and at several sizes, so features of a
small overlay are compared with features taken at a similar size.

The overlay does not move during a video, so the correspondences of all sampled frames are
pooled per skin and one RANSAC fit finds the transform they agree on. Pooling is what finds
faint and small overlays: a frame where the overlay sits at opacity 0.4 over busy game content
yields only a few correct matches, but the sampled frames agree on one transform while wrong
matches scatter. Evidence is the pooled inlier count (`min_inliers`, NitroGen's 20) *and* the
number of distinct template locations among the inliers (`min_locations`): a static game
element that resembles one template feature is matched in every frame, but counts once.

Overlays are pasted upright. Every feature carries an orientation and a size, so a match whose
orientation differs from its template feature's by more than `max_rotation_deg +
angle_tolerance_deg`, or whose size ratio would make the overlay implausibly small or large, is
dropped before RANSAC; random matches rarely survive this, which keeps videos without an
overlay from reaching the thresholds by chance.

The transform is a similarity (rotation, uniform scale, translation; cv2.estimateAffinePartial2D)
by default: overlays are pasted with their aspect kept, and 4 degrees of freedom need fewer
inliers and fit small, noisy overlays more stably than a full 6-parameter affine (which a config
switch still offers, for captures that squash the overlay).

Skins of one family share a geometry and differ in colour, which grey-level features barely
see, and on small faint overlays skins of other families with a similar outline gather nearly as
many locations as the drawn one; so among the family's skins whose fits put the overlay in the
same place, and the other families' skins that do so with nearly as many locations
(`colour_location_margin`), the one whose rest colours correlate best with the median of the
sampled frames is chosen (the parser reads presses against that rest image).

When no fit passes, the poses most single matches vote for are checked by guided matching
(`_rescue`): the ratio test drops most correct matches of a faint overlay, and of a skin whose
buttons look alike, while one upright match alone fixes a pose. Each voted pose is accepted
only if, in an upscaled crop, `rescue_min_locations` distinct template locations are matched
exactly where the pose puts them.

Small overlays are refined: once a fit is accepted, the region around it is cut from the
full-resolution frames, upscaled towards the template's size and matched again against the
chosen skin, which sharpens the box of a 60-px overlay to within a pixel or two.

"No overlay" is an ordinary outcome (`Localization.found` is False, `reason` says why); a video
that cannot be read, or a template that cannot be localized at all, raises ValueError.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import av
import cv2
import numpy as np

from padflow.overlay.crops import box_iou, transform_box
from padflow.overlay.library import SkinLibrary
from padflow.overlay.skin import Skin

Detector = Literal["sift", "orb"]
TransformModel = Literal["similarity", "affine"]
DETECTORS: tuple[str, ...] = ("sift", "orb")
TRANSFORM_MODELS: tuple[str, ...] = ("similarity", "affine")
LOCALIZE_VERSION = 5  # bump when a change here can change a Localization for the same inputs
INDEX_CACHE_SIZE = 4  # template indexes kept in memory (one per library x feature settings)
MIN_OVERLAY_WIDTH_PX = 16  # a fit narrower than this in the frame is no overlay a parser could read
MASK_DILATE_PX = 3  # template keypoints may sit this far outside the opaque area (edges of floating buttons)
ORB_EDGE_THRESHOLD = 15  # px border ORB leaves out; below its default 31 so small templates keep features
ORB_SCALE_FACTOR = 1.2  # ORB pyramid step
RANSAC_CONFIDENCE = 0.999
SEEK_GAP_FRAMES = 300  # sampling seeks over longer gaps than this (decoding 300 frames costs about one seek)
EARLY_STOP_CHECK = 4  # with early stopping, the fit is checked after every this many sampled frames
# Another skin's fit whose box overlaps the chosen one this much is the same overlay read with that
# skin's layout: a look-alike whose colours decide (_pick_by_colour).
COLOUR_CANDIDATE_IOU = 0.9
FOUND_BY_RESCUE = " by guided matching of a voted pose"  # in the reason of a fit `_rescue` found
OPAQUE_ALPHA = 128  # rest-image alpha from which a pixel counts as the skin's own colour
MIN_COLOUR_PIXELS = 50  # opaque pixels a candidate needs inside the frame to be compared
HOUGH_SCALE_BIN = 0.5  # pose-vote bins are this wide in log2 scale: a factor 1.4 (feature sizes are noisy)
HOUGH_LOCATION_BIN = 0.25  # pose-vote bins are this fraction of the overlay's width wide in position (Lowe 2004)
HOUGH_BINS_SCANNED = 8  # bins read per wanted pose (neighbouring bins repeat a pose; those are skipped)
GUIDED_NEIGHBOURS = 64  # nearest library descriptors looked up per crop feature in guided matching
FLANN_KDTREE, FLANN_TREES, FLANN_CHECKS = 1, 4, 64  # approximate kd-tree search over the library's SIFT descriptors


@dataclass(frozen=True)
class LocalizeConfig:
    frames: int = 25  # frames sampled evenly across the video (NitroGen: 25)
    detector: Detector = "sift"  # local features: "sift" (robust) or "orb" (faster, weaker on faint overlays)
    transform: TransformModel = "similarity"  # template→frame model: "similarity" (4 dof) or "affine" (6 dof)
    min_inliers: int = 20  # inlier matches, pooled over the sampled frames, that must agree (NitroGen: 20)
    min_locations: int = 6  # distinct template locations among them (one static look-alike counts once)
    ratio: float = 0.8  # Lowe's ratio test: best match distance / next distinct location of the same skin
    neighbours: int = 16  # nearest library descriptors looked up per frame descriptor (covers look-alike skins)
    max_rotation_deg: float = 10.0  # overlays are upright; fits rotated more than this are rejected, degrees
    angle_tolerance_deg: float = 20.0  # slack on a single match's orientation difference (feature noise), degrees
    size_tolerance: float = 2.0  # slack factor on a single match's size ratio against width_range
    width_range: tuple[float, float] = (0.04, 0.6)  # plausible overlay width, fraction of frame width
    ransac_threshold: float = 3.0  # RANSAC reprojection error, px of the detection image
    ransac_iterations: int = 4000  # RANSAC hypotheses per skin
    max_side: int = 960  # frames with a longer side than this are downscaled before detection, px
    max_features: int = 3000  # keypoints kept per sampled frame (strongest first)
    contrast_threshold: float = 0.02  # SIFT contrast threshold; below OpenCV's 0.04 so faint overlays keep features
    template_scales: tuple[float, ...] = (1.0, 0.5, 0.25)  # template sizes features are taken at, fraction of native
    template_backgrounds: tuple[int, ...] = (128, 16)  # grey levels the template's transparent parts are shown over
    location_cell_px: float = 4.0  # template px: inliers closer than this count as one location
    early_stop_locations: int = 20  # stop reading sampled frames once a plausible fit has this many locations (0: never)
    refine: bool = True  # re-match an upscaled crop of small overlays for a sharper box
    refine_width_px: int = 192  # the refinement upscales the overlay towards this width, px
    max_refine_upscale: float = 4.0  # largest upscale of the refinement crop
    refine_margin: float = 0.15  # refinement crop margin around the coarse box, fraction of its size
    # When no fit passes: the poses that single matches vote for most (ratio test or not) are each
    # checked by guided matching, up to this many (0: never).
    rescue_poses: int = 8
    rescue_min_locations: int = 10  # distinct template locations guided matching must find to accept a pose
    guided_radius_px: float = 6.0  # guided matching keeps a match landing this close to where the pose puts it, template px
    # Skins of other families whose fits put the overlay where the chosen fit does, with at most
    # this many distinct locations fewer, are look-alikes the features cannot tell apart: their
    # rest colours decide, as for the chosen skin's own family (_pick_by_colour). A small faint
    # playstation overlay fitted 5 locations where an xbox skin fitted 7-8.
    colour_location_margin: int = 4
    seed: int = 0  # RANSAC random seed (OpenCV's RNG), so a localization is reproducible

    def __post_init__(self) -> None:
        checks = [
            ("frames", self.frames >= 1, "must be >= 1"),
            ("detector", self.detector in DETECTORS, f"must be one of {', '.join(DETECTORS)}"),
            ("transform", self.transform in TRANSFORM_MODELS, f"must be one of {', '.join(TRANSFORM_MODELS)}"),
            ("min_inliers", self.min_inliers >= 3, "must be >= 3 (an affine fit needs 3 points)"),
            ("min_locations", 3 <= self.min_locations <= self.min_inliers, "must be in [3, min_inliers]"),
            ("ratio", 0.0 < self.ratio <= 1.0, "must be in (0, 1]"),
            ("neighbours", self.neighbours >= 2, "must be >= 2 (the ratio test needs a second match)"),
            ("max_rotation_deg", 0.0 <= self.max_rotation_deg <= 180.0, "must be in [0, 180]"),
            ("angle_tolerance_deg", 0.0 <= self.angle_tolerance_deg <= 180.0, "must be in [0, 180]"),
            ("size_tolerance", self.size_tolerance >= 1.0, "must be >= 1"),
            ("width_range", 0.0 < self.width_range[0] < self.width_range[1] <= 1.0, "must satisfy 0 < min < max <= 1"),
            ("ransac_threshold", self.ransac_threshold > 0, "must be > 0 px"),
            ("ransac_iterations", self.ransac_iterations >= 1, "must be >= 1"),
            ("max_side", self.max_side >= 64, "must be >= 64 px"),
            ("max_features", self.max_features >= self.min_inliers, "must be >= min_inliers"),
            ("contrast_threshold", 0.0 < self.contrast_threshold < 1.0, "must be in (0, 1)"),
            ("template_scales", bool(self.template_scales) and all(0.05 <= s <= 2.0 for s in self.template_scales), "must be fractions in [0.05, 2]"),
            ("template_backgrounds", bool(self.template_backgrounds) and all(0 <= b <= 255 for b in self.template_backgrounds), "must be grey levels 0..255"),
            ("location_cell_px", self.location_cell_px > 0, "must be > 0"),
            ("early_stop_locations", self.early_stop_locations == 0 or self.early_stop_locations >= self.min_locations, "must be 0 or >= min_locations"),
            ("refine_width_px", self.refine_width_px >= MIN_OVERLAY_WIDTH_PX, f"must be >= {MIN_OVERLAY_WIDTH_PX}"),
            ("max_refine_upscale", self.max_refine_upscale >= 1.0, "must be >= 1"),
            ("refine_margin", 0.0 <= self.refine_margin <= 1.0, "must be in [0, 1]"),
            ("rescue_poses", self.rescue_poses >= 0, "must be >= 0"),
            ("rescue_min_locations", self.rescue_min_locations >= self.min_locations, "must be >= min_locations"),
            ("guided_radius_px", self.guided_radius_px > 0, "must be > 0 template px"),
            ("colour_location_margin", self.colour_location_margin >= 0, "must be >= 0 locations"),
        ]  # fmt: skip
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name}: {rule}, got {getattr(self, name)!r}")

    def feature_key(self) -> tuple:
        """The settings that decide template features (what the template index cache is keyed on)."""
        return (self.detector, self.max_features, self.contrast_threshold, self.template_scales, self.template_backgrounds, self.min_inliers)


@dataclass(frozen=True)
class Localization:
    """Where the overlay is in one video, or why none was accepted."""

    found: bool
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

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_matchers": {}}

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


_INDEXES: OrderedDict[tuple, TemplateIndex] = OrderedDict()
_INDEX_LOCK = threading.RLock()


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
    with _INDEX_LOCK:  # threads of one process share the cache; one builds, the others wait for it
        return _build_index(library, cfg)


def _build_index(library: SkinLibrary, cfg: LocalizeConfig) -> TemplateIndex:
    key = (tuple((s.id, str(s.layout_path), s.rest.shape) for s in library.skins.values()), cfg.feature_key())
    cached = _INDEXES.get(key)
    if cached is not None:
        _INDEXES.move_to_end(key)
        return cached
    detector = make_detector(cfg)
    parts: list[tuple[Features, float, int]] = []
    skins = tuple(library.skins.values())
    for i, skin in enumerate(skins):
        views = [(detect(grey, detector, mask), scale) for scale, grey, mask in template_views(skin, cfg)]
        count = sum(len(f) for f, _ in views)
        if count < cfg.min_inliers:
            raise ValueError(
                f"{skin.layout_path}: the rest image {skin.image_path.name} yields only {count} keypoints, fewer than "
                f"min_inliers={cfg.min_inliers}; a template needs visible texture (is it blank or fully transparent?)"
            )
        parts += [(f, scale, i) for f, scale in views if len(f)]
    index = TemplateIndex(
        skin_ids=tuple(s.id for s in skins),
        skins=skins,
        descriptors=np.concatenate([f.descriptors for f, _, _ in parts]),
        points=np.concatenate([f.points / scale for f, scale, _ in parts]).astype(np.float32),
        angles=np.concatenate([f.angles for f, _, _ in parts]),
        sizes=np.concatenate([f.sizes / scale for f, scale, _ in parts]).astype(np.float32),
        owner=np.concatenate([np.full(len(f), i, np.int32) for f, _, i in parts]),
        detector=cfg.detector,
    )
    _remember_index(library, cfg, index)
    return index


def _remember_index(library: SkinLibrary, cfg: LocalizeConfig, index: TemplateIndex) -> None:
    """Put an index in this process's cache (the caller holds _INDEX_LOCK)."""
    key = (tuple((s.id, str(s.layout_path), s.rest.shape) for s in library.skins.values()), cfg.feature_key())
    _INDEXES[key] = index
    _INDEXES.move_to_end(key)
    if len(_INDEXES) > INDEX_CACHE_SIZE:
        _INDEXES.popitem(last=False)


def sample_frames(video_path: str | Path, count: int) -> tuple[list[np.ndarray], list[int], float]:
    """`count` RGB frames spread evenly over the video, their indices, and the frame rate.

    Frames are decoded in order, and only the sampled ones converted to RGB; a gap longer than
    SEEK_GAP_FRAMES is jumped by seeking, so an hour-long video costs about `count` short decodes.
    ValueError names the file if it cannot be read.
    """
    path = Path(video_path)
    frames: list[np.ndarray] = []
    indices: list[int] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or stream.guessed_rate or 0)
            if rate <= 0:
                raise ValueError(f"{path}: the video stream declares no frame rate")
            total = stream.frames
            if not total and stream.duration:
                total = int(float(stream.duration * stream.time_base) * rate)
            if not total:
                raise ValueError(f"{path}: the video stream declares no frame count or duration")
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            targets = sorted({min(total - 1, int((k + 0.5) * total / count)) for k in range(count)})
            position = -1  # index of the last decoded frame
            decoder = container.decode(stream)
            for target in targets:
                if target - position > SEEK_GAP_FRAMES:
                    container.seek(int((start + target / rate) / stream.time_base), stream=stream, backward=True)
                    decoder = container.decode(stream)
                for frame in decoder:
                    position = round((float(frame.pts * stream.time_base) - start) * rate) if frame.pts is not None else position + 1
                    if position >= target:
                        frames.append(frame.to_ndarray(format="rgb24"))
                        indices.append(position)
                        break
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path}: cannot decode video: {exc}") from None
    if not frames:
        raise ValueError(f"{path}: no frame could be decoded")
    return frames, indices, rate


def localize_overlay(video_path: str | Path, library: SkinLibrary, cfg: LocalizeConfig = LocalizeConfig()) -> Localization:
    """Sample `cfg.frames` frames of the video and localize the overlay in them."""
    started = time.perf_counter()
    frames, _, _ = sample_frames(video_path, cfg.frames)
    return replace(localize_frames(frames, library, cfg), seconds=round(time.perf_counter() - started, 3))


def localize_frames(frames: list[np.ndarray], library: SkinLibrary, cfg: LocalizeConfig = LocalizeConfig()) -> Localization:
    """Localize one static overlay across RGB frames of one video (all the same size)."""
    started = time.perf_counter()
    if not frames:
        raise ValueError("localize_frames needs at least one frame")
    h, w = frames[0].shape[:2]
    if any(f.shape[:2] != (h, w) for f in frames):
        raise ValueError("localize_frames: every frame must have the same size")
    index = template_index(library, cfg)
    scale = min(1.0, cfg.max_side / max(w, h))
    detector = make_detector(cfg)
    matches: list[Matches] = []
    votes: list[Votes] = []
    used: list[np.ndarray] = []
    result = None
    early = False
    # Frames are read in spread-out order, so stopping early still sees the whole video.
    for n, i in enumerate(spread_order(len(frames)), start=1):
        matches.append(_match_frame(detect(_grey(frames[i], scale), detector), index, cfg, scale * w, votes=votes if cfg.rescue_poses else None))
        used.append(frames[i])
        if cfg.early_stop_locations and n % EARLY_STOP_CHECK == 0 and n < len(frames):
            fits = _fit_skins(matches, cfg, range(len(index.skins)), floor=cfg.early_stop_locations)
            if fits and fits[0].locations >= cfg.early_stop_locations:
                result = _decide(index, fits, cfg, scale, (w, h), n)
                if result.found:
                    early = True
                    break
                result = None
    # The early-stop check only fitted skins with many locations; the colour check below also
    # weighs look-alikes with fewer.
    fits = _fit_skins(matches, cfg, range(len(index.skins)))
    if not early:
        result = _decide(index, fits, cfg, scale, (w, h), len(used))
    if not result.found and cfg.rescue_poses:
        result, fits = _rescue(used, index, votes, result, cfg, scale)
    if result.found:
        result = _pick_by_colour(used, index, fits, result, cfg, scale)
    if result.found and cfg.refine:
        result = _refine(used, index, result, cfg)
    return replace(result, seconds=round(time.perf_counter() - started, 3))


def spread_order(n: int) -> list[int]:
    """0..n-1 reordered so every prefix is spread over the range (farthest point first)."""
    order = [n // 2] if n else []
    while len(order) < n:
        gaps = [min(abs(i - j) for j in order) if i not in order else -1 for i in range(n)]
        order.append(int(np.argmax(gaps)))
    return order


@dataclass(frozen=True)
class _Fit:
    skin: int
    transform: np.ndarray  # 2x3 template→detection-image px
    inliers: int  # inlier matches, pooled over frames
    locations: int  # distinct template locations among them


Matches = dict[int, tuple[np.ndarray, np.ndarray]]  # skin → (frame points, template points)


@dataclass(frozen=True)
class Votes:
    """One frame's nearest-descriptor matches as pose votes: an upright match alone fixes the overlay's scale and place."""

    skin: np.ndarray  # (N,) int32 index into the library's skins
    scale: np.ndarray  # (N,) float32 detection px per template px (ratio of the two features' sizes)
    frame_points: np.ndarray  # (N, 2) float32 the frame features, detection px
    template_points: np.ndarray  # (N, 2) float32 the template features they matched, native template px


def _grey(frame: np.ndarray, scale: float) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


def _match_frame(
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
        ok = _upright_and_sized(found, rows, lib, index, cfg, image_width)
        rows, lib = rows[ok], lib[ok]
        scale = found.sizes[rows] / index.sizes[lib]  # detection px per template px, from the features' sizes
        votes.append(Votes(index.owner[lib], scale, found.points[rows], index.points[lib]))
    rows, cols = np.nonzero(keep)
    lib = idx[rows, cols]
    ok = _upright_and_sized(found, rows, lib, index, cfg, image_width)
    rows, lib = rows[ok], lib[ok]
    owners = index.owner[lib]
    return {int(s): (found.points[rows[owners == s]], index.points[lib[owners == s]]) for s in np.unique(owners)}


def _upright_and_sized(found: Features, rows: np.ndarray, lib: np.ndarray, index: TemplateIndex, cfg: LocalizeConfig, image_width: float) -> np.ndarray:
    """Which matches (frame feature rows, library rows) are upright and imply a plausible overlay width."""
    upright = _upright(found.angles[rows], index.angles[lib], cfg)
    skin_width = np.array([s.size[0] for s in index.skins], np.float32)[index.owner[lib]]
    implied = found.sizes[rows] / index.sizes[lib] * skin_width / image_width
    lo, hi = cfg.width_range
    return upright & (implied >= lo / cfg.size_tolerance) & (implied <= hi * cfg.size_tolerance)


def _upright(frame_angles: np.ndarray, template_angles: np.ndarray, cfg: LocalizeConfig) -> np.ndarray:
    """Whether each match's orientation (degrees) is nearly its template feature's: overlays are pasted upright."""
    turn = (frame_angles - template_angles + 180.0) % 360.0 - 180.0
    return np.abs(turn) <= cfg.max_rotation_deg + cfg.angle_tolerance_deg


def _fit_skins(matches: list[Matches], cfg: LocalizeConfig, skins: range | list[int], floor: int = 0) -> list[_Fit]:
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
        if len(src) < cfg.min_inliers or _distinct(src, cfg) < max(cfg.min_locations, floor):
            continue  # not even the candidates reach the thresholds
        cv2.setRNGSeed(cfg.seed)  # per skin: a skin's fit does not depend on which others were fitted
        fit = _ransac(src, dst, cfg, cfg.ransac_threshold)
        if fit is not None:
            transform, inlier = fit
            fits.append(_Fit(skin, transform, int(inlier.sum()), _distinct(src[inlier], cfg)))
    return sorted(fits, key=lambda f: (-f.locations, -f.inliers))


def _ransac(src: np.ndarray, dst: np.ndarray, cfg: LocalizeConfig, threshold: float) -> tuple[np.ndarray, np.ndarray] | None:
    estimate = cv2.estimateAffinePartial2D if cfg.transform == "similarity" else cv2.estimateAffine2D
    transform, mask = estimate(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=cfg.ransac_iterations, confidence=RANSAC_CONFIDENCE
    )
    if transform is None or mask is None:
        return None
    return transform, mask.ravel().astype(bool)


def _distinct(template_points: np.ndarray, cfg: LocalizeConfig) -> int:
    if len(template_points) == 0:
        return 0
    return len(np.unique(np.floor(template_points / cfg.location_cell_px).astype(np.int64), axis=0))


def _decide(index: TemplateIndex, fits: list[_Fit], cfg: LocalizeConfig, scale: float, frame_size: tuple[int, int], n_frames: int) -> Localization:
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
    box = _box(transform, skin, frame_size)
    if best.inliers < cfg.min_inliers or best.locations < cfg.min_locations:
        reason = (
            f"no overlay: the best fit ({skin.id}) has {best.inliers} inliers at {best.locations} distinct locations; "
            f"needs {cfg.min_inliers} at {cfg.min_locations}"
        )
        return Localization(False, None, None, None, best.inliers, best.locations, None, reason=reason, **common)
    problem = _implausible(transform, box, skin, frame_size, cfg)
    if problem:
        reason = f"no overlay: the best fit ({skin.id}, {best.locations} locations) {problem}"
        return Localization(False, None, None, None, best.inliers, best.locations, None, reason=reason, **common)
    reason = _found_reason(skin, "", best, box)
    return Localization(True, skin.id, skin.family, _as_tuple(transform), best.inliers, best.locations, box, reason=reason, **common)


def _pick_by_colour(frames: list[np.ndarray], index: TemplateIndex, fits: list[_Fit], chosen: Localization, cfg: LocalizeConfig, scale: float) -> Localization:
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
        box = _box(transform, skin, frame_size)
        floor = min(cfg.min_locations, near) if skin.family == chosen.family else near
        if fit.inliers < cfg.min_inliers or fit.locations < floor or box_iou(box, chosen.box) < COLOUR_CANDIDATE_IOU:
            continue
        if not _implausible(transform, box, skin, frame_size, cfg):
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
    reason = f"{_found_reason(skin, found_by, fit, box)}; its rest colours match the frames best (correlation {scores[pick]:.2f}; {others})"
    fields = dict(skin_id=skin.id, family=skin.family, transform=_as_tuple(transform), inliers=fit.inliers, locations=fit.locations, box=box)
    return replace(chosen, **fields, reason=reason, runner_up=chosen.skin_id, runner_up_locations=chosen.locations)


def _found_reason(skin: Skin, found_by: str, fit: _Fit, box: tuple[int, int, int, int]) -> str:
    return f"found {skin.id}{found_by}: {fit.inliers} inliers at {fit.locations} distinct locations, {box[2] - box[0]} px wide"


def _implausible(transform: np.ndarray, box: tuple[int, int, int, int], skin: Skin, frame_size: tuple[int, int], cfg: LocalizeConfig) -> str | None:
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


def _refine(frames: list[np.ndarray], index: TemplateIndex, coarse: Localization, cfg: LocalizeConfig) -> Localization:
    """Re-match the chosen skin in an upscaled crop around the coarse box; keep the sharper fit if it holds."""
    skin_index = index.skin_ids.index(coarse.skin_id)
    skin = index.skins[skin_index]
    upscale = _crop_upscale(coarse.box, cfg)
    if upscale <= 1.0:
        return coarse
    matched = _match_frame(_crop_features(frames, coarse.box, upscale, cfg), index, cfg, coarse.frame_size[0], skin=skin_index).get(skin_index)
    if matched is None:
        return coarse
    dst_arr, src_arr = matched
    if len(src_arr) < cfg.min_inliers:
        return coarse
    fit = _fit_crop_matches(src_arr, dst_arr, upscale, cfg)
    if fit is None:
        return coarse
    transform, inliers, locations = fit
    box = _box(transform, skin, coarse.frame_size)
    if locations < max(cfg.min_locations, coarse.locations) or inliers < cfg.min_inliers or _implausible(transform, box, skin, coarse.frame_size, cfg):
        return coarse
    reason = f"{coarse.reason}; refined in a {upscale:.1f}x crop to {inliers} inliers at {locations} distinct locations, {box[2] - box[0]} px wide"
    return replace(coarse, transform=_as_tuple(transform), inliers=inliers, locations=locations, box=box, reason=reason)


def _crop_upscale(box: tuple[int, int, int, int], cfg: LocalizeConfig) -> float:
    """How much a crop around `box` is upscaled so the overlay reaches about refine_width_px."""
    return min(cfg.max_refine_upscale, cfg.refine_width_px / max(1, box[2] - box[0]))


def _crop_features(frames: list[np.ndarray], box: tuple[int, int, int, int], upscale: float, cfg: LocalizeConfig) -> Features:
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


def _rescue(
    frames: list[np.ndarray], index: TemplateIndex, votes: list[Votes], missed: Localization, cfg: LocalizeConfig, scale: float
) -> tuple[Localization, list[_Fit]]:
    """When no fit passed: check the most-voted poses by guided matching; the best one with rescue_min_locations wins.

    Returns the localization and every skin's guided fit (best first, in detection px, as
    `_fit_skins` gives them), among which the colour check then picks a look-alike.

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
    fits: dict[int, _Fit] = {}  # each skin's best guided fit
    detection_area = frame_size[0] * frame_size[1] * scale**2
    for family, pose in _voted_poses(votes, index, cfg, detection_area):
        transform = pose / scale
        members = [i for i, skin in enumerate(index.skins) if skin.family == family]
        skin = index.skins[members[0]]
        box = _box(transform, skin, frame_size)
        if _implausible(transform, box, skin, frame_size, cfg):
            continue
        upscale = max(1.0, _crop_upscale(box, cfg))
        found = _crop_features(frames, box, upscale, cfg)
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
                fits[skin_index] = _Fit(skin_index, fit[0] * scale, fit[1], fit[2])
    ranked = sorted(fits.values(), key=lambda f: (-f.locations, -f.inliers))
    if not ranked:
        return missed, []
    best = ranked[0]
    skin, transform, locations, inliers = index.skins[best.skin], best.transform / scale, best.locations, best.inliers
    box = _box(transform, skin, frame_size)
    if locations < cfg.rescue_min_locations or inliers < cfg.min_inliers or _implausible(transform, box, skin, frame_size, cfg):
        reason = f"{missed.reason}; guided matching of voted poses finds at most {locations} locations ({skin.id}), needs {cfg.rescue_min_locations}"
        return replace(missed, reason=reason, rescue_locations=locations), []
    reason = (
        f"{_found_reason(skin, FOUND_BY_RESCUE, best, box)} (no fit passed the ratio test: {missed.reason.removeprefix('no overlay: ')})"
    )
    fields = dict(found=True, skin_id=skin.id, family=skin.family, transform=_as_tuple(transform), box=box, reason=reason)
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

    `found` are the crop features around the pose in frame px (`_crop_features`), `nearest` the
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
    upright = _upright(found.angles, index.angles[lib], cfg)
    size_ratio = found.sizes / (index.sizes[lib] * pose_scale)
    sized = (size_ratio >= 1.0 / cfg.size_tolerance) & (size_ratio <= cfg.size_tolerance)
    keep = ok & landed & upright & sized
    src, dst = index.points[lib[keep]].astype(np.float32), found.points[keep].astype(np.float32)
    if len(src) < 3:
        return None
    return _fit_crop_matches(src, dst, upscale, cfg)


def _fit_crop_matches(src: np.ndarray, dst: np.ndarray, upscale: float, cfg: LocalizeConfig) -> tuple[np.ndarray, int, int] | None:
    """RANSAC fit of template→frame px matches found in a crop upscaled by `upscale`: (transform, inliers, distinct locations) or None."""
    cv2.setRNGSeed(cfg.seed)
    # The same tolerance in upscaled crop px is finer in frame px.
    fit = _ransac(src, dst, cfg, max(cfg.ransac_threshold / upscale, 0.5))
    if fit is None:
        return None
    transform, inlier = fit
    return transform, int(inlier.sum()), _distinct(src[inlier], cfg)


def _box(transform: np.ndarray, skin: Skin, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    return tuple(int(v) for v in transform_box(transform, skin.size, frame_size))  # type: ignore[return-value]


def _as_tuple(transform: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return tuple(tuple(float(v) for v in row) for row in np.asarray(transform, np.float64))  # type: ignore[return-value]
