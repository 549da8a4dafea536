"""Reading a known skin's overlay by drawing it: each control's state is the look that best explains the frame.

The overlay parser (models.overlay_parser) learned to read padflow's drawing styles; on skins drawn
by other hands it reads presses and sticks poorly (docs/results-real-overlays.md). But once a skin
is localized, padflow has the skin itself: it can draw every state a control can show and ask which
one the frame shows. That needs no training, so a skin a user adds is read like any other.

- The pose: the localization's transform, aligned to the median of `MEDIAN_FRAMES` frames spread
  over the video (localize.agreement.align_pose: a sub-pixel shift and scale).
- The game under the overlay: that median with every pixel some state of the skin draws filled in
  from around them (cv2.inpaint); per group of controls, the plain median, or the median with the
  rest look (for a stick, also the look of the state the median shows) taken out, instead where one
  explains the sampled frames better (an outline button's middle shows the game, `refit_game`). One opacity is fitted as in the
  skin check, median - game = o * alpha * (rest - game), and then chosen again, with the game
  under it, among opacities around it by how well the sampled frames are explained
  (`fit_opacity`: the first guess of the game under a large overlay can be far off).
- Each state's look is the whole skin rendered at about its on-screen size, the group's box cut
  from it and warped into the frame (padflow.overlay.look_drawing), so every look shares one sampling grid.
- Groups (`look_groups`): the d-pad (its nine states), each stick (a `STICK_GRID` x `STICK_GRID`
  grid over its travel, clicked or not when a clicked cap is drawn, with any button the click also
  lights), each other button (up or down); groups whose drawn changes touch (a glow spilling onto a
  neighbour) are read together over every combination of their states, up to MAX_JOINT_STATES, and so
  is a stick with a group its changes overlap (a cap that moves over a d-pad hides part of a pressed
  arm: their changes do not add up), up to MAX_STICK_JOINT_STATES (`_joined`).
  A state drawn nearly as one with fewer presses is not read (`_told_apart`: the picture cannot
  tell them apart, and compression's bias would choose); where a stick's states that read differently are
  drawn exactly alike (a cap hidden by its click), the frames around tell them apart (padflow.overlay.look_alike).
- A frame is explained as the still picture (game + rest look) plus one change per group, each
  state drawn over the game at the fitted opacity and compared on the pixels where some state of
  the group differs from its rest by more than `MIN_CONTRAST` grey levels; each group's state is
  chosen against the frame less the other groups' chosen changes, `PASSES` times over (a stick cap
  moving over a button); a stick and each group its cap moves over are also chosen as a pair
  (`_choose_pair`: a cap pushed onto a d-pad arm can draw what the arm pressed draws). A translucent
  overlay over a moving game adds the same game change to every state's error, so it favours none.
- A button or stick whose sampled frames show its changes as a clearly separate step fainter than drawn (the
  encoder thins a small change of colour, a thin cap) is read between the two levels they show (`fit_gains`).

A stick reads the grid value of its state (steps of 2 / (STICK_GRID - 1)); a button, trigger or
d-pad direction reads 0 or 1. A control left with no state to read (`unseen`: a dark press over a black game), or never read
pressed where its press is one the video's encoder erases (padflow.overlay.look_erasure: tried on the video's own frames at its
quantizer), reads 0,
and a table marks it unobserved. A frame's confidence is the smallest over groups of how clearly the
read state beats every state that reads differently (padflow.overlay.look_confidence; a stick's neighbour cells
read nearly the same, as the parser's confidence counts its mass around the reading).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from padflow.actions import ACTION_NAMES, AXES, BUTTON_SLICE, BUTTONS, DPAD_COMBINATIONS, noop
from padflow.overlay.crops import union_box
from padflow.overlay.look_alike import AlikeStates, alike_states, picture_ids, told_by_time
from padflow.overlay.look_confidence import Doubts, certainty, group_doubts
from padflow.overlay.look_drawing import drawn_look, warped_states
from padflow.overlay.look_erasure import erased_controls
from padflow.overlay.look_gains import best_share, control_gains, two_levels
from padflow.overlay.localize.result import fit_box
from padflow.overlay.localize.sample import sample_frames
from padflow.overlay.localize.agreement import DRAWN, INPAINT_RADIUS, OPAQUE, align_pose, fitted_opacity, grown_box
from padflow.overlay.readable import readable_controls
from padflow.video import iter_frames, probe, slice_quantizer

MEDIAN_FRAMES = 48  # frames spread over the video whose median is the still picture (game + overlay at rest)
STICK_GRID = 11  # stick positions per axis (-1 .. 1), as the parser's 11 x 11 grid
STICK_STEP = 2.0 / (STICK_GRID - 1)  # axis units between neighbouring positions
PASSES = 3  # times each group's state is chosen again against what the others' chosen states leave
MAX_JOINT_STATES = 64  # states of groups read together because their drawn changes touch (four face buttons: 16); a stick and a button whose changes only touch (242 x 2) would cost 484 renders of the skin
MAX_STICK_JOINT_STATES = 2 * STICK_GRID**2 * 9  # the same for a stick whose changes overlap another group's: a clicked cap over a d-pad (242 x 9 renders of their box)
MIN_CONTRAST = 8.0  # grey levels from which a state's drawn pixel differs from the rest look (compression noise is below it)
BATCH = 64  # frames compared at once
INDISTINCT = 0.01  # a state whose drawn change differs from a state with fewer presses by less than this share of its group's largest change is not read (gamecube's diagonals: 0.003; not tuned, one value tried)
COMPARED_PIXELS = 20_000  # at most about this many of the skin's pixels judge an opacity (`fit_opacity`; all of a 720-px preset's cost 1 s a try)
OPACITY_STEPS = tuple(1.1**k for k in range(-4, 5))  # opacities tried, as factors of the first fit (0.68-1.46x): `fit_opacity`
UNMIX_FLOOR = 0.1  # the game is solved from the median only where the overlay lets at least this share of it through (below, noise x 10)
DPAD = ("DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT")
STICKS = (("LEFT_X", "LEFT_Y", "LEFT_THUMB"), ("RIGHT_X", "RIGHT_Y", "RIGHT_THUMB"))


@dataclass(frozen=True)
class LookGroup:
    """Controls read together: the actions of each state (S, 21) and the box in skin px their looks cover."""

    controls: tuple[str, ...]
    actions: np.ndarray
    box: tuple[float, float, float, float]


def look_groups(skin) -> list[LookGroup]:  # noqa: ANN001 (either skin kind)
    """The skin's observed controls in groups read together (module doc), each with its states, the first at rest."""
    observed = skin.observed
    regions = {name: tuple(box) for name, box in skin.regions().items() if name in observed and box[2] > box[0] and box[3] > box[1]}
    units: list[tuple[tuple[str, ...], list[dict[str, float]], tuple]] = []  # (controls, states, box in skin px)
    dpad = tuple(d for d in DPAD if d in regions)
    if dpad:
        units.append((dpad, [dict.fromkeys(s, 1.0) for s in DPAD_COMBINATIONS], union_box([regions[d] for d in dpad])))
    grid = [float(v) for v in np.linspace(-1.0, 1.0, STICK_GRID)]
    for x_axis, y_axis, thumb in STICKS:
        box = regions.get(x_axis) or regions.get(y_axis) or regions.get(thumb)  # a parametric skin names its stick by the thumb
        if box is None:
            continue
        axes = [a for a in (x_axis, y_axis) if a in observed]
        positions = sorted((dict(zip(axes, xy)) for xy in itertools.product(grid, repeat=len(axes))), key=lambda p: sum(v * v for v in p.values()))
        # A clicked cap makes the thumb's box cover the cap's sweep (with a button the click lights too, their
        # union: one group); a thumb drawn elsewhere alone (a GameCube Z, no clicked cap) is a button of its own.
        thumb_box = regions.get(thumb)
        clicked = thumb_box is not None and union_box([thumb_box, box]) == thumb_box
        clicks = [{}, {thumb: 1.0}] if clicked else [{}]
        units.append(((*axes, *([thumb] if clicked else [])), [{**c, **p} for c in clicks for p in positions], thumb_box if clicked else box))
    taken = {c for controls, _, _ in units for c in controls}
    units += [((name,), [{}, {name: 1.0}], regions[name]) for name in BUTTONS if name in regions and name not in taken]
    out = []
    for controls, states, box in units:
        actions = np.zeros((len(states), len(ACTION_NAMES)), np.float32)
        for k, state in enumerate(states):
            for name, value in state.items():
                actions[k, ACTION_NAMES.index(name)] = value
        out.append(LookGroup(controls, actions, box))
    return out


