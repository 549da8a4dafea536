"""A video's actions as the overlay parser reads them: decode, rectify, parse, calibrate, normalize.

`parse_overlay` reads every frame of a video whose overlay (a `Skin`) sits at a known transform:
frames are decoded and rectified into the template's coordinates at the parser's crop size on a
background thread (`decoded_crops`, padflow.video + padflow.overlay.crops, the same path parser
training uses), and consecutive crop pairs are parsed in batches (`parse_video`). `finish_actions`
turns the raw readings into the actions the extract stage writes:

Button calibration: on some skins the parser reads a button's rest look as half-pressed (its
probability hovering around 0.5-0.9 all video), which thresholding at 0.5 turns into a button held
from first frame to last or flickering. A real press lifts the button's logit far above the level
it shows at rest in that video, so each button's rest level is a low quantile of its logits over
the video (`button_rest_quantile`: a button held for up to 1 - that share of the video keeps its
presses), and a frame reads pressed only when the parser says so and the logit stands
`button_min_rise` above that level.

Stick normalization (NitroGen): the parser reads stick positions relative to the skin's drawn
travel, which overlay software scales differently, so each axis is divided by the
`stick_percentile` of its |value| over the video and clipped to [-1, 1]. An axis that never really
moved (readings within `stick_min_range` of a median near centre: parser jitter around rest) is
not scaled, because dividing jitter by a tiny percentile would turn it into full deflections; it
is re-centred on its median instead, which removes the parser's offset at rest on that skin. A
reading that does not move at all (`stick_still_range`) is a resting stick however far off centre
it reads, short of the rim (`stick_rim`): a resting cap over a background edge reads far off
centre, while a stick held for a whole video is released now and then, or pushed to the rim.

The settings are fields of the extract stage's config (params.yaml `extract`); the functions here
take any object that has them (`ReadingSettings`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from padflow.actions import AXES, AXIS_INDEX, BUTTONS, N_BUTTONS
from padflow.overlay.crops import SkinView, frame_crops, parser_inputs, skin_view
from padflow.overlay.skin import Skin
from padflow.video import in_background, iter_frames, probe

QUEUE_BATCHES = 2  # decoded batches waiting for the parser; bounds memory while decode runs ahead


class ReadingSettings(Protocol):
    """What `finish_actions` reads (the extract stage's config has these fields; see its descriptions)."""

    stick_percentile: float
    stick_min_range: float
    stick_rest_offset: float
    stick_still_range: float
    stick_rim: float
    button_rest_quantile: float
    button_min_rise: float


def normalize_sticks(actions: np.ndarray, cfg: ReadingSettings) -> tuple[np.ndarray, dict[str, float], dict[str, float]]:
    """Scale each moving stick axis by the `stick_percentile` of its |value|, re-centre each resting one; return divisors and centres.

    An axis rests when its readings stay within `stick_min_range` of their median (at the
    percentile) with the median within `stick_rest_offset` of centre, or when they stay within
    `stick_still_range` of a median short of `stick_rim`. The median is then the parser's reading
    of this skin at rest, so it is subtracted and nothing is scaled. Every other axis (one that
    moves, or a stick held over the whole video) is divided by the percentile (NitroGen) and
    clipped to [-1, 1].
    """
    out = actions.astype(np.float32, copy=True)
    scales: dict[str, float] = {}
    centres: dict[str, float] = {}
    for axis in AXES:
        values = actions[:, AXIS_INDEX[axis]]
        median = float(np.median(values)) if len(values) else 0.0
        wobble = float(np.percentile(np.abs(values - median), cfg.stick_percentile)) if len(values) else 0.0
        jitter = wobble < cfg.stick_min_range and abs(median) <= cfg.stick_rest_offset
        still = wobble < cfg.stick_still_range and abs(median) < cfg.stick_rim
        if jitter or still:
            scale, centre = 1.0, median
        else:
            scale, centre = float(np.percentile(np.abs(values), cfg.stick_percentile)), 0.0
        out[:, AXIS_INDEX[axis]] = np.clip((values - centre) / scale, -1.0, 1.0)
        scales[axis], centres[axis] = round(scale, 6), round(centre, 6)
    return out, scales, centres


def calibrate_buttons(
    actions: np.ndarray, button_logits: np.ndarray, rest_quantile: float, min_rise: float
) -> tuple[np.ndarray, dict[str, float], dict[str, int]]:
    """Keep a button pressed only where its logit stands `min_rise` above its rest level in this video.

    actions (T, 21) with buttons thresholded by the parser, button_logits (T, 17). The rest level
    is the `rest_quantile` of each button's logits. Returns the actions, each button's rest level,
    and, per button whose reading changed, how many frames changed.
    """
    out = actions.astype(np.float32, copy=True)
    if not len(actions):
        return out, {}, {}
    rest = np.quantile(button_logits, rest_quantile, axis=0)  # (17,)
    pressed = (actions[:, :N_BUTTONS] > 0.5) & (button_logits - rest > min_rise)
    out[:, :N_BUTTONS] = pressed
    changed = (out[:, :N_BUTTONS] != actions[:, :N_BUTTONS]).sum(axis=0)
    rest_levels = {name: round(float(r), 3) for name, r in zip(BUTTONS, rest)}
    return out, rest_levels, {name: int(n) for name, n in zip(BUTTONS, changed) if n}


def finish_actions(raw: np.ndarray, button_logits: np.ndarray, cfg: ReadingSettings) -> tuple[np.ndarray, dict[str, Any]]:
    """A video's raw parser readings as the stage writes them (buttons calibrated, sticks normalized), and what each step decided, for the record."""
    actions, button_rest, recalibrated = calibrate_buttons(raw, button_logits, cfg.button_rest_quantile, cfg.button_min_rise)
    actions, scales, centres = normalize_sticks(actions, cfg)
    return actions, dict(stick_scale=scales, stick_centre=centres, button_rest_logit=button_rest, button_frames_recalibrated=recalibrated)


def decoded_crops(
    video: Path, transform: np.ndarray, view: SkinView, skin_size: tuple[int, int], batch: int, threads: int
) -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
    """Rectified crops (n, h, w, 3) and stick patches (n, 2, s, s, 3) uint8 of every frame, `batch` at a time.

    Decoding and rectification run on a background thread, `QUEUE_BATCHES` batches ahead. Yields
    (crops, sticks, fps). Raises padflow.video.VideoError (a ValueError) naming the file if it
    does not decode to its declared end, or not at all.
    """

    def produce() -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
        fps = probe(video).fps
        crops: list[np.ndarray] = []
        sticks: list[np.ndarray] = []
        for frame in iter_frames(video, threads=threads, check_complete=True):
            crop, stick = frame_crops(frame, transform, view, skin_size)
            crops.append(crop)
            sticks.append(stick)
            if len(crops) == batch:
                yield np.stack(crops), np.stack(sticks), fps
                crops, sticks = [], []
        if crops:
            yield np.stack(crops), np.stack(sticks), fps

    return in_background(produce(), QUEUE_BATCHES, name=f"decode-{video.stem}")


def parse_video(
    parser: Any, view: SkinView, batches: Iterator[tuple[np.ndarray, np.ndarray, float]]
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Run the parser over consecutive crop batches; (T, 21) actions, (T,) confidence, fps, (T, 17) button logits.

    `parser` is a loaded overlay parser (models.overlay_parser): `read(inputs)` and `cfg`. The
    confidence covers the controls the skin draws (`view.observed`).
    """
    actions, confidence, logits = [], [], []
    last: tuple[np.ndarray, np.ndarray] | None = None
    fps = 0.0
    for crops, sticks, fps in batches:
        # Pairs chain across batches: a batch's first frame pairs with the previous batch's last
        # (the video's first frame pairs with itself, as in crops.parser_batch).
        head = (crops[:1], sticks[:1]) if last is None else last
        previous = (np.concatenate([head[0], crops[:-1]]), np.concatenate([head[1], sticks[:-1]]))
        reading = parser.read(parser_inputs(previous, (crops, sticks), view))
        actions.append(np.asarray(reading.actions, np.float32))
        confidence.append(np.asarray(reading.confidence_over(view.observed), np.float32))  # undrawn controls' doubt does not count
        logits.append(np.asarray(reading.button_logits, np.float32))
        last = (crops[-1:], sticks[-1:])
    if not actions:
        raise ValueError("no frames to parse")
    return np.concatenate(actions), np.concatenate(confidence), fps, np.concatenate(logits)


def parse_overlay(
    video: Path, transform: np.ndarray, skin: Skin, parser: Any, batch: int, decode_threads: int
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Parse every frame of a video whose overlay `skin` sits at `transform`; what `parse_video` returns."""
    view = skin_view(skin, tuple(parser.cfg.crop_size), parser.cfg.stick_size)
    return parse_video(parser, view, decoded_crops(video, transform, view, skin.size, batch, decode_threads))
