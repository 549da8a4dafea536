"""Success rates per task and player, with Wilson 95% intervals, as rows, Markdown or JSON."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from padflow.sim.registry import all_tasks
from padflow.sim.rollout import EpisodeResult

Z95 = 1.959964  # two-sided 95% normal quantile


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial rate; (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rates_by_task(results: Iterable[EpisodeResult]) -> list[dict]:
    """One row per task (suite order): id, game, category, dim, and per player rate / n / CI."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        c = counts[(r.task_id, r.player)]
        c[0] += int(r.success)
        c[1] += 1
    players = sorted({p for _, p in counts}, key=lambda p: ("scripted", "random", "noop").index(p) if p in ("scripted", "random", "noop") else 9)
    rows = []
    for task in all_tasks().values():
        if not any((task.id, p) in counts for p in players):
            continue
        row = {"id": task.id, "game": task.game, "engine": task.engine, "category": task.category, "dim": task.dim}
        for p in players:
            s, n = counts.get((task.id, p), (0, 0))
            lo, hi = wilson_interval(s, n)
            row[p] = s / n if n else None
            row[f"{p}_n"] = n
            row[f"{p}_ci"] = (round(lo, 3), round(hi, 3))
        rows.append(row)
    return rows


def suite_markdown(rows: list[dict], players: Iterable[str]) -> str:
    players = list(players)
    head = "| task | game | category | dim | " + " | ".join(players) + " |"
    sep = "|" + "---|" * (4 + len(players))
    lines = [head, sep]
    for r in rows:
        cells = []
        for p in players:
            rate = r.get(p)
            cells.append("—" if rate is None else f"{rate:.2f}")
        lines.append(f"| {r['id']} | {r['game']} | {r['category']} | {r['dim']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def discriminating_tasks(rows: list[dict], scripted_min: float = 0.6, random_max: float = 0.3) -> list[str]:
    """Tasks where the scripted player clears `scripted_min` and random stays at or under `random_max`."""
    return [
        r["id"]
        for r in rows
        if r.get("scripted") is not None and r.get("random") is not None
        and r["scripted"] >= scripted_min and r["random"] <= random_max
    ]
