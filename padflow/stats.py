"""Intervals on the rates padflow reports: the Wilson score interval of a binomial success rate, and an
interval on the difference of two players' mean completion over the same tasks.

scipy computes it (`scipy.stats.binomtest(...).proportion_ci(method="wilson")`, the score interval of
E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22 (1927)):
unlike the normal approximation it stays inside [0, 1] and is not empty at 0/n or n/n, the rates a
few evaluation episodes give most often (0/3 → [0, 0.56], 3/3 → [0.44, 1]).

The difference of two players over a task set draws each task's rate from its Jeffreys posterior,
Beta(s + 1/2, n - s + 1/2) (the prior behind the Jeffreys interval of Brown, Cai & DasGupta, "Interval
estimation for a binomial proportion", Statistical Science 16 (2001)), for both players independently,
and takes the quantiles of the mean difference (or, for a relative improvement, of the ratio of the means). Resampling episodes instead (a plain bootstrap) gives a
task at 0/n or n/n no spread at all, and those are most tasks of a short evaluation. The tasks are
fixed: the interval is about these tasks, not about tasks in general.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest

CONFIDENCE = 0.95
DIFFERENCE_DRAWS = 20_000  # posterior draws per interval: the bounds move by < 0.005 between seeds


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval (low, high) of `successes` in `n` trials; (0, 1) when n == 0 (nothing is known)."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"successes / n: need 0 <= successes <= n, got {successes} / {n}")
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def difference_interval(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]], confidence: float = CONFIDENCE,
                        draws: int = DIFFERENCE_DRAWS, seed: int = 0) -> tuple[float, float, float]:
    """(mean over tasks of rate_a - rate_b, low, high) for per-task (successes, episodes) of two players on the same
    tasks, in the same order; the interval from Jeffreys posterior draws (module doc)."""
    point, low, high = games_interval([(a, b)], False, confidence, draws, seed)
    return float(point), low, high  # a difference always has a point


def relative_interval(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]], confidence: float = CONFIDENCE,
                      draws: int = DIFFERENCE_DRAWS, seed: int = 0) -> tuple[float | None, float, float]:
    """(mean rate_a / mean rate_b - 1, low, high): the relative improvement of a over b on the same tasks (NitroGen's
    transfer figure), from the same posterior draws as difference_interval. The point is None when b's mean rate is 0
    (no ratio); the interval still exists, since a posterior mean is never 0, but is then very wide."""
    return games_interval([(a, b)], True, confidence, draws, seed)


def games_interval(games: Sequence[tuple[Sequence[tuple[int, int]], Sequence[tuple[int, int]]]], relative: bool,
                   confidence: float = CONFIDENCE, draws: int = DIFFERENCE_DRAWS,
                   seed: int = 0) -> tuple[float | None, float, float]:
    """(mean over games, low, high) of each game's difference (or relative improvement, `relative`) of a over b on
    that game's tasks: NitroGen's average over held-out games, each game weighted alike whatever its task count.
    Each game's rates are drawn from their Jeffreys posteriors (module doc); the interval is over the mean of the
    games' drawn figures. The relative point is None when b's mean rate is 0 in any game. One game:
    difference_interval / relative_interval."""
    if not games:
        raise ValueError("games: need at least one game's (a, b) task counts")
    figures, points = [], []
    for i, (a, b) in enumerate(games):
        mean_a, mean_b = _posterior_means(a, b, draws, seed + i)
        figures.append(mean_a / mean_b - 1 if relative else mean_a - mean_b)
        if relative:
            rate_a, rate_b = float(np.mean(_rates(a))), float(np.mean(_rates(b)))
            points.append(rate_a / rate_b - 1 if rate_b > 0 else None)
        else:
            points.append(float(np.mean(_rates(a) - _rates(b))))
    low, high = np.quantile(np.mean(figures, axis=0), [(1 - confidence) / 2, (1 + confidence) / 2])
    point = None if any(p is None for p in points) else float(np.mean(points))
    return point, float(low), float(high)


def _rates(counts: Sequence[tuple[int, int]]) -> np.ndarray:
    s, n = np.array(counts, dtype=float).T
    return s / n


def _posterior_means(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]], draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(draws,) posterior mean rate over the tasks of each player (Jeffreys posterior per task, independent)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"tasks: need the same non-empty task list for both players, got {len(a)} and {len(b)}")
    for s, n in (*a, *b):
        if n < 1 or not 0 <= s <= n:
            raise ValueError(f"successes / episodes: need 0 <= successes <= episodes and episodes >= 1, got {s} / {n}")
    rng = np.random.default_rng(seed)
    sa, na = np.array(a, dtype=float).T
    sb, nb = np.array(b, dtype=float).T
    mean_a = rng.beta(sa + 0.5, na - sa + 0.5, (draws, len(a))).mean(axis=1)
    mean_b = rng.beta(sb + 0.5, nb - sb + 0.5, (draws, len(b))).mean(axis=1)
    return mean_a, mean_b