class LookReading(NamedTuple):
    actions: np.ndarray  # (T, 21) every frame's state
    confidence: np.ndarray  # (T,)
    fps: float
    unseen: tuple[str, ...]  # controls the skin draws readably (padflow.overlay.readable) that this video cannot show: no state of theirs is left to read (none differs from rest by MIN_CONTRAST over the game at the fitted opacity, a dark press over a black game, or from a state with fewer presses by INDISTINCT), or that is never read pressed (or a stick moved) and whose press alone the video's encoder erases (padflow.overlay.look_erasure); read 0, no label


def read_by_looks(video: str | Path, transform: np.ndarray, skin, decode_threads: int = 0) -> LookReading:  # noqa: ANN001
    """Every frame of `video`, whose overlay `skin` sits at the 2x3 `transform`, read (`LookReading`).

    Controls the skin does not draw, and those it draws that this video cannot show, read 0 (a table marks them
    unobserved: never "not pressed"). ValueError (padflow.video.VideoError) names the file if it does not decode.
    """
    video = Path(video)
    fps = probe(video).fps
    sampled, _, _ = sample_frames(video, MEDIAN_FRAMES)
    frame_size = (sampled[0].shape[1], sampled[0].shape[0])
    x0, y0, x1, y1 = crop_box = grown_box(fit_box(np.asarray(transform, np.float64), skin, frame_size), frame_size)
    crops = np.stack([f[y0:y1, x0:x1] for f in sampled]).astype(np.float32)  # (T, h, w, 3)
    median = np.median(crops, axis=0)
    transform = align_pose(median, skin, np.asarray(transform, np.float64), crop_box)
    model = _LookModel(median, skin, transform, crop_box)
    model.fit_opacity(crops, median)
    model.fit_gains(crops)
    actions, confidence, pictures, first = [], [], [], None
    for batch in _batches(iter_frames(video, threads=decode_threads, check_complete=True), crop_box):
        first = batch if first is None else first
        read, sure, seen = model.read(batch)
        actions.append(read)
        confidence.append(sure)
        pictures.append(seen)
    if not actions:
        raise ValueError(f"{video}: no frames to read")
    out = np.concatenate(actions)
    for g, (cols, states, _) in model.alike.items():  # states no frame tells apart, told by the frames around
        out[:, cols] = told_by_time(out[:, cols], np.concatenate([p[g] for p in pictures]), states)
    shown = {name for group in model.groups for name, column in zip(ACTION_NAMES, group.actions.T) if column.any()}
    tried = model.presses({name for name in shown if np.abs(out[:, ACTION_NAMES.index(name)]).max() <= STICK_STEP})  # a control read anywhere shows in the video
    shown -= set(erased := erased_controls(first.astype(np.uint8), slice_quantizer(video), tried) if tried else ())
    out[:, [ACTION_NAMES.index(n) for n in erased]] = 0.0
    return LookReading(out, np.concatenate(confidence), fps, tuple(n for n in ACTION_NAMES if n in readable_controls(skin) and n not in shown))


