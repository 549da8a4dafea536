"""Wilson intervals at the values published tables give (z = 1.96)."""

from __future__ import annotations

import pytest

from padflow.stats import wilson_interval


def test_no_success_and_all_successes_in_three_episodes() -> None:
    # 0/3: [0, z² / (n + z²)] = [0, 0.5615]; 3/3 mirrors it: [0.4385, 1].
    assert wilson_interval(0, 3) == pytest.approx((0.0, 0.5615), abs=1e-4)
    assert wilson_interval(3, 3) == pytest.approx((0.4385, 1.0), abs=1e-4)


def test_a_middle_rate_and_no_episodes() -> None:
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_impossible_counts_are_named() -> None:
    with pytest.raises(ValueError, match="successes <= n, got 4 / 3"):
        wilson_interval(4, 3)
