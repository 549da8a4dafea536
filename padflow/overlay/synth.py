"""Synthetic training renders for the overlay parser: skins drawn over real game frames, degraded
the way uploads are, and rectified through the same crop path the extract stage uses.

One *clip* is `frames_per_clip` consecutive frames of one skin at one placement over a short
run of real game frames: random actions (held buttons persist, sticks drift, snap to the rim or
spring back to centre), opacity, blur, colour shift, JPEG or H.264 compression, and a jittered
template→frame transform (the extract stage rectifies with an *estimated* transform). Each clip
gives `frames_per_clip - 1` parser pairs (previous frame, current frame) labelled with the action
the overlay shows in the current frame. Skins of either kind (parametric, sprite) render the same
way; controls a sprite skin does not draw are left at rest in its actions and flagged in its
SkinView's `observed`, so training can mask them (they are not labels).

`render_split` renders many clips (in worker processes, each clip seeded by its index, so the
result does not depend on the worker count) and `save_shard` / `load_shard` keep them as one
uncompressed .npz: crops (N, T, h, w, 3) uint8, stick patches (N, T, 2, s, s, 3) uint8,
actions (N, T, 21) float32, skin ids, and the SkinView of every skin used (with its observed mask).
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
from pydantic import Field

from padflow.actions import ACTION_DIM, BUTTON_INDEX, LEFT_STICK, N_BUTTONS, RIGHT_STICK
from padflow.config import check_range, config
from padflow.fanout import TaskRunnerConfig, fan_out
from padflow import progress
from padflow.io import atomic_path
from padflow.overlay.crops import ParserBatch, SkinView, frame_crops, parser_inputs, placement_transform, skin_view
from padflow.overlay.render import ANCHORS, MAX_MARGIN_FRAC, Placement, composite, render_overlay
from padflow.overlay.skin import Skin
from padflow.overlay.sprite import SpriteSkin
from padflow.players.footage import fit_to_upload
from padflow.video import h264_round_trip

# Overlays are drawn by the renderer at one of these widths (the smallest not below the target)
# and scaled to the target by the compositor: preparing a skin costs ~30 ms per width, so a
# handful of widths per skin keeps a render near 1 ms.
RENDER_WIDTHS: tuple[int, ...] = (64, 96, 128, 192, 256, 384)
# Press probability per button at a clip's base activity: face buttons and the d-pad are busy,
# menu buttons and stick clicks rare (but frequent enough that every one is learnt).
PRESS_RATE: dict[str, float] = {
    "SOUTH": 0.3, "EAST": 0.3, "WEST": 0.3, "NORTH": 0.3,
    "DPAD_UP": 0.2, "DPAD_DOWN": 0.2, "DPAD_LEFT": 0.2, "DPAD_RIGHT": 0.2,
    "LEFT_SHOULDER": 0.25, "RIGHT_SHOULDER": 0.25, "LEFT_TRIGGER": 0.25, "RIGHT_TRIGGER": 0.25,
    "LEFT_THUMB": 0.15, "RIGHT_THUMB": 0.15, "START": 0.12, "BACK": 0.12, "GUIDE": 0.1,
}  # fmt: skip
ACTIVITY_RANGE = (0.2, 1.6)  # per-clip multiplier of PRESS_RATE: calm menus to button mashing
HOLD_PROBABILITY = 0.6  # a button keeps its state into the next frame with this probability
STICK_MODES = ("centre", "rim", "corner", "anywhere")
STICK_MODE_P = (0.3, 0.3, 0.1, 0.3)  # centred, on the gate's circle, square corner/edge, uniform
STICK_KEEP_PROBABILITY = 0.5  # a stick stays near its last position (plus tremor) into the next frame
STICK_TREMOR = 0.03  # axis units
# The 6 orderings of RGB. A clip may draw its skin with the channels reordered (rest image too):
# six colourings of every training skin, so colour schemes the parser never saw are less new.
COLOUR_ORDERS = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
PATCH_PAD_FRAC = 0.12  # frame patch around the overlay, fraction of its width (room for jitter)
MIN_PATCH_PAD = 6  # px


@config
class SynthConfig:
    """How training renders are drawn and degraded."""

    crop_size: Annotated[
        tuple[Annotated[int, Field(ge=16)], Annotated[int, Field(ge=16)]],
        Field(description="(w, h) of one rectified crop, the parser's input, px (at least 16x16)"),
    ] = (96, 64)
    stick_size: Annotated[int, Field(ge=8, description="side of one rectified stick patch, px")] = 32
    frames_per_clip: Annotated[
        int, Field(ge=2, description="consecutive frames per clip; gives frames_per_clip - 1 pairs (a pair needs a previous frame)")
    ] = 5
    frame_sizes: Annotated[
        tuple[tuple[Annotated[int, Field(ge=128)], Annotated[int, Field(ge=96)]], ...],
        Field(min_length=1, description="(w, h) upload frame sizes a clip is drawn at, px (at least 128x96)"),
    ] = ((854, 480), (960, 540), (1280, 720), (640, 480), (1152, 720))
    overlay_width: Annotated[
        tuple[float, float], Field(description="overlay width, fraction of frame width, drawn log-uniformly within [0.08, 0.30]")
    ] = (0.08, 0.30)
    opacity: Annotated[tuple[float, float], Field(description="overlay alpha multiplier, within [0.4, 1]")] = (0.4, 1.0)
    max_margin: Annotated[
        float, Field(ge=0.0, le=MAX_MARGIN_FRAC, description="largest gap to the frame edges, fraction of frame width")
    ] = 0.05
    blur_share: Annotated[float, Field(ge=0.0, le=1.0, description="share of clips blurred (streamer-side scaling)")] = 0.4
    max_blur_sigma: Annotated[float, Field(ge=0.0, description="largest blur sigma, px at frame resolution")] = 1.0
    colour_jitter: Annotated[
        float, Field(ge=0.0, description="largest relative gain / contrast change, and offset in 1/255 units x 255")
    ] = 0.12
    reorder_colours: Annotated[
        bool, Field(description="draw each clip's skin with a random RGB channel order (COLOUR_ORDERS), so unseen colour schemes are less new")
    ] = True
    jpeg_share: Annotated[float, Field(ge=0.0, le=1.0, description="share of clips JPEG-compressed per frame")] = 0.35
    jpeg_quality: Annotated[tuple[int, int], Field(description="JPEG quality range, within [5, 100]")] = (35, 90)
    h264_share: Annotated[
        float, Field(ge=0.0, le=1.0, description="share of clips H.264-encoded as a sequence (the rest: JPEG or clean; jpeg_share + h264_share <= 1)")
    ] = 0.5
    crf: Annotated[tuple[int, int], Field(description="x264 constant rate factor range, within [0, 51]")] = (18, 34)
    localization_scale: Annotated[
        float, Field(ge=0.0, description="largest relative scale error of the estimated template→frame transform")
    ] = 0.03
    localization_shift: Annotated[float, Field(ge=0.0, description="largest translation error of the estimated transform, frame px")] = 2.0
    localization_rotation: Annotated[float, Field(ge=0.0, description="largest rotation error of the estimated transform, degrees")] = 0.5

    def __post_init__(self) -> None:
        check_range("overlay_width", self.overlay_width, 0.08, 0.30)
        check_range("opacity", self.opacity, 0.4, 1.0)
        check_range("jpeg_quality", self.jpeg_quality, 5, 100)
        check_range("crf", self.crf, 0, 51)
        if self.jpeg_share + self.h264_share > 1.0:
            raise ValueError(f"jpeg_share + h264_share: {self.jpeg_share + self.h264_share} exceeds 1")


@dataclass(frozen=True)
class RenderSet:
    """Rendered clips of N clips x T frames, and what the parser is told about each skin."""

    crops: np.ndarray  # (N, T, h, w, 3) uint8
    sticks: np.ndarray  # (N, T, 2, s, s, 3) uint8
    actions: np.ndarray  # (N, T, 21) float32: the action the overlay shows
    skin_ids: tuple[str, ...]  # per clip
    views: dict[str, SkinView]  # per skin id
    colour_orders: np.ndarray  # (N,) int: row of COLOUR_ORDERS each clip's skin was drawn with
    renders_per_s: float = 0.0  # frames rendered per wall second (0 when loaded from disk)

    @property
    def pairs(self) -> int:
        return self.crops.shape[0] * (self.crops.shape[1] - 1)

    def clip_view(self, clip: int) -> SkinView:
        """The skin view of one clip, in the colours its skin was drawn with."""
        return _reordered(self.views[self.skin_ids[clip]], COLOUR_ORDERS[self.colour_orders[clip]])

    def pair_batch(self, index: np.ndarray) -> tuple[ParserBatch, np.ndarray]:
        """Parser inputs and labels (B, 21) for flat pair indices."""
        per_clip = self.crops.shape[1] - 1
        clip, t = np.divmod(np.asarray(index), per_clip)
        views = [self.clip_view(c) for c in clip]
        previous, current = (self.crops[clip, t], self.sticks[clip, t]), (self.crops[clip, t + 1], self.sticks[clip, t + 1])
        return parser_inputs(previous, current, views), self.actions[clip, t + 1]


def random_actions(frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 21) shown actions with held buttons persisting and sticks moving like a thumb."""
    out = np.zeros((frames, ACTION_DIM), dtype=np.float32)
    rates = np.array([PRESS_RATE[b] for b in BUTTON_INDEX], dtype=np.float64) * rng.uniform(*ACTIVITY_RANGE)
    rates = np.clip(rates, 0.0, 0.9)
    state = rng.random(N_BUTTONS) < rates
    for t in range(frames):
        if t:
            redraw = rng.random(N_BUTTONS) >= HOLD_PROBABILITY
            state = np.where(redraw, rng.random(N_BUTTONS) < rates, state)
        out[t, :N_BUTTONS] = state
    for stick in (LEFT_STICK, RIGHT_STICK):
        mode = STICK_MODES[rng.choice(len(STICK_MODES), p=STICK_MODE_P)]
        position = _stick_position(mode, rng)
        for t in range(frames):
            if t and rng.random() >= STICK_KEEP_PROBABILITY:
                mode = STICK_MODES[rng.choice(len(STICK_MODES), p=STICK_MODE_P)]
                position = _stick_position(mode, rng)
            elif t and mode != "centre":
                position = np.clip(position + rng.normal(0.0, STICK_TREMOR, 2), -1.0, 1.0)
            out[t, stick] = position
    return out


