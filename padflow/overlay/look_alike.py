"""States a skin draws exactly alike, told apart by the frames around them (padflow.overlay.look_reader).

Some skins draw two states that read differently as one picture. input-overlay's pixel presets with a stick hide
the cap while it is clicked, so every place of the cap looks the same then, and draw the cap pushed onto a d-pad
arm as that arm pressed with the cap clicked (the cap has the lit arm's colour). No frame can tell such states
apart: alone, the look reader reads the one with the fewest presses, and of a hidden cap its first place, the
centre. The frames around a run of such pictures tell more:

- Which presses: each run of frames whose read picture is drawn by states that read differently takes, among the
  states drawing each frame's picture, the path that changes the fewest controls from the frame before the run to
  the frame after it; of equal paths, the one whose stick moves least, then the states with fewest presses. A cap
  that shows up on an arm was pushed there if it was near, else the arm lit with the cap clicked.
- Where a hidden cap is: a frame whose chosen presses the picture draws at every place of the cap (the cap is not
  drawn) shows no place; its stick reads the straight way from where the cap was last seen to where it is seen
  next (the nearer one at either end of the video). Of the times a cap might have moved while hidden, none is
  told; the way between is the least squared error over all of them, and a cap held while clicked reads where it
  is held. A cap drawn alike at some places only (of the pad's colour there: n64-pixel's right cap, at rest and
  around) reads the one nearest the centre, where a stick rests, as the reader alone reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AlikeStates:
    """A group's states, every one (also those the reader does not read), and which of them draw one picture."""

    values: np.ndarray  # (S, k) int: the group's controls in each state, a button 0/1, a stick axis in grid steps from centre
    look: np.ndarray  # (S,) int: the picture each state draws; states with one number draw exactly alike
    axes: np.ndarray  # (k,) bool: which of the group's controls are stick axes
    step: float  # a grid step in axis units
    ambiguous: np.ndarray  # (pictures,) bool: pictures drawn by states that read differently
    hidden: np.ndarray  # (S,) bool: states whose picture the same presses draw at every place of the stick (the cap is not drawn)
    read_as: np.ndarray  # (S,) bool: states a frame may be read as: hidden ones, and of a picture's presses drawn at some places, the one nearest the centre


def picture_ids(change: np.ndarray) -> np.ndarray:
    """(S,) int: one number per distinct row of `change` (S, n), in order of first appearance (np.unique(axis=0) sorts: 1.3 s a stick group)."""
    seen: dict[bytes, int] = {}
    return np.array([seen.setdefault(row.tobytes(), len(seen)) for row in change])


def alike_states(values: np.ndarray, look: np.ndarray, axes: np.ndarray, step: float) -> AlikeStates | None:
    """The `AlikeStates` of a group whose states set its controls to `values` (S, k) and draw pictures `look` (S,)
    (`picture_ids`), `axes` (k,) marking its stick axes on a grid of `step`; None when no two states drawn alike read
    differently. Places one grid step apart read nearly the same (as the confidence counts them): a round travel
    draws a cap pushed to (0.8, 0.8) and to (1, 1) at one place, and that is no doubt."""
    cells = np.where(axes, np.rint(values / step), values).astype(np.int64)
    _, kind = np.unique(np.column_stack([look, np.where(axes, 0, cells)]), axis=0, return_inverse=True)  # a picture with its presses
    kind = kind.reshape(-1)
    patterns = np.bincount(np.unique(np.column_stack([look, kind]), axis=0)[:, 0], minlength=look.max() + 1)  # presses per picture
    wide = _spread(cells[:, axes], kind) > 1  # (kinds,): its places further apart than a grid step
    ambiguous = (patterns > 1) | (np.bincount(look, weights=wide[kind], minlength=look.max() + 1) > 0)
    if not ambiguous.any():
        return None
    places = np.unique(np.column_stack([kind, cells[:, axes]]), axis=0)[:, 0]
    everywhere = np.bincount(places, minlength=kind.max() + 1) == len(np.unique(cells[:, axes], axis=0))  # (kinds,)
    order = np.lexsort(((cells[:, axes] ** 2).sum(axis=1), kind))  # by kind, then nearest the centre
    nearest = np.zeros(len(kind), bool)
    nearest[order[np.r_[True, kind[order][1:] != kind[order][:-1]]]] = True
    return AlikeStates(cells, look, np.asarray(axes, bool), step, ambiguous, everywhere[kind], everywhere[kind] | nearest)


