"""How much fainter than drawn a video shows a control's changes: the two-level split padflow.overlay.look_reader's `fit_gains` reads them by.

The video's encoding thins a small change of colour or a thin line, so a press can reach the
frames at a fraction of what drawing the skin predicts; read against the drawn change, it is read
as no press. Each sampled frame's share of a change (its projection on the drawn change, over
that change's own norm) then falls into two clusters, frames at rest and frames pressed, the
pressed one below GAIN_CEILING.
"""

from __future__ import annotations

import numpy as np

from padflow.actions import ACTION_NAMES

GAIN_CEILING = 0.65  # a press the frames show below this share of its drawn change is read at the share they show: read as drawn, a press shown near half its change falls either side of the halfway mark (one value tried: docs/benchmarks.md)
GAIN_FLOOR = 0.2  # the faintest step, as a share of a press's drawn change, read as a press (a never-pressed trigger over Road Runner's moving road split at a step of 0.13; the real presets' fainter presses step 0.36-0.53)
GAIN_SEPARATION = 4.0  # how far apart, in their pooled spread, the fainter presses and the frames at rest must lie (chosen on the tune presets over 3; a split of one cluster of noise lies ~2.7 apart)
MIN_GAIN_FRAMES = 3  # sampled frames that must show the fainter press before its gain is fitted
MIN_PRESS_LIKENESS = 0.48  # `control_gains`: the mean cosine, over the fainter cluster's frames, between what a control's own pixels show and its drawn press; the middle of a narrow gap on the tune set: faint presses 0.499 (f710's right trigger, seed 2) to 0.96 (Xbox KBA's A, seed 0), game under never-pressed START and triggers of the default corpus (seed 0) 0.34-0.46


def two_levels(share: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray] | None:
    """The frames' shares (T,) split into two clusters, the least spread within (Otsu): (b, a, lower, upper), the lower and
    upper cluster's mean share and their frames' indices, when each holds MIN_GAIN_FRAMES frames, a < GAIN_CEILING and the step
    a - b is at least GAIN_FLOOR and GAIN_SEPARATION pooled spreads; else None."""
    t = len(share)
    if t < 2 * MIN_GAIN_FRAMES:
        return None
    order = np.argsort(share)
    ranked = share[order]
    k = 1 + int(np.argmin([ranked[:j].var() * j + ranked[j:].var() * (t - j) for j in range(1, t)]))
    lower, upper = ranked[:k], ranked[k:]
    spread = np.sqrt((lower.var() * k + upper.var() * (t - k)) / t)
    b, a = float(lower.mean()), float(upper.mean())
    if min(k, t - k) >= MIN_GAIN_FRAMES and a < GAIN_CEILING and a - b >= GAIN_FLOOR and a - b >= GAIN_SEPARATION * spread:
        return b, a, order[:k], order[k:]
    return None


def best_share(residual: np.ndarray, changes: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """(T,) each frame's share of the state it best matches at any strength: the projection of its `residual` (T, 3m) on that state's change
    (`changes` (S, 3m), squared `norms` (S,))."""
    dots = residual @ changes.T  # (T, S)
    best = np.where(dots > 0, dots**2 / norms, 0.0).argmax(axis=1)
    return dots[np.arange(len(dots)), best] / norms[best]


def control_gains(controls: tuple[str, ...], actions: np.ndarray, changes: np.ndarray, residual: np.ndarray, contrast: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Per pixel, for controls read together: (offset (3m,), gain (1, 3m)) where a control's own pixels show its press fainter than
    drawn, or None where none does.

    Buttons read together (their drawn changes touch) share one gain in `fit_gains`, but one of them can be
    thinned alone: input-overlay's Xbox KBA A button presses grey to green, a change mostly of chroma the
    encoder thins to half, beside blue, orange and red ones seen at full strength. Each control's own
    pixels are those its press alone (`actions` (S, 21), `changes` (S, 3m)) changes by more than
    `contrast` grey levels and no other control's press alone does; its share in each frame of `residual`
    (T, 3m) is the projection there on its press alone, split by `two_levels`; a control that splits is
    read there between its two levels, as a single button is, if what its fainter frames show there looks like its
    press (MIN_PRESS_LIKENESS: fewer pixels than a whole button, so game motion under it can split too).
    """
    m = changes.shape[1] // 3
    pressed = actions[:, [ACTION_NAMES.index(c) for c in controls]] > 0  # (S, C)
    single = pressed & (pressed.sum(axis=1, keepdims=True) == 1)  # (S, C): each control's press alone
    alone = [int(np.argmax(column)) if column.any() else -1 for column in single.T]
    marks = np.stack([np.abs(changes[a].reshape(m, 3)).max(axis=1) > contrast if a >= 0 else np.zeros(m, bool) for a in alone])  # (C, m)
    offset, gain = np.zeros((m, 3), np.float32), np.ones((m, 3), np.float32)
    seen = residual.reshape(len(residual), m, 3)
    fitted = False
    for i, state in enumerate(alone):
        own = marks[i] & (marks.sum(axis=0) == 1)
        if state < 0 or not own.any():
            continue
        drawn = changes[state].reshape(m, 3)[own]  # (n, 3)
        share = (seen[:, own] * drawn).sum(axis=(1, 2)) / max(float((drawn**2).sum()), 1e-6)
        levels = two_levels(share)
        if levels is None:
            continue
        b, a, _, upper = levels
        shown = seen[upper][:, own].reshape(len(upper), -1) - b * drawn.reshape(1, -1)  # (U, 3n): beyond the frames at rest
        likeness = shown @ drawn.reshape(-1) / (np.linalg.norm(shown, axis=1) * np.linalg.norm(drawn) + 1e-9)
        if float(likeness.mean()) < MIN_PRESS_LIKENESS:
            continue
        offset[own], gain[own] = b * drawn, a - b
        fitted = True
    return (offset.reshape(-1), gain.reshape(1, -1)) if fitted else None
