"""How clearly a frame shows the state padflow.overlay.look_reader read: the confidence the gate's `min_confidence` reads.

Per group, against each state k that reads differently from the read state r, (error_k - error_r) / |look_k - look_r|²
is 1 where the frame shows the read look exactly and 0 halfway between the two looks (the frame seen as the read look
plus t times the way to k: 1 - 2t); a frame's confidence in the group is its least value, clipped to [0, 1].
Measured along the way between two looks, so the game moving under a translucent overlay, which changes the frame
across it, moves it little.

States that read nearly the same do not count (`Doubts.near`): a stick's cells one grid step away (as the parser's
confidence counts its mass around the reading), and states drawn alike. A stick whose cap sits between two grid
steps shows part of the way to the neighbouring cell; when that cell's state also presses a button (the clicked cap
one step away), the way to it is mostly the cap's move, and the frame would doubt the click only because of where
the cap is. So a state with other buttons at a neighbouring cell is doubted only where the frame is also unsure
between it and the state at its own cell with the read buttons (`Doubts.same_place`): input-overlay's
xbox-controller, read right in every frame, had 13-27 % of its frames below 0.2 that way (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from padflow.actions import AXIS_SLICE, BUTTON_SLICE


@dataclass(frozen=True)
class Doubts:
    """One group's state pairs a confidence compares, from its states' `actions` (S, 21) and changes from rest."""

    apart: np.ndarray  # (S, S) squared distance between two states' looks
    near: np.ndarray  # (S, S) bool: state j reads as state i (not a doubt)
    same_place: np.ndarray | None  # (S, S) int: for a state j at a neighbouring cell with other buttons than i, the state at j's cell with i's buttons; else -1 (None: no such pair)


def group_doubts(actions: np.ndarray, change: np.ndarray, step: float, indistinct: float) -> Doubts:
    """The `Doubts` of a group whose states press `actions` (S, 21) and change its look from rest by `change` (S, 3m).

    `step`: a stick's grid step (axis values within it of each other are neighbouring cells); `indistinct`: the share
    of the group's largest squared change below which two states are drawn alike (no frame can tell those apart: a
    pixel-art cap moves a whole block for several grid cells)."""
    norms = (change**2).sum(axis=1)
    apart = np.maximum(norms[:, None] + norms[None, :] - 2.0 * change @ change.T, 0.0)  # (S, S)
    buttons = actions[:, BUTTON_SLICE]
    same_buttons = (buttons[:, None] == buttons[None, :]).all(axis=-1)
    neighbours = (np.abs(actions[:, None, AXIS_SLICE] - actions[None, :, AXIS_SLICE]) <= step + 1e-6).all(axis=-1)
    alike = apart < indistinct * float(norms.max(initial=0.0))
    cells, cell = np.unique(actions[:, AXIS_SLICE], axis=0, return_inverse=True)
    patterns, pattern = np.unique(buttons, axis=0, return_inverse=True)
    cell, pattern = cell.reshape(-1), pattern.reshape(-1)  # numpy 2.0.0 shaped the inverse along the axis
    state = np.full((len(cells), len(patterns)), -1, np.int32)
    state[cell, pattern] = np.arange(len(actions))
    moved = neighbours & ~same_buttons & (cell[:, None] != cell[None, :])
    same_place = np.where(moved, state[cell[None, :], pattern[:, None]], -1).astype(np.int32)  # [i, j]: j's cell, i's buttons
    return Doubts(apart, (same_buttons & neighbours) | alike, same_place if moved.any() else None)


def certainty(doubts: Doubts, errors: np.ndarray, best: np.ndarray) -> np.ndarray:
    """(B,) how clearly each frame shows its read state `best` (B,) rather than any state that reads differently, from
    each state's squared `errors` (B, S) (any offset common to a frame's states cancels)."""
    b = len(errors)
    read = errors[np.arange(b), best][:, None]
    gap = (errors - read) / np.maximum(doubts.apart[best], 1e-6)  # (B, S)
    if doubts.same_place is not None:  # a stick with a click: the read place's neighbours clicked
        place = doubts.same_place[best]  # (B, S)
        there = np.maximum(place, 0)
        at_place = (errors - np.take_along_axis(errors, there, axis=1)) / np.maximum(doubts.apart[there, np.arange(errors.shape[1])], 1e-6)
        gap = np.where(place >= 0, np.maximum(gap, at_place), gap)
    least = np.where(doubts.near[best], np.inf, gap).min(axis=1, initial=np.inf)
    return np.clip(np.where(np.isfinite(least), least, 1.0), 0.0, 1.0).astype(np.float32)
