"""Completion-rate reports: the Wilson interval (scipy's), suite rows, evaluation rows with failed tasks."""

from __future__ import annotations

import math

import pytest

from padflow.players.report import (
    HELD_OUT,
    OVERALL,
    TRAINED,
    difference_metrics,
    differences,
    differences_markdown,
    discriminating_tasks,
    failed_tasks,
    markdown_report,
    rate_metrics,
    rate_rows,
    rates_by_task,
    wilson_interval,
)
from padflow.players.rollout import EpisodeResult


def hand_wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The formula the report used before it called scipy: the numbers must not move."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def test_wilson_interval_keeps_the_numbers_of_the_hand_formula() -> None:
    for n in range(1, 61):
        for k in range(n + 1):
            lo, hi = wilson_interval(k, n)
            want = hand_wilson(k, n)
            assert (round(lo, 4), round(hi, 4)) == (round(want[0], 4), round(want[1], 4)), (k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(3, 3)[1] == pytest.approx(1.0)


def result(task_id: str, player: str, success: bool, seed: int = 0) -> EpisodeResult:
    return EpisodeResult(task_id, player, seed, success, frames=10, game_seconds=0.5, wall_seconds=0.01)


def test_suite_rows_in_suite_order_with_rates_and_intervals() -> None:
    results = [result("doom_basic_first_shot", "scripted", True, s) for s in range(4)]
    results += [result("doom_basic_first_shot", "random", s == 0, s) for s in range(4)]
    results += [result("pong_hold_15s", "scripted", True), result("pong_hold_15s", "random", False)]
    rows = rates_by_task(results)
    assert [r["id"] for r in rows] == ["pong_hold_15s", "doom_basic_first_shot"]  # atari before doom
    doom = rows[1]
    assert (doom["scripted"], doom["random"], doom["random_n"]) == (1.0, 0.25, 4)
    assert doom["random_ci"] == tuple(round(v, 3) for v in wilson_interval(1, 4))
    assert discriminating_tasks(rows) == ["pong_hold_15s", "doom_basic_first_shot"]


def test_a_failed_task_counts_in_its_own_row_and_in_no_aggregate() -> None:
    tasks = ["pong_hold_15s", "doom_basic_first_shot"]
    failed = failed_tasks([("pong_hold_15s", "policy", None), ("doom_basic_first_shot", "policy", "RuntimeError: boom"),
                           ("doom_basic_first_shot", "noop", "RuntimeError: again")])
    assert failed == {"doom_basic_first_shot": "policy: RuntimeError: boom; noop: RuntimeError: again"}
    results = [result("pong_hold_15s", "policy", True), result("pong_hold_15s", "noop", False),
               result("doom_basic_first_shot", "policy", True)]
    rows = rate_rows(results, ["policy", "noop"], tasks, failed)
    index = {(r["level"], r["group"], r["player"]): r for r in rows}
    assert index[("task", "doom_basic_first_shot", "policy")]["episodes"] == 1
    assert index[("task", "doom_basic_first_shot", "policy")]["failed"]
    assert index[("overall", OVERALL, "policy")]["episodes"] == 1  # pong only
    assert index[("dim", "3D", "policy")]["rate"] is None
    metrics = rate_metrics(rows)
    assert metrics["policy.overall"] == 1.0 and metrics["noop.overall"] == 0.0
    assert "policy.dim.3D" not in metrics


def test_trained_and_held_out_tasks_are_aggregated_apart_with_intervals() -> None:
    tasks = ["pong_hold_15s", "pong_score_point", "doom_basic_first_shot"]
    splits = {"pong_score_point": HELD_OUT}  # the others: trained
    results = [result(t, "policy", t != "pong_score_point", s) for t in tasks for s in range(3)]
    rows = rate_rows(results, ["policy"], tasks, {}, splits)
    index = {(r["split"], r["level"], r["group"]): r for r in rows}
    assert (index[(TRAINED, "overall", OVERALL)]["successes"], index[(TRAINED, "overall", OVERALL)]["episodes"]) == (6, 6)
    held_out = index[(HELD_OUT, "overall", OVERALL)]
    assert (held_out["successes"], held_out["episodes"]) == (0, 3)
    assert (held_out["ci_low"], held_out["ci_high"]) == (0.0, 0.5615)  # Wilson 0/3
    assert index[(TRAINED, "game", "pong")]["episodes"] == 3 and index[(HELD_OUT, "game", "pong")]["episodes"] == 3
    metrics = rate_metrics(rows)
    assert metrics["policy.overall"] == 1.0 and metrics["policy.held_out.overall"] == 0.0
    assert metrics["policy.held_out.overall.ci_high"] == 0.5615 and metrics["policy.overall.ci_low"] == 0.6097
    assert metrics["policy.held_out.task.pong_score_point"] == 0.0
    page = markdown_report(rows, ["policy"], {}, [], "# header")
    trained_at, held_out_at = page.index("## Trained tasks"), page.index("## Held-out tasks")
    assert trained_at < page.index("| pong_hold_15s |") < held_out_at < page.index("| pong_score_point |")
    assert "0.00 [0.00, 0.56]" in page[held_out_at:]


def test_policy_minus_each_baseline_per_split_over_the_tasks_both_played() -> None:
    tasks = ["pong_hold_15s", "doom_basic_first_shot", "pong_score_point", "freeway_cross_once"]
    splits = {"pong_score_point": HELD_OUT}
    results = [result(t, p, p == "policy", s) for t in tasks for p in ("policy", "blind") for s in range(12)]
    results = [r for r in results if not (r.task_id == "freeway_cross_once" and r.player == "blind")]  # blind never got there
    rows = rate_rows(results, ["policy", "blind"], tasks, {"doom_basic_first_shot": "policy: crashed"}, splits)
    diffs = {d["split"]: d for d in differences(rows, "policy", ["blind"])}
    trained, held_out = diffs[TRAINED], diffs[HELD_OUT]
    assert trained["tasks"] == 1, "the failed task and the one blind never played are left out"
    assert trained["difference"] == 1.0 and trained["ci_low"] > 0.7 and held_out["tasks"] == 1
    assert difference_metrics(diffs.values())["policy.held_out.minus_blind.ci_low"] == held_out["ci_low"]
    page = differences_markdown(list(diffs.values()))
    assert "| blind | +1.00 [" in page and "(1 task)" in page
