"""How well a skin, drawn over the game it covers, explains what a video's frames show: the picture comparison of
the skin check (padflow.overlay.localize.verify decides with it) and of the look reader.

- The game under the overlay: the per-pixel median of the sampled frames around the box, with
  the skin's own pixels filled in from their surroundings (cv2.inpaint). A still background (a
  half-black, half-grey road; a maze) shows through a faint overlay and would otherwise count
  against the true skin.
- The pose: each skin is first aligned to the frames (`align_pose`: a sub-pixel shift and a
  scale within ALIGN_MAX_PX / ALIGN_MAX_SCALE of its fit, where its rest look best explains the
  median). The check compares pixels, and a fit a third of a pixel off costs a thin-outlined skin
  drawn at a quarter of its size as much agreement as a wrong skin would (docs/benchmarks.md).
- The opacity: one number `o`, fitted so that median - game = o * alpha * (skin - game) over the
  skin's opaque pixels (alpha: the rest image's; its transparent parts predict the game).
- Per control region (the skin's `regions()`, and the body outside them), per frame: the RMS
  error of the frame against the nearest of the skin's looks (`_looks`: at rest, every button
  pressed, both sticks pushed to one of 8 directions; a held button or a pushed stick is no
  mismatch); its median over frames (moving game content under a translucent overlay passes
  through in a few frames), divided by the region's own signal (o * alpha * |skin - game|), plus
  what the in-painting cannot know of a still background ((1 - o) * the in-painting's own error
  near the region, measured by in-painting a ring of known game pixels around the skin as well
  and comparing: a maze under the overlay is unpredictable, a straight edge between two colours
  is not), plus `NOISE_FLOOR` for compression. Each region counts the same, so a look-alike that
  shares the body but not the buttons, or the buttons but not the body, scores low.

The agreement is 1 - the mean of those ratios (1: explained exactly).
"""

from __future__ import annotations

import cv2
import numpy as np

from padflow.actions import ACTION_NAMES, N_BUTTONS
from padflow.overlay.crops import grow_box
from padflow.overlay.render import render_overlay

MARGIN = 0.25  # the frames are compared over the box grown by this fraction of its size per side (the inpainting reads the game around it)
OPAQUE = 0.5  # rest-image alpha (0..1) from which a pixel is the skin's own (fits the opacity, is scored)
OPAQUE_LEVEL = int(np.argmax(np.arange(256, dtype=np.float32) / 255.0 >= OPAQUE))  # the least uint8 alpha a with a / 255 >= OPAQUE (128): the pose search compares alpha unconverted
DRAWN = 0.02  # rest-image alpha above which a pixel is not the bare game (filled in by the inpainting)
NOISE_FLOOR = 8.0  # grey levels of error any region shows from compression and resampling
MIN_REGION_PIXELS = 10  # a region with fewer opaque pixels in the frame is not scored
MIN_SCORED_PIXELS = 50  # opaque pixels inside the frame a comparison needs
MIN_KNOWN_PIXELS = 20  # ring pixels near a region that measure the in-painting's error there (fewer: the whole ring)
INPAINT_RADIUS = 5
ALIGN_FIRST_STEP = (0.5, 0.5, 0.005)  # the pose search's first step: px in x, px in y, log scale
ALIGN_FINEST_PX = 0.125  # it stops when no step of this size (and the matching scale step) helps
ALIGN_MAX_PX = 2.0  # it stays this close to the fit (px) ...
ALIGN_MAX_SCALE = 0.02  # ... and within this share of its scale: a look-alike is scored near where its own fit put it
REACH_PX = 8  # px around the skin drawn at its fit within which the pose search's opaque pixels are gathered (a 2 % scale of a 300-px overlay moves its rim 3 px, a shift 2 more)
RING_FRACTION = 0.1  # width of the ring of known game that measures the in-painting's error, as a fraction of the skin's smaller side
MIN_RING = 3  # px


