"""A video's actions as the overlay parser reads them: decode, rectify, parse, find the caps, calibrate, normalize.

`parse_overlay` reads every frame of a video whose overlay (a `Skin`) sits at a known transform:
frames are decoded and rectified into the template's coordinates at the parser's crop size on a
background thread (`decoded_crops`, padflow.video + padflow.overlay.crops, the same path parser
training uses), and consecutive crop pairs are parsed in batches (`parse_video`). `finish_actions`
turns the raw readings into the actions the extract stage writes:

Button calibration: the parser's own 0.5 threshold fails both ways on skins it never saw: some
rest looks read half-pressed all video (p 0.55-0.96), and on real overlays most of its presses are
false while low-contrast presses stay below 0.5. A real press still lifts the button's logit well
above the level it shows released in that video. So each button's logits over the video are split
into a low and a high group (`two_groups`, Otsu: the split with most variance between the groups),
and the frames of the high group read pressed when its mean stands `button_min_rise` above the low
group's (a button never pressed, or pressed all video, has no such gap and reads released). The low
group is the button's rest level only when it holds `button_min_rest_frames` frames: one frame read far
below the rest (a flash, a decoding glitch) is a group of its own, and the whole video would stand above
it; with a smaller low group the button keeps the parser's own reading. A faint pad over a moving game splits
into two groups as well (the game's light through the pad lifts a never-pressed button's logits a few units in
most frames), so where the high group would add presses the parser did not read to more than
`button_max_added_share` of the frames, the button keeps the parser's reading too. The price: a press held
that long on a pad the parser reads that faintly reads released (docs/benchmarks.md measures both sides).

Sticks where the cap is found: the parser's learned stick head reads padflow's own corpus poorly (pooled R² 0.39-0.83
over three corpora; 0.87-0.93 read by the caps) and moves between trainings, while each frame's stick patch shows where the cap went. Given a
cap locator (models.overlay_parser.cap_locator: the rest cap's template matched over the stick's travel), a stick
whose median best match over the video reaches `cap_min_match` is read there instead, in the frames whose own match
reaches it (a clicked cap often looks otherwise); one whose cap does not stand out keeps the head's reading
(docs/benchmarks.md). A stick read by its cap reads 0 at rest, so its rest reading below is trusted only near 0
(`cap_rest_bound`): a pile-up farther out is a hold; nor is it scaled: the cap's place is measured in the layout's
own travel (slope 0.91-1.05 against the truth), and dividing by the 99th percentile stretched sticks that never reach
the rim (Doom's and Freedoom's small aiming moves: R² 0.32-0.70 scaled, 0.87-0.97 not; docs/benchmarks.md). Either then goes through
the rest of the normalization below. A frame's confidence (`frame_confidence`) is the parser's over the controls the skin draws,
but for a stick read by its cap it takes the cap's certainty (its share of the softmaxed correlations around the
reading) in place of the head's, which doubts caps it no longer reads (the default corpus's held-out Freeway clip:
45 % of frames below the gate's 0.2 with the head's, none with the cap's; docs/benchmarks.md).

Stick normalization: the parser reads a released stick at an offset that depends on the skin
(thin-outline caps, caps over a background edge: up to +-0.95 on one real pad), and reads full travel
short of or past +-1 as overlay software scales the drawn travel differently. So each axis is
re-centred on its rest reading in this video (`rest_reading`: where its readings pile up, in a window
`stick_rest_bandwidth` wide; a released stick always returns to one place, a moving one spreads out),
and an axis that moved is divided by the `stick_percentile` of its |offset| from there (NitroGen: 99)
and clipped to [-1, 1]. An axis whose offsets stay within `stick_min_range` never moved (parser
jitter around rest) and is not scaled, because dividing jitter by a tiny percentile would turn it into
full deflections. A stick held in one place for most of a video piles its readings up there too;
where that place is far out (`stick_rim`) at an end of the range it is taken for a hold at the rim,
and centre stays 0. A hold short of the rim reads as a rest: from the readings alone it cannot be
told from a skin read far off centre at rest (nor can a rest read past `stick_rim` at the end of the
range be told from a hold).

The settings are fields of the extract stage's config (params.yaml `extract`); the functions here
take any object that has them (`ReadingSettings`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from padflow.actions import ACTION_DIM, AXES, AXIS_INDEX, BUTTONS, N_BUTTONS
from padflow.overlay.crops import ParserBatch, SkinView, frame_crops, parser_inputs, skin_view
from padflow.overlay.skin import STICK_AXES, Skin
from padflow.video import in_background, iter_frames, probe

QUEUE_BATCHES = 2  # decoded batches waiting for the parser; bounds memory while decode runs ahead
# A stick's rest reading is searched between these quantiles of its readings: a released stick rests for a
# large share of a video, between pushes either way, while saturated pushes pile up at the ends.
REST_SEARCH_QUANTILES = (0.25, 0.75)
STICK_COLUMNS = {stick: slice(AXIS_INDEX[x], AXIS_INDEX[y] + 1) for stick, (x, y) in STICK_AXES.items()}  # each stick's action columns, in a cap locator's order: left x, left y, right x, right y


class ReadingSettings(Protocol):
    """What `finish_actions` reads (the extract stage's config has these fields; see its descriptions)."""

    stick_percentile: float
    stick_rest_bandwidth: float
    stick_min_range: float
    stick_rim: float
    button_min_rise: float
    button_min_rest_frames: int
    button_max_added_share: float
    cap_min_match: float
    cap_rest_bound: float


CapLocator = Callable[[ParserBatch], tuple[np.ndarray, np.ndarray, np.ndarray]]  # a batch's caps: axes (B, 4), each stick's best template match (B, 2) and certainty (B, 2); models.overlay_parser.cap_locator
# ParsedVideo.confidence's columns: the parser's confidence over the drawn controls leaving out no stick, the left, the
# right, both (column = left left out + 2 x right left out), so that `frame_confidence` can put a cap's certainty there.
LEFT_OUT = (frozenset(), frozenset({"left"}), frozenset({"right"}), frozenset({"left", "right"}))


class ParsedVideo(NamedTuple):
    """What `parse_video` read of every frame: the parser's actions (T, 21), its confidence (T, 4) over the drawn
    controls (columns: LEFT_OUT), the video's fps, the button logits (T, 17), and, where a cap locator was given, each
    frame's caps where the rest cap matches best: (axes (T, 4), match (T, 2), certainty (T, 2)) (`finish_actions`
    chooses between them and the parser's sticks, `frame_confidence` between their certainties)."""

    actions: np.ndarray
    confidence: np.ndarray
    fps: float
    button_logits: np.ndarray
    caps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def rest_reading(values: np.ndarray, bandwidth: float) -> float:
    """Where an axis reads while its stick is released: the median of the densest `bandwidth`-wide window of readings.

    A released stick returns to one place, so its readings pile up there (however far off centre the
    parser reads that place on this skin), while a moving stick spreads its readings out. Readings
    also pile up where the parser's reading saturates (a stick pushed to the rim, or past it, reads
    the same), at the ends of the range, so the window is centred within the middle half of the
    readings (REST_SEARCH_QUANTILES); of windows of equal count, the one centred nearest their middle wins.
    """
    v = np.sort(np.asarray(values, np.float64))
    if not len(v):
        return 0.0
    counts = np.searchsorted(v, v + bandwidth, side="right") - np.searchsorted(v, v - bandwidth, side="left")
    low, high = np.quantile(v, REST_SEARCH_QUANTILES)
    counts[(v < low) | (v > high)] = 0
    ties = v[counts == counts.max()]
    centre = ties[np.argmin(np.abs(ties - np.median(ties)))]  # a reading, so its window is never empty
    return float(np.median(v[np.abs(v - centre) <= bandwidth]))


def normalize_sticks(actions: np.ndarray, cfg: ReadingSettings, read_by_cap: Collection[str] = ()) -> tuple[np.ndarray, dict[str, float], dict[str, float]]:
    """Re-centre each stick axis on its rest reading and scale a moving one by the `stick_percentile` of its |offset|; return divisors and centres.

    The rest reading is `rest_reading` (the densest window of readings, `stick_rest_bandwidth` wide),
    unless it lies `stick_rim` or farther out at an end of the readings' range (within two bandwidths
    of their 1st or 99th percentile): that is a stick held at the rim and released now and then (or
    never), and the axis keeps centre 0. An axis in `read_by_cap` (read where its cap was found, 0 at
    rest by construction) takes its rest reading only within `cap_rest_bound` of 0: a pile-up farther
    out is a stick held there, wherever it lies in the range; and it is not scaled, its readings being in the
    layout's travel already (a stick that never reaches the rim is not stretched to it). An axis whose offsets from its centre stay within
    `stick_min_range` (at the percentile) never moved (parser jitter around rest) and is only
    re-centred; every other axis is also divided by that percentile (NitroGen) and clipped to [-1, 1].
    """
    out = actions.astype(np.float32, copy=True)
    scales: dict[str, float] = {}
    centres: dict[str, float] = {}
    for axis in AXES:
        values = actions[:, AXIS_INDEX[axis]]
        centre = rest_reading(values, cfg.stick_rest_bandwidth)
        if axis in read_by_cap:
            centre = centre if abs(centre) <= cfg.cap_rest_bound else 0.0
        elif len(values) and abs(centre) >= cfg.stick_rim:
            low, high = np.percentile(values, [100.0 - cfg.stick_percentile, cfg.stick_percentile])
            if min(centre - low, high - centre) <= 2 * cfg.stick_rest_bandwidth:
                centre = 0.0  # held at the rim: the pile-up is the hold, not the rest
        spread = float(np.percentile(np.abs(values - centre), cfg.stick_percentile)) if len(values) else 0.0
        scale = spread if spread >= cfg.stick_min_range and axis not in read_by_cap else 1.0
        out[:, AXIS_INDEX[axis]] = np.clip((values - centre) / scale, -1.0, 1.0)
        scales[axis], centres[axis] = round(scale, 6), round(centre, 6)
    return out, scales, centres


def two_groups(logits: np.ndarray) -> tuple[float, float, float]:
    """Split one button's logits over a video into a low and a high group (Otsu: most variance between them); (threshold, low mean, high mean)."""
    v = np.sort(np.asarray(logits, np.float64))
    n = len(v)
    if n < 2 or v[0] == v[-1]:
        return float("inf"), float(v.mean()) if n else 0.0, float(v.mean()) if n else 0.0
    k = np.arange(1, n)  # size of the low group
    low_sum = np.cumsum(v)[:-1]
    low_mean, high_mean = low_sum / k, (v.sum() - low_sum) / (n - k)
    best = int(np.argmax(k * (n - k) * (high_mean - low_mean) ** 2))
    return float((v[best] + v[best + 1]) / 2), float(low_mean[best]), float(high_mean[best])


def calibrate_buttons(
    actions: np.ndarray, button_logits: np.ndarray, min_rise: float, min_rest_frames: int = 0, max_added_share: float = 1.0
) -> tuple[np.ndarray, dict[str, float | None], dict[str, int]]:
    """Read each button pressed where its logit falls in the high one of its two groups in this video, if that group stands `min_rise` above the low one.

    actions (T, 21) with buttons thresholded by the parser, button_logits (T, 17). A button whose low
    group holds fewer than `min_rest_frames` frames has no rest level to rise from: it keeps the
    parser's reading; so does a button the calibration would read pressed, where the parser read it
    released, in more than `max_added_share` of the video's frames. Returns the actions, each
    button's rest level (the low group's mean logit; None where it has none), and, per button whose
    reading changed, how many frames changed.
    """
    out = actions.astype(np.float32, copy=True)
    if not len(actions):
        return out, {}, {}
    rest_levels: dict[str, float | None] = {}
    for j, name in enumerate(BUTTONS):
        threshold, low, high = two_groups(button_logits[:, j])
        if np.isfinite(threshold) and (button_logits[:, j] <= threshold).sum() < min_rest_frames:
            rest_levels[name] = None
            continue
        pressed = (button_logits[:, j] > threshold) & (high - low > min_rise)
        by_parser = actions[:, j] > 0.5
        if (pressed & ~by_parser).mean() > max_added_share:
            rest_levels[name] = None
            continue
        out[:, j] = pressed
        rest_levels[name] = round(low, 3)
    changed = (out[:, :N_BUTTONS] != (actions[:, :N_BUTTONS] > 0.5)).sum(axis=0)
    return out, rest_levels, {name: int(n) for name, n in zip(BUTTONS, changed) if n}


def cap_read_frames(match: np.ndarray, cfg: ReadingSettings) -> np.ndarray:
    """(T, 2) bool: the frames whose stick `finish_actions` reads by its cap, given each frame's best match (T, 2).

    A stick whose median match over the video reaches `cap_min_match`, in every frame whose own match reaches it too:
    a clicked cap looks otherwise, and the learned head reads those frames.
    """
    clear = np.asarray(match) >= cfg.cap_min_match
    typical = np.round(np.median(match, axis=0), 4) >= cfg.cap_min_match if len(match) else np.zeros(clear.shape[1], bool)
    return clear & typical[None, :]


def frame_confidence(parsed: ParsedVideo, cfg: ReadingSettings) -> np.ndarray:
    """(T,) each frame's confidence in what `finish_actions` reads: the parser's over the drawn controls, with each
    stick the cap read in that frame left out of it and its cap's certainty multiplied in instead."""
    confidence = parsed.confidence[:, 0]
    if parsed.caps is None or not len(parsed.confidence):
        return confidence
    by_cap = cap_read_frames(parsed.caps[1], cfg)  # (T, 2)
    left_out = by_cap[:, 0].astype(int) + 2 * by_cap[:, 1].astype(int)  # LEFT_OUT's column
    head = parsed.confidence[np.arange(len(left_out)), left_out]
    cap = np.where(by_cap, parsed.caps[2], 1.0).min(axis=1)
    return np.clip(head * cap, 0.0, 1.0).astype(np.float32)


def finish_actions(raw: np.ndarray, button_logits: np.ndarray, cfg: ReadingSettings,
                   caps: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """A video's raw parser readings as the stage writes them (buttons calibrated, sticks read where the cap is found and
    normalized), and what each step decided, for the record.

    `caps` (axes (T, 4), match (T, 2), and any more parts: `ParsedVideo.caps`): each frame's sticks where the rest cap's template matches best
    (models.overlay_parser.cap_locator); a stick whose median match over the video reaches `cap_min_match` is read
    there instead of by the parser's learned head, in every frame whose own match reaches it too.
    """
    actions, button_rest, recalibrated = calibrate_buttons(
        raw, button_logits, cfg.button_min_rise, cfg.button_min_rest_frames, cfg.button_max_added_share)
    cap_match: dict[str, float] = {}
    read_by_cap: list[str] = []
    if caps is not None and len(caps[1]):
        axes, match = caps[0], caps[1]  # readings saved before the caps' certainty have two parts
        by_cap = cap_read_frames(match, cfg)
        for k, (stick, columns) in enumerate(STICK_COLUMNS.items()):
            cap_match[stick] = round(float(np.median(match[:, k])), 4)
            if by_cap[:, k].any():
                read_by_cap.append(stick)
                actions[by_cap[:, k], columns] = axes[by_cap[:, k], 2 * k:2 * k + 2]
    cap_axes = {axis for stick in read_by_cap for axis in STICK_AXES[stick]}
    actions, scales, centres = normalize_sticks(actions, cfg, cap_axes)
    return actions, dict(stick_scale=scales, stick_centre=centres, cap_match=cap_match, sticks_read_by_cap=read_by_cap,
                         button_rest_logit=button_rest, button_frames_recalibrated=recalibrated)


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


def stick_columns(sticks: Collection[str]) -> np.ndarray:
    """(21,) bool: the action columns of the named sticks ('left', 'right')."""
    columns = np.zeros(ACTION_DIM, bool)
    for stick in sticks:
        columns[STICK_COLUMNS[stick]] = True
    return columns


def parse_video(
    parser: Any, view: SkinView, batches: Iterator[tuple[np.ndarray, np.ndarray, float]], locate_caps: CapLocator | None = None
) -> ParsedVideo:
    """Run the parser (and `locate_caps`, where given) over consecutive crop batches (`ParsedVideo`).

    `parser` is a loaded overlay parser (models.overlay_parser): `read(inputs)` and `cfg`. The
    confidence covers the controls the skin draws (`view.observed`).
    """
    actions, confidence, logits, axes, match, certainty = [], [], [], [], [], []
    last: tuple[np.ndarray, np.ndarray] | None = None
    fps = 0.0
    for crops, sticks, fps in batches:
        # Pairs chain across batches: a batch's first frame pairs with the previous batch's last
        # (the video's first frame pairs with itself, as in crops.parser_batch).
        head = (crops[:1], sticks[:1]) if last is None else last
        previous = (np.concatenate([head[0], crops[:-1]]), np.concatenate([head[1], sticks[:-1]]))
        inputs = parser_inputs(previous, (crops, sticks), view)
        reading = parser.read(inputs)
        actions.append(np.asarray(reading.actions, np.float32))
        confidence.append(np.stack([reading.confidence_over(view.observed & ~stick_columns(out)) for out in LEFT_OUT], axis=1).astype(np.float32))  # undrawn controls' doubt does not count
        logits.append(np.asarray(reading.button_logits, np.float32))
        if locate_caps is not None:
            batch_axes, batch_match, batch_certainty = locate_caps(inputs)
            axes.append(batch_axes)
            match.append(batch_match)
            certainty.append(batch_certainty)
        last = (crops[-1:], sticks[-1:])
    if not actions:
        raise ValueError("no frames to parse")
    caps = (np.concatenate(axes), np.concatenate(match), np.concatenate(certainty)) if locate_caps is not None else None
    return ParsedVideo(np.concatenate(actions), np.concatenate(confidence), fps, np.concatenate(logits), caps)


def parse_overlay(
    video: Path, transform: np.ndarray, skin: Skin, parser: Any, batch: int, decode_threads: int, locate_caps: CapLocator | None = None
) -> ParsedVideo:
    """Parse every frame of a video whose overlay `skin` sits at `transform` (`parse_video`)."""
    view = skin_view(skin, tuple(parser.cfg.crop_size), parser.cfg.stick_size)
    return parse_video(parser, view, decoded_crops(video, transform, view, skin.size, batch, decode_threads), locate_caps)
