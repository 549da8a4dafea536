"""Wilson intervals at the values published tables give (z = 1.96); the interval on a difference of two players."""

from __future__ import annotations

import pytest

from padflow.stats import difference_interval, wilson_interval


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


def test_a_difference_far_beyond_noise_has_an_interval_above_zero_and_equal_players_straddle_it() -> None:
    """12/12 against 0/12 on each of three tasks is resolved; the same 2/3 on ten tasks is not a difference."""
    diff, low, high = difference_interval([(12, 12)] * 3, [(0, 12)] * 3)
    assert diff == 1.0 and 0.8 < low <= high <= 1.0
    diff, low, high = difference_interval([(2, 3)] * 10, [(2, 3)] * 10)
    assert diff == 0.0 and low < 0 < high


def test_more_episodes_narrow_the_difference_interval() -> None:
    widths = [high - low for _, low, high in (difference_interval([(n // 2, n)] * 5, [(n // 4, n)] * 5) for n in (4, 12, 48))]
    assert widths[0] > widths[1] > widths[2]


def test_mismatched_task_lists_and_impossible_counts_are_named() -> None:
    with pytest.raises(ValueError, match="same non-empty task list"):
        difference_interval([(1, 3)], [(1, 3), (0, 3)])
    with pytest.raises(ValueError, match="got 4 / 3"):
        difference_interval([(4, 3)], [(1, 3)])


def test_relative_improvement_has_an_interval_and_no_point_when_the_baseline_never_succeeds():
    from padflow.stats import relative_interval

    rel, low, high = relative_interval([(9, 10)] * 4, [(3, 10)] * 4)
    assert rel == pytest.approx(2.0) and 0 < low < rel < high  # 0.9 vs 0.3: +200 %, clearly above 0
    rel, low, high = relative_interval([(2, 3)], [(0, 3)])
    assert rel is None and low < high  # no ratio from a zero rate; the posterior still bounds it


def test_the_average_over_games_weighs_each_game_alike_and_has_no_relative_point_when_a_game_scratch_is_zero():
    from padflow.stats import games_interval

    many_tasks = ([(9, 10)] * 8, [(3, 10)] * 8)  # +200 % over 8 tasks
    one_task = ([(3, 10)], [(3, 10)])  # level, 1 task
    rel, low, high = games_interval([many_tasks, one_task], relative=True)
    assert rel == pytest.approx(1.0) and 0 < low < rel < high  # (2.0 + 0.0) / 2, not pooled over 9 tasks
    diff, low, high = games_interval([many_tasks, one_task], relative=False)
    assert diff == pytest.approx(0.3) and low < diff < high
    rel, low, high = games_interval([many_tasks, ([(2, 3)], [(0, 3)])], relative=True)
    assert rel is None and low < high
    with pytest.raises(ValueError, match="at least one game"):
        games_interval([], relative=True)
