"""Intervals on the rates padflow reports: the Wilson score interval of a binomial success rate.

scipy computes it (`scipy.stats.binomtest(...).proportion_ci(method="wilson")`, the score interval of
E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22 (1927)):
unlike the normal approximation it stays inside [0, 1] and is not empty at 0/n or n/n, the rates a
few evaluation episodes give most often (0/3 → [0, 0.56], 3/3 → [0.44, 1]).
"""

from __future__ import annotations

from scipy.stats import binomtest

CONFIDENCE = 0.95


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval (low, high) of `successes` in `n` trials; (0, 1) when n == 0 (nothing is known)."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"successes / n: need 0 <= successes <= n, got {successes} / {n}")
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)