def skin_agreement(crops: np.ndarray, median: np.ndarray, skin, transform: np.ndarray, crop_box: tuple[int, int, int, int]) -> float:  # noqa: ANN001 (either skin kind)
    """How well `skin`, placed near the 2x3 template→frame `transform`, explains the frames: 1 - mean per-region error ratio (module doc).

    `crops` (T, h, w, 3) float32 are the sampled frames cut to `crop_box` (frame px), `median`
    their per-pixel median. The skin is scored at its aligned pose (`align_pose`). At most 1; a
    skin with too few opaque pixels in the frame scores -1.
    """
    transform = align_pose(median, skin, transform, crop_box)
    looks = [_warped_rest_u8(image, transform, crop_box) for image in _looks(skin)]  # each (h, w, 4) uint8
    # Where each look differs from the rest look: a region it leaves as at rest predicts exactly what the rest look does there.
    changed = [(look != looks[0]).any(axis=2) for look in looks[1:]]
    rest = looks[0].astype(np.float32)
    alpha = rest[..., 3] / 255.0
    own = alpha >= OPAQUE
    if own.sum() < MIN_SCORED_PIXELS:
        return -1.0
    drawn = cv2.dilate((alpha > DRAWN).astype(np.uint8), np.ones((3, 3), np.uint8))
    median_u8 = np.clip(median, 0, 255).astype(np.uint8)
    game = cv2.inpaint(median_u8, drawn, INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float32)
    signal = alpha[..., None] * (rest[..., :3] - game)
    seen = median - game
    opacity = fitted_opacity(signal[own], seen[own])
    ring, inpaint_error = _inpainting_error(median, median_u8, drawn, own)
    ratios = []
    for region in _region_masks(skin, transform, crop_box, own):
        if region.sum() < MIN_REGION_PIXELS:
            continue
        ys, xs = np.nonzero(region)
        bw, bh = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
        window = (slice(max(0, ys.min() - bh), ys.max() + 1 + bh), slice(max(0, xs.min() - bw), xs.max() + 1 + bw))
        near = inpaint_error[window][ring[window]]
        if len(near) < MIN_KNOWN_PIXELS:
            near = inpaint_error[ring]
        unpredictable = float(np.sqrt((near**2).mean())) if len(near) else 0.0
        # The region's pixels gathered from its bounding rectangle: the same pixels in the same order as from the crop.
        rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
        inside = region[rows, cols]
        expected = float(np.sqrt(((opacity * signal[rows, cols][inside]) ** 2).mean())) + NOISE_FLOOR + max(0.0, 1.0 - opacity) * unpredictable
        pixels = crops[:, rows, cols][:, inside]  # (T, n, 3)
        under = game[rows, cols][inside]
        compared = [looks[0]] + [look for look, where in zip(looks[1:], changed) if where[rows, cols][inside].any()]
        predicted = []
        for look in compared:
            here = look[rows, cols][inside].astype(np.float32)  # (n, 4)
            predicted.append(under + opacity * (here[:, 3:] / 255.0) * (here[:, :3] - under))
        errors = np.stack([np.sqrt(((pixels - p) ** 2).mean(axis=(1, 2))) for p in predicted])  # (looks, T)
        ratios.append(float(np.median(errors.min(axis=0))) / expected)
    return 1.0 - float(np.mean(ratios)) if ratios else -1.0


def fitted_opacity(signal: np.ndarray, seen: np.ndarray) -> float:
    """The opacity o for which o * `signal` (alpha * (skin - game)) best explains `seen` (median - game), least squares over the pixels given."""
    return float((signal * seen).sum() / ((signal**2).sum() + 1e-6))


def align_pose(median: np.ndarray, skin, transform: np.ndarray, crop_box: tuple[int, int, int, int]) -> np.ndarray:  # noqa: ANN001
    """The pose near `transform` (a shift and a scale about the skin's centre) at which the skin's rest look best explains `median`.

    Residual: RMS over the skin's opaque pixels of median - (game + o * alpha * (rest - game)),
    with the opacity o fitted per pose and the game in-painted once under the skin drawn at
    `transform` (grown by 2 px, so that every pose searched is covered). Pattern search: each of
    (x, y, log scale) is tried one step either way, the best move is kept, and the steps halve
    when none helps, down to ALIGN_FINEST_PX; the pose stays within ALIGN_MAX_PX and ALIGN_MAX_SCALE.
    """
    transform = np.asarray(transform, np.float64)
    h, w = skin.rest.shape[:2]
    centre = transform @ np.array([w / 2, h / 2, 1.0])
    drawn = (warped_rest(skin.rest, transform, crop_box)[..., 3] / 255.0 > DRAWN).astype(np.uint8)
    drawn = cv2.dilate(drawn, np.ones((5, 5), np.uint8))
    game = cv2.inpaint(np.clip(median, 0, 255).astype(np.uint8), drawn, INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float32)
    seen = median - game

    def pose(step: np.ndarray) -> np.ndarray:
        scale = float(np.exp(step[2]))
        m = transform.copy()
        m[:, :2] *= scale
        m[:, 2] = (transform[:, 2] - centre) * scale + centre + step[:2]
        return m

    residuals = PoseResiduals(game, seen, drawn)
    shrunk: dict[tuple[int, int], np.ndarray] = {}  # poses of one scale step share the shrunk rest image

    def residual(step: np.ndarray) -> float:
        return residuals(_warped_rest_u8(skin.rest, pose(step), crop_box, shrunk))

    best = np.zeros(3)
    best_residual = residual(best)
    step = np.array(ALIGN_FIRST_STEP)
    limit = np.array([ALIGN_MAX_PX, ALIGN_MAX_PX, np.log1p(ALIGN_MAX_SCALE)])
    while step[0] >= ALIGN_FINEST_PX:
        moves = [best + sign * np.eye(3)[i] * step for i in range(3) for sign in (-1.0, 1.0)]
        scored = [(residual(m), k) for k, m in enumerate(moves) if (np.abs(m) <= limit + 1e-9).all()]
        lowest, k = min(scored, default=(np.inf, -1))
        if lowest < best_residual:
            best, best_residual = moves[k], lowest
        else:
            step = step / 2
    return pose(best)


