"""IDM labels against true actions: the figures idm_train, pseudo_label and `padflow score-idm` report.

Definitions (all over observed cells; padflow.tables):
    button_accuracy    mean over frames x 17 buttons of (predicted pressed == truly pressed): the
                       extract stage's "button accuracy" (padflow.overlay.scoring), and what VPT
                       calls keypress accuracy (90.6 % for its IDM) as far as its paper says; both are
                       dominated by the many cells where nothing is pressed, so F1 is given beside it
    button_f1          F1 of pressed cells pooled over all buttons; per_button_f1 per button (None when
                       the button is neither pressed nor predicted)
    stick_r2_axes      per axis, 1 - SS_res / SS_tot pooled over frames (None when the axis never moves)
    stick_r2_within_axes  per axis, 1 - SS_res / SS_within, where SS_within is taken around each video's own
                       mean: what the IDM reads beyond "which game, which video"; knowing only each video's
                       average stick scores 0 (the pooled R² credits it: an IDM that learnt that Freeway
                       goes up scores there without reading a frame). Each add() is one video
    baseline           the same figures for "never press, sticks centred", what an IDM must beat
A button is predicted pressed when its probability is > 0.5.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from padflow.actions import AXES, AXIS_SLICE, BUTTON_SLICE, BUTTONS

SCORES_FILE = "scores.json"  # beside an exported IDM: its figures on its training and validation videos (tasks/idm_train.py)


class ActionScore:
    """Sums over any number of (pred, truth, observed) videos; `summary()` gives the figures."""

    def __init__(self) -> None:
        self.right = np.zeros(len(BUTTONS))
        self.cells = np.zeros(len(BUTTONS))
        self.tp, self.fp, self.fn = np.zeros(len(BUTTONS)), np.zeros(len(BUTTONS)), np.zeros(len(BUTTONS))
        self.base_right = 0.0
        self.n_axis = np.zeros(len(AXES))
        self.sum_y, self.sum_y2, self.sum_res2 = np.zeros(len(AXES)), np.zeros(len(AXES)), np.zeros(len(AXES))
        self.ss_within = np.zeros(len(AXES))
        self.frames = 0

    def add(self, pred: np.ndarray, truth: np.ndarray, observed: np.ndarray | None = None) -> ActionScore:
        """pred, truth (T, 21) unified actions (pred buttons may be probabilities); observed (21,) bool or None."""
        if pred.shape != truth.shape:
            raise ValueError(f"predicted actions {pred.shape} and truth {truth.shape} differ in shape")
        seen = np.ones(pred.shape[1], bool) if observed is None else np.asarray(observed, bool)
        buttons, axes = seen[BUTTON_SLICE], seen[AXIS_SLICE]
        p, t = pred[:, BUTTON_SLICE] > 0.5, truth[:, BUTTON_SLICE] > 0.5
        n = len(truth)
        self.frames += n
        self.right += ((p == t).sum(0)) * buttons
        self.base_right += float((~t).sum(0)[buttons].sum())
        self.cells += n * buttons
        self.tp += (p & t).sum(0) * buttons
        self.fp += (p & ~t).sum(0) * buttons
        self.fn += (~p & t).sum(0) * buttons
        y, yhat = truth[:, AXIS_SLICE].astype(np.float64), pred[:, AXIS_SLICE].astype(np.float64)
        self.n_axis += n * axes
        self.sum_y += y.sum(0) * axes
        self.sum_y2 += (y**2).sum(0) * axes
        self.sum_res2 += ((y - yhat) ** 2).sum(0) * axes
        self.ss_within += ((y - y.mean(0)) ** 2).sum(0) * axes if n else 0.0
        return self

    def summary(self) -> dict[str, Any]:
        cells = self.cells.sum()
        r2: dict[str, float | None] = {}
        base_r2: dict[str, float | None] = {}
        within: dict[str, float | None] = {}
        for i, axis in enumerate(AXES):
            within[axis] = round(float(1 - self.sum_res2[i] / self.ss_within[i]), 4) if self.ss_within[i] > 1e-9 else None
            n = self.n_axis[i]
            ss_tot = self.sum_y2[i] - self.sum_y[i] ** 2 / n if n else 0.0
            ok = ss_tot > 1e-9
            r2[axis] = round(float(1 - self.sum_res2[i] / ss_tot), 4) if ok else None
            base_r2[axis] = round(float(1 - self.sum_y2[i] / ss_tot), 4) if ok else None  # centred sticks
        valid = [v for v in r2.values() if v is not None]
        return {
            "frames": int(self.frames),
            "button_accuracy": round(float(self.right.sum() / cells), 4) if cells else None,
            "button_f1": _f1(self.tp.sum(), self.fp.sum(), self.fn.sum()),
            "per_button_f1": {b: _f1(tp, fp, fn) for b, tp, fp, fn in zip(BUTTONS, self.tp, self.fp, self.fn)},
            "stick_r2": round(float(np.mean(valid)), 4) if valid else None,
            "stick_r2_axes": r2,
            "stick_r2_within_axes": within,
            "baseline_button_accuracy": round(float(self.base_right / cells), 4) if cells else None,
            "baseline_stick_r2_axes": base_r2,
        }


def score_videos(pairs: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> dict[str, Any]:
    """summary() over (pred, truth, observed) videos; each pair is cut to the frames both have."""
    score = ActionScore()
    for pred, truth, observed in pairs:
        n = min(len(pred), len(truth))
        score.add(pred[:n], truth[:n], observed)
    return score.summary()


def _f1(tp: float, fp: float, fn: float) -> float | None:
    return round(float(2 * tp / (2 * tp + fp + fn)), 4) if (tp + fp + fn) else None