class _LookModel:
    """The still picture (game + overlay at rest, at the fitted opacity) and, per group and state, what that state changes, on the pixels some state changes.

    A frame is explained as the still picture plus one change per group (changes of groups whose
    pixels overlap add up, an approximation where one sprite covers another); each group's state
    is chosen against the frame less the other groups' chosen changes, `PASSES` times over.
    """

    def __init__(self, median: np.ndarray, skin, transform: np.ndarray, crop_box: tuple[int, int, int, int]) -> None:  # noqa: ANN001
        rest = drawn_look(skin, noop(), transform, (0, 0, *skin.size), crop_box)
        self.alpha, self.rest = rest[..., 3:] / 255.0, rest[..., :3]
        h, w = self.alpha.shape[:2]
        scale = float(np.hypot(*transform[:, 0]))
        states = [(group, *warped_states(skin, group.box, group.actions, transform, crop_box, (h, w), scale)) for group in look_groups(skin)]
        states = [(group, window, looks) for group, window, looks in states if looks is not None]
        joined = _joined(skin, states, transform, crop_box, (h, w), scale)
        self.states = [(group, window, *_varying(looks)) for group, window, looks in joined]  # each group, its crop window, where some state draws other than rest, and the looks there (alpha, premultiplied colour); the whole looks are not kept
        # The game is filled in under every pixel any state draws: the median shows a control held
        # down in most frames, and an outline button's transparent middle would pass its fill for game.
        drawn = (self.alpha[..., 0] > DRAWN).astype(np.uint8)
        for _, window, looks in joined:
            drawn[window] |= (looks[..., 3] / 255.0 > DRAWN).any(axis=0).astype(np.uint8)
        drawn_at = np.flatnonzero(drawn)
        self.compared = drawn_at[:: max(1, len(drawn_at) // COMPARED_PIXELS)]  # the pixels whose explanation judges an opacity (`fit_opacity`), evenly thinned
        drawn = cv2.dilate(drawn, np.ones((5, 5), np.uint8))
        self.inpainted = self.game = cv2.inpaint(np.clip(median, 0, 255).astype(np.uint8), drawn, INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float32)
        own = self.alpha[..., 0] >= OPAQUE
        signal = (self.alpha * (self.rest - self.game))[own]
        self.opacity = float(np.clip(fitted_opacity(signal, (median - self.game)[own]), 0.05, 1.0))
        self.gains: dict[tuple[str, ...], tuple[np.ndarray, float | np.ndarray]] = {}  # per group read fainter than drawn: what its frames at rest show beyond the still picture (3m,), and the share of its drawn changes a press or move shows beyond that (a stick: its moves'; its clicks stay as drawn), per pixel for one control of a group (1, 3m) (`fit_gains`)
        self._compose()

    def _compose(self) -> None:
        """The still picture and each group's changes over the current game estimate."""
        h, w = self.game.shape[:2]
        groups, pixels, changes, offsets, pictures = [], [], [], [], {}
        for group, window, varying, alpha, premultiplied in self.states:
            drawn = self.opacity * (premultiplied - alpha * self.game[window][varying])  # (S, k, 3): what each state adds to the game
            mask = np.abs(drawn - drawn[:1]).max(axis=(0, 2)) > MIN_CONTRAST
            if not mask.any():
                continue
            ys, xs = (at[mask] for at in np.nonzero(varying))
            change = (drawn[:, mask] - drawn[:1, mask]).reshape(len(drawn), -1)  # (S, 3m)
            if group.controls in self.gains:
                at_rest, gain = self.gains[group.controls]
                offsets.append((len(groups), at_rest))
                change = change * (np.where((group.actions[:, BUTTON_SLICE] > 0).any(axis=1), 1.0, gain)[:, None] if _has_stick(group) else gain)
            look = picture_ids(change) if _has_stick(group) else None
            kept = _told_apart(group, change, look)
            if look is not None:
                pictures[len(groups)] = (group, look, kept)
            groups.append(LookGroup(group.controls, group.actions[kept], group.box))
            pixels.append((ys + window[0].start) * w + xs + window[1].start)  # flat crop indices
            changes.append(change[kept])
        self.groups = groups
        self._pictures = pictures  # per stick group: its states before `_told_apart`, the picture each draws, and the states read (`alike`)
        self.pixels_used = np.unique(np.concatenate(pixels)) if pixels else np.zeros(0, np.int64)
        self.positions = [np.searchsorted(self.pixels_used, p) for p in pixels]  # each group's pixels among those used
        self.changes = changes  # (S, 3m) per group
        self.norms = [(c**2).sum(axis=1) for c in self.changes]  # a state's squared error less the residual's own norm is |change|² - 2 residual·change
        # A stick and each group its cap moves over are also chosen as a pair (`_choose_pair`): the dot
        # product of each pair of their states' changes on the pixels both change, (S_other, S_stick).
        self.pairs: list[tuple[int, int, np.ndarray]] = []  # (stick group, other group, cross)
        for s, (gs, ps) in enumerate(zip(groups, pixels)):
            if not _has_stick(gs):
                continue
            for o, (go, po) in enumerate(zip(groups, pixels)):
                if _has_stick(go):
                    continue
                _, in_o, in_s = np.intersect1d(po, ps, return_indices=True)
                if len(in_o):
                    shared_o = changes[o].reshape(len(changes[o]), -1, 3)[:, in_o].reshape(len(changes[o]), -1)
                    shared_s = changes[s].reshape(len(changes[s]), -1, 3)[:, in_s].reshape(len(changes[s]), -1)
                    self.pairs.append((s, o, shared_o @ shared_s.T))
        still = self.game + self.opacity * self.alpha * (self.rest - self.game)  # (h, w, 3)
        self.still = still.reshape(-1, 3)[self.pixels_used]  # (n, 3)
        for g, offset in offsets:
            self.still[self.positions[g]] += offset.reshape(-1, 3)

    def refit_game(self, frames: np.ndarray, median: np.ndarray) -> None:
        """Estimate the game under each group again from `frames` (T, h, w, 3), whose per-pixel median is `median`.

        Under a control whose rest look lets the game through (an outline button's middle, a
        faint overlay) the first estimate, filled in from around the overlay, misses what the game
        shows there; the median shows it, under the rest look. So there are more estimates: the
        median itself, the median with the rest look taken out where the overlay lets at least
        UNMIX_FLOOR of the game through (the median itself draws the rest look twice: a state that
        draws nothing there then explains frames at rest better than rest does), and for a stick,
        whose cap may be pushed away in most frames so that the median shows what lies under its
        rest place, the median with the look of the state it shows taken out (`_relooked`). Each
        group takes whichever explains its frames best (each frame against its nearest state, on
        the pixels where some state changes under any of them). Known hazard (docs/benchmarks.md): a
        stick held pushed in nearly every frame reads at rest throughout.
        """
        unmixed = self._unmixed(median, self.opacity)
        game = self.inpainted.copy()
        for group, window, varying, alpha, premultiplied in self.states:
            rows, cols = window
            shown = frames[:, rows, cols][:, varying]  # (T, k, 3)
            candidates = (self.inpainted, median, unmixed)
            unders = [c[window][varying] for c in candidates]  # (k, 3) each
            if _has_stick(group) and (relooked := self._relooked(group, shown, median[window][varying], unders[0], unders[2], alpha, premultiplied)) is not unders[2]:
                unders.append(relooked)
            drawn = [self.opacity * (premultiplied - alpha * under) for under in unders]  # (S, k, 3) each: what each state adds to the game
            mask = np.logical_or.reduce([np.abs(d - d[:1]).max(axis=(0, 2)) > MIN_CONTRAST for d in drawn])
            if not mask.any():
                continue
            errors = [_nearest_error(shown[:, mask] - under[mask], d[:, mask]) for under, d in zip(unders, drawn)]
            game[window] = candidates[min(best := int(np.argmin(errors)), 2)][window]
            game[window][varying] = unders[best]  # a stick's relooked game differs only on its varying pixels
        self.game = game
        self._compose()

    def _relooked(self, group: LookGroup, shown: np.ndarray, median: np.ndarray, inpainted: np.ndarray, unmixed: np.ndarray, alpha: np.ndarray, premultiplied: np.ndarray) -> np.ndarray:
        """The game solved from `median` (k, 3) under the look of the state of `group`, rest or its cap clicked, that leaves it least beyond 0-255 (the look the median shows: gameboy-pixel hides a clicked cap), of the looks' alpha (S, k, 1) and colour (S, k, 3); `unmixed` (k, 3) where that is rest or where the frames `shown` (T, k, 3) change by less than half what the two looks differ by (then the misfit is the opacity's: a cap that never moved read clicked)."""
        at_rest = np.flatnonzero(~(np.delete(group.actions, [ACTION_NAMES.index(t) for _, _, t in STICKS], axis=1) != 0).any(axis=1))  # rest (first) and the cap clicked: a cap moved draws itself where the median shows none; another press chose worse (docs/benchmarks.md)
        through = 1.0 - self.opacity * alpha[at_rest]  # (R, k, 1)
        each = (median - self.opacity * premultiplied[at_rest]) / np.maximum(through, UNMIX_FLOOR)  # (R, k, 3)
        beyond = np.where(through > UNMIX_FLOOR, np.maximum(-each, 0.0) + np.maximum(each - 255.0, 0.0), 0.0).sum(axis=(1, 2))  # (R,)
        apart = (differ := self.opacity * np.abs(premultiplied[at_rest[best := int(np.argmin(beyond))]] - premultiplied[0]).max(axis=1)) > MIN_CONTRAST  # (k,)
        if beyond[best] >= beyond[0] or not apart.any() or 2.0 * np.subtract(*np.percentile(shown[:, apart], [90, 10], axis=0)).max(axis=1).mean() < differ[apart].mean():
            return unmixed
        return np.where(through[best] > UNMIX_FLOOR, np.clip(each[best], 0.0, 255.0), inpainted)

    def fit_opacity(self, frames: np.ndarray, median: np.ndarray) -> None:
        """Choose the opacity, and under it the game (`refit_game`), among OPACITY_STEPS around the first fit: the pair that best explains `frames` (T, h, w, 3), whose per-pixel median is `median`.

        The first opacity is fitted on the median against the game filled in from around the
        overlay; where that guess is off (a large overlay over Freeway's lanes), so is the opacity,
        and a press that is a small change of colour then explains the still picture's error and reads
        held throughout (a held-out style at opacity 0.58 fitted 0.69; here 0.55). Judged by the squared
        error of the frames' explanation on the skin's pixels (`_explanation_error`). Known bias, and
        what else was tried: docs/benchmarks.md (a lower opacity wins where the plain median is a
        group's best game: 0.60 for 0.76 on a losslessly encoded clip).
        """
        first, best = self.opacity, None
        seen = frames.reshape(len(frames), -1, 3)[:, self.compared]
        for factor in OPACITY_STEPS:
            self.opacity = float(np.clip(first * factor, 0.05, 1.0))
            self.refit_game(frames, median)
            error = self._explanation_error(frames, seen)
            if best is None or error < best[0]:
                best = (error, self.opacity, self.game)
        _, self.opacity, self.game = best
        self._compose()

    def _explanation_error(self, frames: np.ndarray, seen: np.ndarray) -> float:
        """The squared error of explaining `frames` (T, h, w, 3), whose pixels `self.compared` are `seen` (T, n, 3), as the still picture plus each group's chosen change."""
        t = len(frames)
        still = (self.game + self.opacity * self.alpha * (self.rest - self.game)).reshape(-1, 3)
        still[self.pixels_used] = self.still
        predicted = np.repeat(still[self.compared][None], t, axis=0)  # (T, n, 3)
        for g, _, errors in self._choices(frames):
            pixels = self.pixels_used[self.positions[g]]
            at = np.searchsorted(self.compared, pixels)
            kept = self.compared[np.minimum(at, len(self.compared) - 1)] == pixels  # `compared` is thinned
            predicted[:, at[kept]] += self.changes[g][errors.argmin(axis=1)].reshape(t, -1, 3)[:, kept]
        return float(((seen - predicted) ** 2).sum())

    def _unmixed(self, median: np.ndarray, opacity: float) -> np.ndarray:
        """The game solved from `median` under the rest look drawn at `opacity`, where the overlay lets at least UNMIX_FLOOR of it through (elsewhere the filled-in game)."""
        covered = opacity * self.alpha  # (h, w, 1): how much of the game the rest look hides
        seen_through = 1.0 - covered > UNMIX_FLOOR
        unmixed = np.where(seen_through, (median - covered * self.rest) / np.maximum(1.0 - covered, UNMIX_FLOOR), self.inpainted)
        return np.clip(unmixed, 0.0, 255.0)

    def fit_gains(self, frames: np.ndarray) -> None:
        """Scale down the changes of each group whose presses or stick moves show in `frames` (T, h, w, 3) as a clearly separate step fainter than drawn.

        The video's encoding thins a small change of colour or a thin line (input-overlay's f710 at
        14 % of an 854-px frame shows its A press at 0.27 of its drawn change; a held-out style's thin
        cap at opacity 0.44 its moves at 0.49). Each frame's share of the change (a button: its
        projection on the drawn press; a group of more states: on the state it best matches at any
        strength, `best_share`; a stick: on its moves, clicked frames left out) is split into two
        clusters (Otsu, `look_gains.two_levels`); when the upper one (mean share a) is below GAIN_CEILING and
        clearly above the lower one (b), a button is read between b and a times its drawn press, a
        stick's moves at a times drawn (its clicks as drawn), and a d-pad or buttons read together from
        the mean of their frames at rest (the median keeps part of the presses) at the share their
        presses show beyond it, but not when half their upper cluster reaches 0.5 already (the fainter
        frames are then the encoder's trace of a press in the next frame; docs/benchmarks.md). A group
        with no such step may have one control that shows one on its own pixels (`look_gains.control_gains`).
        """
        gains = {}
        for g, residual, errors in self._choices(frames):
            group, changes, norms = self.groups[g], self.changes[g], np.maximum(self.norms[g], 1e-6)
            moves = ~(group.actions[:, BUTTON_SLICE] > 0).any(axis=1) if _has_stick(group) else None  # a stick's states with nothing pressed
            if moves is not None:  # ds3's clicked cap, a filled disc, shows at 0.88, its thin ring moved at 0.2-0.4
                shown_moves = moves[errors.argmin(axis=1)]
                share = best_share(residual[shown_moves], changes[moves], norms[moves])
            elif len(changes) > 2:  # a d-pad, buttons read together
                share = best_share(residual, changes, norms)
            elif len(changes) == 2:
                share = residual @ changes[1] / norms[1]
            else:
                continue
            levels = two_levels(share)
            joined = len(changes) > 2 and moves is None  # a d-pad, buttons read together
            if levels is None or (joined and 2 * int((share[levels[3]] >= 0.5).sum()) >= len(levels[3])):
                # No step, or half the group's presses read already (the fainter ones: the encoder's trace of a press in
                # the next frame); one of the buttons read together may still show fainter than the others (`control_gains`;
                # not a d-pad's arms alone: a cap moved over one, gameboy-pixel's, showed as an arm pressed faintly).
                if joined and not set(group.controls) <= set(DPAD) and (per_pixel := control_gains(group.controls, group.actions, changes, residual, MIN_CONTRAST)) is not None:
                    gains[group.controls] = per_pixel
                continue
            b, a, lower, upper = levels
            if len(changes) == 2:
                gains[group.controls] = (b * changes[1], a - b)
            elif moves is not None:  # its moves at the share they show (`_compose` leaves its clicks as drawn)
                gains[group.controls] = (np.zeros(changes.shape[1], np.float32), a)
            else:  # the still picture moved to the frames at rest (a little of every state), a press read at the share it shows beyond them
                at_rest = residual[lower].mean(axis=0)
                gains[group.controls] = (at_rest, float(best_share(residual[upper] - at_rest, changes, norms).mean()))
        if gains:
            self.gains = gains
            self._compose()

    def _choices(self, batch: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Each group's state chosen for the frames of `batch` (B, h, w, 3), `PASSES` times over; yields, in the last pass, (group index, the group's part of the frame (B, 3m), each state's squared error less that part's own norm (B, S))."""
        b = len(batch)
        seen = batch.reshape(b, -1, 3)[:, self.pixels_used] - self.still  # (B, n, 3): what the frame shows beyond the still picture
        explained = np.zeros_like(seen)
        chosen = [np.zeros(b, np.int64) for _ in self.groups]
        for last in [False] * (PASSES - 1) + [True]:
            for g, (pos, change, norm) in enumerate(zip(self.positions, self.changes, self.norms)):
                for stick, other, cross in self.pairs:
                    if stick == g:
                        self._choose_pair(seen, explained, chosen, stick, other, cross)
                current = change[chosen[g]].reshape(b, -1, 3)
                residual = (seen[:, pos] - explained[:, pos] + current).reshape(b, -1)  # (B, 3m): this group's part
                errors = norm[None, :] - 2.0 * residual @ change.T  # (B, S): squared error less the residual's own norm
                best = errors.argmin(axis=1)
                explained[:, pos] += change[best].reshape(b, -1, 3) - current
                chosen[g] = best
                if last:
                    yield g, residual, errors

    def _choose_pair(self, seen: np.ndarray, explained: np.ndarray, chosen: list[np.ndarray], stick: int, other: int, cross: np.ndarray) -> None:
        """Choose the states of a stick and of a group its cap moves over together, for every frame (updates `explained` and `chosen` in place).

        Chosen one at a time, a cap pushed onto a d-pad arm of its own colour reads as the arm pressed and the
        stick at rest, clicked (input-overlay's gameboy-pixel). The pair's squared error is each one's own,
        plus twice what their changes share on common pixels (`cross`).
        """
        b = len(seen)
        errors = []
        for g in (other, stick):
            pos, change = self.positions[g], self.changes[g]
            explained[:, pos] -= change[chosen[g]].reshape(b, -1, 3)
        for g in (other, stick):
            pos, change = self.positions[g], self.changes[g]
            residual = (seen[:, pos] - explained[:, pos]).reshape(b, -1)
            errors.append(self.norms[g][None, :] - 2.0 * residual @ change.T)  # (B, S_g)
        joint = errors[0][:, :, None] + errors[1][:, None, :] + 2.0 * cross[None]  # (B, S_other, S_stick)
        best = joint.reshape(b, -1).argmin(axis=1)
        chosen[other], chosen[stick] = np.divmod(best, cross.shape[1])
        for g in (other, stick):
            explained[:, self.positions[g]] += self.changes[g][chosen[g]].reshape(b, -1, 3)

    @functools.cached_property
    def doubts(self) -> list[Doubts]:
        """Per group, the state pairs a confidence compares (`look_confidence.group_doubts`); drawn up when first read (the
        opacity fit composes nine times and reads no confidence)."""
        return [group_doubts(group.actions, change, STICK_STEP, INDISTINCT) for group, change in zip(self.groups, self.changes)]

    @functools.cached_property
    def alike(self) -> dict[int, tuple[list[int], AlikeStates, np.ndarray]]:
        """Per stick group whose states draw one picture but read differently: its action columns, its `AlikeStates`, and the
        picture of each state it reads (`look_alike.told_by_time`); drawn up when first read, as `doubts` is."""
        out = {}
        for g, (group, look, kept) in self._pictures.items():
            cols = [ACTION_NAMES.index(c) for c in group.controls]
            if (states := alike_states(group.actions[:, cols], look, np.isin(group.controls, AXES), STICK_STEP)) is not None:
                out[g] = (cols, states, states.look[kept])
        return out

    def presses(self, names: set[str]) -> list[tuple[str, np.ndarray]]:
        """What the press alone of each control in `names` draws over the still picture, (name, (h, w, 3)), a stick axis pushed
        fully alone, to try against the encoder (look_erasure); not for a group read fainter than drawn (`fit_gains` saw its presses)."""
        h, w = self.game.shape[:2]
        out = []
        for group, change, positions in zip(self.groups, self.changes, self.positions):
            if group.controls in self.gains:
                continue
            for name in (n for n in group.controls if n in names):
                column = group.actions[:, ACTION_NAMES.index(name)]
                alone = np.flatnonzero((column == column.max()) & (column > 0) & ((group.actions != 0).sum(axis=1) == 1))
                if len(alone):
                    drawn = np.zeros((h * w, 3), np.float32)
                    drawn[self.pixels_used[positions]] = change[alone[0]].reshape(-1, 3)
                    out.append((name, drawn.reshape(h, w, 3)))
        return out

    def read(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """(B, 21) actions of the frames of `batch` (B, h, w, 3) float32 (each group's best-explaining state), each frame's
        confidence (B,), and per group in `self.alike` the picture each frame read (B,) (`look_alike.told_by_time`)."""
        b = len(batch)
        actions = np.zeros((b, len(ACTION_NAMES)), np.float32)
        sure = np.ones(b, np.float32)
        pictures = {}
        for g, residual, errors in self._choices(batch):
            best = errors.argmin(axis=1)
            actions += self.groups[g].actions[best]
            sure = np.minimum(sure, certainty(self.doubts[g], errors, best))
            if g in self.alike:
                pictures[g] = self.alike[g][2][best]
        return actions, sure, pictures


def _varying(looks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where some of a group's state `looks` (S, wh, ww, 4) differs from its rest look (wh, ww) bool, and there each look's
    alpha (S, k, 1) and alpha x colour (S, k, 3): elsewhere every state draws alike, so comparisons are made on these only."""
    varying = (looks != looks[:1]).any(axis=(0, 3))
    alpha = looks[:, varying, 3:] / np.float32(255.0)
    return varying, alpha, alpha * looks[:, varying, :3]


def _nearest_error(shown: np.ndarray, drawn: np.ndarray) -> float:
    """The squared error, summed over frames, of each frame of `shown` (T, m, 3) against its nearest state of `drawn` (S, m, 3)."""
    seen, flat = shown.reshape(len(shown), -1), drawn.reshape(len(drawn), -1)
    squared = (seen**2).sum(axis=1)[:, None] - 2.0 * seen @ flat.T + (flat**2).sum(axis=1)[None, :]  # (T, S)
    return float(squared.min(axis=1).sum())


def _told_apart(group: LookGroup, change: np.ndarray, look: np.ndarray | None = None) -> np.ndarray:
    """Indices of the states of `group` to read, given each one's `change` (S, 3m) from rest: a state drawn within INDISTINCT of the group's largest change from a state with fewer presses is read as that one.

    A stick's positions are all kept, but of states drawn exactly alike (`look`: `look_alike.picture_ids` of `change`) only those
    with the fewest buttons pressed (gameboy-pixel's d-pad down with its hidden clicked cap draws the cap pushed down: a matrix
    product's rounding chose between them); `look_alike.told_by_time` then reads such frames by the frames around them."""
    if _has_stick(group):
        presses = (group.actions[:, BUTTON_SLICE] > 0).sum(axis=1)
        look = picture_ids(change) if look is None else look
        fewest = np.full(look.max() + 1, presses.max())
        np.minimum.at(fewest, look, presses)
        return np.flatnonzero(presses == fewest[look])
    presses = (group.actions > 0).sum(axis=1)
    floor = INDISTINCT * float((change**2).sum(axis=1).max())
    kept: list[int] = []
    for s in np.argsort(presses, kind="stable"):
        if not any(presses[r] < presses[s] and float(((change[s] - change[r]) ** 2).sum()) < floor for r in kept):
            kept.append(int(s))
    return np.sort(np.array(kept))


def _has_stick(group: LookGroup) -> bool:
    return any(c in group.controls for c in AXES)


def _joined(skin, states: list, transform: np.ndarray, crop_box: tuple[int, int, int, int], shape: tuple[int, int], scale: float) -> list:  # noqa: ANN001
    """`states` with groups whose drawn changes touch (a stick: overlap) read together, over every combination of their states, up to MAX_JOINT_STATES (MAX_STICK_JOINT_STATES).

    Two changes that overlap do not add up (a glow drawn over another glow; a stick-click sprite
    drawn over the cap; a cap moved over a pressed d-pad arm), and read apart, one hides the other.
    """
    h, w = shape
    changed, touched = [], []
    for _, window, looks in states:
        mask = np.zeros((h, w), np.uint8)
        mask[window] = (np.abs(looks - looks[:1]).max(axis=(0, 3)) > MIN_CONTRAST).astype(np.uint8)
        changed.append(mask > 0)
        touched.append(cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0)
    parent = list(range(len(states)))

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    def count(r: int) -> int:
        return int(np.prod([len(states[k][0].actions) for k in range(len(states)) if root(k) == r]))

    for i, j in itertools.combinations(range(len(states)), 2):
        a, b = root(i), root(j)
        stick = _has_stick(states[i][0]) or _has_stick(states[j][0])  # a cap hides what it moves over; changes that only touch add up
        meet = (changed[i] & changed[j]) if stick else (touched[i] & touched[j])
        if a != b and meet.any() and count(a) * count(b) <= (MAX_STICK_JOINT_STATES if stick else MAX_JOINT_STATES):
            parent[b] = a
    joined: dict[int, list[int]] = {}
    for k in range(len(states)):
        joined.setdefault(root(k), []).append(k)
    out = []
    for members in joined.values():
        if len(members) == 1:
            out.append(states[members[0]])
            continue
        groups = [states[k][0] for k in members]
        actions = np.array([sum(g.actions[c] for g, c in zip(groups, combo)) for combo in itertools.product(*(range(len(g.actions)) for g in groups))], np.float32)
        group = LookGroup(tuple(c for g in groups for c in g.controls), actions, union_box([g.box for g in groups]))
        out.append((group, *warped_states(skin, group.box, group.actions, transform, crop_box, shape, scale)))
    return out


def _batches(frames: Iterator[np.ndarray], crop_box: tuple[int, int, int, int]) -> Iterator[np.ndarray]:
    x0, y0, x1, y1 = crop_box
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame[y0:y1, x0:x1].astype(np.float32))
        if len(batch) == BATCH:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