def physical_dpad(actions: np.ndarray) -> np.ndarray:
    """`actions` (T, 21) with opposite d-pad directions never held together (up wins over down, left over right), in place.

    A physical d-pad cannot report both; benches that draw real overlay tools' d-pads (one sprite per
    direction) need shown actions a pad can send.
    """
    up, down, left, right = (BUTTON_INDEX[b] for b in ("DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT"))
    actions[:, down] *= 1 - actions[:, up]
    actions[:, right] *= 1 - actions[:, left]
    return actions


def _stick_position(mode: str, rng: np.random.Generator) -> np.ndarray:
    if mode == "centre":
        return np.zeros(2)
    if mode == "rim":
        angle = rng.uniform(0.0, 2 * math.pi)
        return np.array([math.cos(angle), math.sin(angle)])
    if mode == "corner":  # digital input mapped to a stick: each axis -1, 0 or 1
        return rng.choice([-1.0, 0.0, 1.0], size=2)
    return rng.uniform(-1.0, 1.0, 2)


def _reordered(view: SkinView, order: np.ndarray) -> SkinView:
    if (order == COLOUR_ORDERS[0]).all():
        return view
    return replace(view, rest_crop=view.rest_crop[..., order], rest_sticks=view.rest_sticks[..., order])


def render_clip(
    skin: Skin | SpriteSkin, backgrounds: Sequence[np.ndarray], cfg: SynthConfig, rng: np.random.Generator, view: SkinView | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Render one clip of `skin`: crops (T, h, w, 3), stick patches (T, 2, s, s, 3) uint8, the shown actions (T, 21)
    and the COLOUR_ORDERS row the skin was drawn with.

    `backgrounds` are runs of consecutive game frames (n, H, W, 3); the clip plays a stretch of one.
    """
    t_frames = cfg.frames_per_clip
    view = view or skin_view(skin, cfg.crop_size, cfg.stick_size)
    actions = random_actions(t_frames, rng)
    actions[:, ~view.observed] = 0.0  # undrawn controls: nothing to see, masked in training
    colour = int(rng.integers(len(COLOUR_ORDERS))) if cfg.reorder_colours else 0
    colour_order = np.append(COLOUR_ORDERS[colour], 3)  # RGBA: alpha stays last
    fw, fh = cfg.frame_sizes[int(rng.integers(len(cfg.frame_sizes)))]
    placement = Placement(
        anchor=str(ANCHORS[int(rng.integers(len(ANCHORS)))]),
        # Log-uniform: reading gets harder as the overlay shrinks (a 55-px overlay moves a stick cap
        # by ~2 px), so small overlays get more of the renders than a uniform draw would give them.
        width_frac=float(np.exp(rng.uniform(*np.log(cfg.overlay_width)))),
        opacity=float(rng.uniform(*cfg.opacity)),
        margin_frac=float(rng.uniform(0.0, cfg.max_margin)),
    )
    width = placement.overlay_width(fw)
    height = max(1, round(skin.size[1] * width / skin.size[0]))
    box = placement.box(fw, fh, height)
    render_width = next((w for w in RENDER_WIDTHS if w >= width), RENDER_WIDTHS[-1])

    # Only the patch around the overlay is kept; the rest of the frame never reaches a crop.
    pad = max(MIN_PATCH_PAD, round(PATCH_PAD_FRAC * width))
    x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
    x1, y1 = min(fw, box[2] + pad), min(fh, box[3] + pad)
    run = backgrounds[int(rng.integers(len(backgrounds)))]
    start = int(rng.integers(0, max(1, len(run) - t_frames + 1)))
    patches = []
    for t in range(t_frames):
        frame, _ = fit_to_upload(run[min(start + t, len(run) - 1)], fw, fh)
        overlay = render_overlay(skin, actions[t], render_width)
        composite(frame, overlay[..., colour_order] if colour else overlay, placement, inplace=True)
        patches.append(frame[y0:y1, x0:x1])
    patches = _degrade(np.stack(patches), cfg, rng)
    transform = _jittered_transform(placement_transform((box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0), skin.size), skin.size, cfg, rng)
    crops, sticks = zip(*(frame_crops(p, transform, view, skin.size) for p in patches))
    return np.stack(crops), np.stack(sticks), actions, colour


def _degrade(patches: np.ndarray, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Blur, colour shift and compress (T, H, W, 3) uint8 frames the same way for a whole clip."""
    out = patches
    if rng.random() < cfg.blur_share:
        sigma = float(rng.uniform(0.3, max(0.3, cfg.max_blur_sigma)))
        out = np.stack([cv2.GaussianBlur(p, (0, 0), sigma) for p in out])
    if cfg.colour_jitter > 0:
        j = cfg.colour_jitter
        gain = rng.uniform(1 - j, 1 + j, 3) * rng.uniform(1 - j, 1 + j)
        offset = rng.uniform(-j, j) * 255.0
        lut = np.stack([np.clip((np.arange(256) - 128.0) * g + 128.0 + offset, 0, 255) for g in gain], axis=-1)
        lut = lut.round().astype(np.uint8)[:, None, :]  # (256, 1, 3): cv2.LUT's per-channel table
        out = np.stack([cv2.LUT(p, lut) for p in out])
    kind = rng.random()
    if kind < cfg.h264_share:
        out = h264_round_trip(out, int(rng.integers(cfg.crf[0], cfg.crf[1] + 1)))
    elif kind < cfg.h264_share + cfg.jpeg_share:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        out = np.stack([jpeg_round_trip(p, quality) for p in out])
    return out


def jpeg_round_trip(frame: np.ndarray, quality: int) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame after JPEG encoding at `quality` and decoding."""
    ok, data = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding of a {frame.shape} frame failed")
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def _jittered_transform(transform: np.ndarray, skin_size: tuple[int, int], cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """`transform` (template→frame, 2x3) off by a small scale, rotation and shift about the overlay centre."""
    centre = transform @ np.array([skin_size[0] / 2, skin_size[1] / 2, 1.0])
    scale = 1.0 + rng.uniform(-cfg.localization_scale, cfg.localization_scale, 2)
    angle = math.radians(rng.uniform(-cfg.localization_rotation, cfg.localization_rotation))
    rotate = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) @ np.diag(scale)
    shift = rng.uniform(-cfg.localization_shift, cfg.localization_shift, 2)
    error = np.hstack([rotate, (centre - rotate @ centre + shift)[:, None]])
    return np.vstack([error, [0.0, 0.0, 1.0]])[:2] @ np.vstack([transform, [0.0, 0.0, 1.0]])


_WORKER_STATE: dict[str, object] = {}


def _init_worker(skins: dict[str, Skin | SpriteSkin], backgrounds: list[np.ndarray], cfg: SynthConfig, views: dict[str, SkinView]) -> None:
    cv2.setNumThreads(1)
    _WORKER_STATE.update(skins=skins, backgrounds=backgrounds, cfg=cfg, views=views)


def _render_clips(jobs: list[tuple[int, str, tuple[int, ...]]]) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray, int]]:
    skins, backgrounds, cfg, views = (_WORKER_STATE[k] for k in ("skins", "backgrounds", "cfg", "views"))
    out = []
    # A worker process's share, or the whole split inline: the clips are the unit a person waits for.
    for index, skin_id, seed in progress.track(jobs, "parser_train renders", unit="clips"):
        clip = render_clip(skins[skin_id], backgrounds, cfg, np.random.default_rng(seed), views[skin_id])  # type: ignore[index, arg-type]
        out.append((index, *clip))
    return out


def render_split(
    skins: dict[str, Skin | SpriteSkin],
    clips: int,
    backgrounds: list[np.ndarray],
    cfg: SynthConfig,
    seed: int,
    split: str,
    workers: int = 1,
    runner: TaskRunnerConfig = TaskRunnerConfig(),
) -> RenderSet:
    """Render `clips` clips cycling through `skins` (sorted by id); clip i is seeded by (seed, split, i).

    The clips are fanned out (`padflow.fanout.fan_out` on `runner`) as one share per worker;
    workers take whole skins, so each prepares only its own skins' sprites. The result is the
    same for any worker count and runner.
    """
    if clips < 1:
        raise ValueError(f"clips: {clips} must be >= 1")
    if not skins:
        raise ValueError(f"split {split!r} has no skins to render")
    ids = sorted(skins)
    split_key = [ord(c) for c in split]
    jobs = [(i, ids[i % len(ids)], (seed, *split_key, i)) for i in range(clips)]
    workers = max(1, min(workers, len(ids)))
    shares = [[j for j in jobs if ids.index(j[1]) % workers == w] for w in range(workers)]
    views = {i: skin_view(skins[i], cfg.crop_size, cfg.stick_size) for i in ids}
    t, s = cfg.frames_per_clip, cfg.stick_size
    crops = np.empty((clips, t, cfg.crop_size[1], cfg.crop_size[0], 3), dtype=np.uint8)
    sticks = np.empty((clips, t, 2, s, s, 3), dtype=np.uint8)
    actions = np.empty((clips, t, ACTION_DIM), dtype=np.float32)
    colours = np.zeros(clips, dtype=np.int64)
    started = time.perf_counter()
    setup = functools.partial(_init_worker, skins, backgrounds, cfg, views)
    results = fan_out(_render_clips, shares, name=f"render-{split}", runner=runner, workers=workers, setup=setup,
                      unit="worker shares")
    for share in results:
        for index, clip_crops, clip_sticks, clip_actions, colour in share:
            crops[index], sticks[index], actions[index], colours[index] = clip_crops, clip_sticks, clip_actions, colour
    wall = time.perf_counter() - started
    used = {j[1] for j in jobs}
    return RenderSet(crops, sticks, actions, tuple(j[1] for j in jobs), {i: v for i, v in views.items() if i in used}, colours, renders_per_s=clips * t / wall)


def render_digest(renders: RenderSet) -> str:
    """sha256 of what a render set holds (pixels, labels, skins), 16 hex digits: which renders a parser learnt from."""
    digest = hashlib.sha256()
    for array in (renders.crops, renders.sticks, renders.actions, renders.colour_orders, np.array(renders.skin_ids)):
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:16]


def save_shard(renders: RenderSet, path: Path) -> Path:
    """Write a render set as one uncompressed .npz (atomically)."""
    view_ids = sorted(renders.views)
    views = [renders.views[i] for i in view_ids]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                crops=renders.crops,
                sticks=renders.sticks,
                actions=renders.actions,
                skin_ids=np.array(renders.skin_ids),
                colour_orders=renders.colour_orders,
                view_ids=np.array(view_ids),
                rest_crops=np.stack([v.rest_crop for v in views]),
                rest_sticks=np.stack([v.rest_sticks for v in views]),
                stick_regions=np.array([v.stick_regions for v in views], dtype=np.float64),
                button_boxes=np.stack([v.button_boxes for v in views]),
                stick_travel=np.stack([v.stick_travel for v in views]),
                observed=np.stack([v.observed for v in views]),
            )
    return path


def load_shard(path: Path) -> RenderSet:
    """Read a shard written by save_shard; ValueError names the file if it is missing or malformed."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("crops", "sticks", "actions", "skin_ids", "colour_orders", "view_ids", "rest_crops", "rest_sticks", "stick_regions", "button_boxes", "stick_travel")}
            # shards written before sprite skins have no observed masks: every control was drawn
            observed = data["observed"] if "observed" in data.files else np.ones((len(arrays["view_ids"]), ACTION_DIM), dtype=bool)
    except FileNotFoundError:
        raise ValueError(f"{path}: render shard not found") from None
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a render shard: {exc}") from None
    crops, sticks, actions, ids = arrays["crops"], arrays["sticks"], arrays["actions"], arrays["skin_ids"]
    colours = arrays["colour_orders"]
    if crops.ndim != 5 or sticks.shape[:3] != (*crops.shape[:2], 2) or actions.shape != (*crops.shape[:2], ACTION_DIM) or len(ids) != len(crops) or colours.shape != ids.shape:
        raise ValueError(f"{path}: inconsistent shapes crops {crops.shape}, sticks {sticks.shape}, actions {actions.shape}, {len(ids)} skin ids")
    views = {
        str(v): SkinView(str(v), rc, rs, (tuple(reg[0]), tuple(reg[1])), bb, tr, ob.astype(bool))
        for v, rc, rs, reg, bb, tr, ob in zip(*(arrays[k] for k in ("view_ids", "rest_crops", "rest_sticks", "stick_regions", "button_boxes", "stick_travel")), observed)
    }
    missing = sorted({str(i) for i in ids} - set(views))
    if missing:
        raise ValueError(f"{path}: no skin view stored for {', '.join(missing[:3])}")
    if colours.size and not ((colours >= 0) & (colours < len(COLOUR_ORDERS))).all():
        raise ValueError(f"{path}: colour_orders must index the {len(COLOUR_ORDERS)} RGB orders")
    return RenderSet(crops, sticks, actions, tuple(str(i) for i in ids), views, colours)