class PoseResiduals:
    """`align_pose`'s residual of the skin's rest look drawn at one pose: RMS over its opaque pixels of seen - o * alpha * (rest - game).

    `game` (h, w, 3) is the in-painted game and `seen` the median minus it, both float32; `drawn`
    (h, w) uint8 the skin's drawn pixels at its fit. A pose searched near the fit draws its opaque
    pixels within REACH_PX of those, so that band is gathered once and each pose reads only it
    (a few thousand pixels, not the crop): the same pixels in the same order, so the same number
    to the bit as over the crop (`whole_crop`), which a pose reaching beyond the band falls back to.
    """

    def __init__(self, game: np.ndarray, seen: np.ndarray, drawn: np.ndarray) -> None:
        self.game, self.seen = game, seen
        self.reach = np.flatnonzero(cv2.dilate(drawn, np.ones((2 * REACH_PX + 1, 2 * REACH_PX + 1), np.uint8)))
        self.game_near, self.seen_near = game.reshape(-1, 3)[self.reach], seen.reshape(-1, 3)[self.reach]

    def __call__(self, rest: np.ndarray) -> float:
        """The residual of `rest` (h, w, 4) uint8, the rest look warped to the pose; inf below MIN_SCORED_PIXELS opaque pixels."""
        count = int(np.count_nonzero(rest[..., 3] >= OPAQUE_LEVEL))
        if count < MIN_SCORED_PIXELS:
            return np.inf
        near = rest.reshape(-1).view(np.uint32)[self.reach]  # one RGBA pixel per element: a quarter of the gathers
        own = near.view(np.uint8).reshape(-1, 4)[:, 3] >= OPAQUE_LEVEL
        if int(own.sum()) != count:
            return self.whole_crop(rest)
        pixels = near[own].view(np.uint8).reshape(-1, 4).astype(np.float32)  # (n, 4)
        signal = pixels[:, 3:] / 255.0 * (pixels[:, :3] - np.compress(own, self.game_near, axis=0))
        seen = np.compress(own, self.seen_near, axis=0)
        opacity = fitted_opacity(signal, seen)
        return float(np.sqrt(((seen - opacity * signal) ** 2).mean()))

    def whole_crop(self, rest: np.ndarray) -> float:
        """The same residual computed over the whole crop."""
        rest = rest.astype(np.float32)
        alpha = rest[..., 3:] / 255.0
        own = alpha[..., 0] >= OPAQUE
        if own.sum() < MIN_SCORED_PIXELS:
            return np.inf
        signal = (alpha * (rest[..., :3] - self.game))[own]
        opacity = fitted_opacity(signal, self.seen[own])
        return float(np.sqrt(((self.seen[own] - opacity * signal) ** 2).mean()))


def warped_rest(rest: np.ndarray, transform: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """An RGBA skin image (H, W, 4) drawn into `box` of the frame by the 2x3 template→frame transform, as float32.

    The image is first shrunk with area averaging to about the overlay's size (a plain warp of a
    256-px image onto 60 px aliases its thin outlines), then warped the rest of the way.
    """
    return _warped_rest_u8(rest, transform, box).astype(np.float32)


def _warped_rest_u8(rest: np.ndarray, transform: np.ndarray, box: tuple[int, int, int, int], shrunk: dict | None = None) -> np.ndarray:
    """`warped_rest` in the image's own dtype (uint8): callers that read a part of it convert only that part.

    `shrunk` (size -> `rest` shrunk to it) keeps the shrunk images of one `rest` for the next call.
    """
    x0, y0, x1, y1 = box
    scale = float(np.hypot(*transform[:, 0]))
    source, shrink = rest, 1.0
    if scale < 1.0:
        size = (max(1, round(rest.shape[1] * scale)), max(1, round(rest.shape[0] * scale)))
        shrunk = {} if shrunk is None else shrunk
        source = shrunk.get(size)
        if source is None:
            source = shrunk[size] = cv2.resize(rest, size, interpolation=cv2.INTER_AREA)
        shrink = rest.shape[1] / size[0]
    m = transform.astype(np.float64).copy()
    m[:, :2] *= shrink
    m[:, 2] -= (x0, y0)
    return cv2.warpAffine(source, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))