def _spread(cells: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """(kinds,) the largest range, over axes, of the `cells` (S, a) of the states of each `kind` (S,)."""
    n = kind.max() + 1
    low = np.full((n, cells.shape[1]), np.iinfo(np.int64).max)
    high = np.full((n, cells.shape[1]), np.iinfo(np.int64).min)
    np.minimum.at(low, kind, cells)
    np.maximum.at(high, kind, cells)
    return (high - low).max(axis=1, initial=0)


def told_by_time(read: np.ndarray, pictures: np.ndarray, alike: AlikeStates) -> np.ndarray:
    """The group's controls `read` (T, k) in every frame, each run of frames whose read picture (`pictures` (T,)) is
    ambiguous read again as the path through the states drawing those pictures that changes the fewest controls
    from the frame before the run to the frame after it, and a stick whose place that picture hides read on the way
    between its places seen before and after (module doc)."""
    out = np.array(read, np.float32, copy=True)
    unsure = alike.ambiguous[pictures]
    if not unsure.any():
        return out
    cells = np.where(alike.axes, np.rint(out / alike.step), out).astype(np.int64)
    presses = np.where(alike.axes, 0, alike.values).sum(axis=1)
    span = 2 * int(np.abs(alike.values[:, alike.axes]).max(initial=1))  # grid steps an axis can move between two frames
    members = {}
    for p in np.unique(pictures[unsure]):
        drawing = np.flatnonzero((alike.look == p) & alike.read_as)
        members[p] = drawing[np.argsort(presses[drawing], kind="stable")]
    hidden = np.zeros(len(out), bool)
    for start, stop in _runs(unsure):
        options = [members[p] for p in pictures[start:stop]]
        path = _fewest_changes([alike.values[m] for m in options], cells[start - 1] if start > 0 else None,
                               cells[stop] if stop < len(out) else None, alike.axes, span)  # fmt: skip
        for t, (m, k) in enumerate(zip(options, path)):
            out[start + t] = np.where(alike.axes, alike.values[m[k]] * alike.step, alike.values[m[k]])
            hidden[start + t] = alike.hidden[m[k]]
    seen = np.flatnonzero(~hidden)
    if len(seen):
        frames = np.flatnonzero(hidden)
        for axis in np.flatnonzero(alike.axes):
            out[frames, axis] = np.interp(frames, seen, out[seen, axis])
    return out


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in `flags` (T,)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _fewest_changes(candidates: list[np.ndarray], before: np.ndarray | None, after: np.ndarray | None, axes: np.ndarray, span: int) -> list[int]:
    """Per frame, the index into its `candidates` (M_t, k) of the path that changes the fewest controls between `before`
    and `after` (k,) (None: the run starts or ends the video), then moves the sticks least (Viterbi; first index on ties)."""
    # A path's stick moves sum to at most (changes of frame) x (axes) x `span` grid steps: a changed control weighted
    # above that keeps the count first and the moves second, in exact integer arithmetic.
    weight = (len(candidates) + 1) * int(axes.sum()) * span + 1

    def cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # (A, k), (B, k) -> (A, B)
        d = np.abs(a[:, None] - b[None])
        return weight * (d > 0).sum(axis=-1) + (d * axes).sum(axis=-1)

    total = cost(before[None], candidates[0])[0] if before is not None else np.zeros(len(candidates[0]), np.int64)
    back = []
    for prev, cur in zip(candidates, candidates[1:]):
        step = total[:, None] + cost(prev, cur)
        back.append(step.argmin(axis=0))
        total = step.min(axis=0)
    if after is not None:
        total = total + cost(candidates[-1], after[None])[:, 0]
    path = [int(total.argmin())]
    for choice in reversed(back):
        path.append(int(choice[path[-1]]))
    return path[::-1]