def _inpainting_error(median: np.ndarray, median_u8: np.ndarray, drawn: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the game around the skin is known (`ring`), and how far the in-painting misses it there (h, w) grey levels.

    The ring (RING_FRACTION of the skin's smaller side, at least MIN_RING px, around its drawn
    pixels) is hidden and in-painted from beyond it, as the game under the skin is.
    """
    ys, xs = np.nonzero(own)
    width = max(MIN_RING, round(RING_FRACTION * min(xs.max() - xs.min(), ys.max() - ys.min())))
    hidden = cv2.dilate(drawn, np.ones((2 * width + 1, 2 * width + 1), np.uint8))
    ring = (hidden > 0) & (drawn == 0)
    guessed = cv2.inpaint(median_u8, hidden, INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float32)
    return ring, np.sqrt(((median - guessed) ** 2).mean(axis=2))


def grown_box(box: tuple[int, int, int, int], frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The frame area the comparison reads around an overlay at `box`: grown by MARGIN per side."""
    return grow_box(box, frame_size, MARGIN)


def _region_masks(skin, transform: np.ndarray, crop_box: tuple[int, int, int, int], own: np.ndarray) -> list[np.ndarray]:  # noqa: ANN001
    """The skin's opaque pixels split by control region (each distinct box once), then the body outside every region."""
    h, w = own.shape
    body = own.copy()
    masks = []
    for box in dict.fromkeys(tuple(b) for b in skin.regions().values()):
        if box[2] <= box[0] or box[3] <= box[1]:
            continue  # an undrawn control's empty box
        corners = np.array([[box[0], box[1], 1.0], [box[2], box[3], 1.0]]) @ np.asarray(transform, np.float64).T
        lo = np.floor(corners.min(axis=0) - crop_box[:2]).astype(int)
        hi = np.ceil(corners.max(axis=0) - crop_box[:2]).astype(int)
        bx0, by0, bx1, by1 = max(0, lo[0]), max(0, lo[1]), min(w, hi[0]), min(h, hi[1])
        if bx1 <= bx0 or by1 <= by0:
            continue
        mask = np.zeros((h, w), bool)
        mask[by0:by1, bx0:bx1] = own[by0:by1, bx0:bx1]
        body[by0:by1, bx0:bx1] = False
        masks.append(mask)
    return masks + [body]


_LOOKS: dict[tuple[int, str], tuple[object, list[np.ndarray]]] = {}  # (id(skin), which) -> (the skin, kept so its id stays its own; its looks)
MAX_LOOKS = 256
STICK_DIRECTIONS = 8  # pushes per stick the check compares against (a cap held off centre is no mismatch)


def _looks(skin) -> list[np.ndarray]:  # noqa: ANN001
    """The skin's RGBA looks at native size: at rest, every button pressed, then both sticks pushed to each of STICK_DIRECTIONS; rendered once per skin object."""
    return _cached(skin, "check", _check_actions)


def cluster_looks(skin, key: tuple, actions: list[np.ndarray]) -> list[np.ndarray]:  # noqa: ANN001
    """The skin drawn in each of a `twin_duel` cluster's states (the first: at rest), rendered once per skin object and cluster."""
    return _cached(skin, "duel " + " ".join(key), lambda: actions)


def _check_actions() -> list[np.ndarray]:
    every_button = np.zeros(len(ACTION_NAMES), np.float32)
    every_button[:N_BUTTONS] = 1.0
    actions = [np.zeros(len(ACTION_NAMES), np.float32), every_button]
    for angle in np.arange(STICK_DIRECTIONS) * 2 * np.pi / STICK_DIRECTIONS:
        x, y = np.cos(angle), np.sin(angle)
        x, y = x / max(abs(x), abs(y)), y / max(abs(x), abs(y))  # to the square's edge; a round travel clips it
        pushed = np.zeros(len(ACTION_NAMES), np.float32)
        pushed[N_BUTTONS:] = (x, y, x, y)
        actions.append(pushed)
    return actions


def _cached(skin, which: str, actions) -> list[np.ndarray]:  # noqa: ANN001
    """`skin`'s looks for `actions()` (the first is the rest picture itself), rendered once per skin object."""
    kept = _LOOKS.get((id(skin), which))
    if kept is None or kept[0] is not skin:
        looks = [skin.rest] + [render_overlay(skin, action) for action in actions()[1:]]
        if len(_LOOKS) >= MAX_LOOKS:
            _LOOKS.clear()
        kept = _LOOKS[(id(skin), which)] = (skin, looks)
    return kept[1]
