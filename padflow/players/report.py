"""Completion rates of players on tasks, with Wilson 95% intervals: rows, Markdown, JSON summaries, plots.

Two reports read the same episodes: `padflow suite` (one row per task: rates_by_task,
suite_markdown) and the evaluate stage (one row per split, level, group and player: rate_rows, then
markdown_report, task_summaries, group_summaries and plot_rates over those rows).

The evaluate stage's tasks come in two splits, aggregated apart: `trained` (the tasks the corpus
played, so the policy saw their videos) and `held_out` (other tasks of the same games, never played
for training). A game/category/dim/overall row never mixes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from padflow.io import save_figure
from padflow.players.rollout import EpisodeResult
from padflow.sim.registry import all_tasks, get_task
from padflow.sim.task import CATEGORIES, DIMS
from padflow.stats import difference_interval, wilson_interval
LEVELS = ("task", "game", "category", "dim", "overall")
OVERALL = "all"  # the group name of the overall level
TRAINED, HELD_OUT = "trained", "held_out"
SPLITS = (TRAINED, HELD_OUT)
SPLIT_TITLES = {TRAINED: "Trained tasks (the corpus played them)",
                HELD_OUT: "Held-out tasks (games trained on, tasks never played for training)"}
PLAYER_COLOURS = {"policy": "#2f5597", "blind": "#7f6000", "prior": "#c55a11", "scripted": "#70ad47", "random": "#ffc000",
                  "noop": "#a5a5a5"}
COMPARE_COLOUR = "#9dc3e6"  # any other player (the policy at another Euler step count)


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


def failed_tasks(errors: Iterable[tuple[str, str, str | None]]) -> dict[str, str]:
    """task id → reason, from (task id, player, error or None) of every job: the tasks on which some player crashed."""
    failed: dict[str, str] = {}
    for task_id, player, error in errors:
        if error is not None:
            reason = f"{player}: {error}"
            failed[task_id] = f"{failed[task_id]}; {reason}" if task_id in failed else reason
    return failed


def rate_rows(results: Iterable[EpisodeResult], players: Sequence[str], task_ids: Sequence[str],
              failed: Mapping[str, str], splits: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per (split, level, group, player): successes, episodes, rate and Wilson 95% interval.

    `splits`: task id → TRAINED or HELD_OUT (every task TRAINED when None); each split is aggregated
    on its own. Task rows hold whatever episodes finished; the other levels leave the `failed` tasks out entirely.
    """
    split_of = {t: (splits or {}).get(t, TRAINED) for t in task_ids}
    unknown = sorted({s for s in split_of.values() if s not in SPLITS})
    if unknown:
        raise ValueError(f"splits: unknown split(s) {unknown}; valid: {', '.join(SPLITS)}")
    counts: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    tasks = {t: get_task(t) for t in task_ids}
    for r in results:
        task = tasks[r.task_id]
        groups = [("task", task.id)]
        if task.id not in failed:
            groups += [("game", task.game), ("category", task.category), ("dim", task.dim), ("overall", OVERALL)]
        for level, group in groups:
            c = counts[(split_of[task.id], level, group, r.player)]
            c[0] += int(r.success)
            c[1] += 1
    rows = []
    for split in SPLITS:
        members = [tasks[t] for t in task_ids if split_of[t] == split]
        if not members:
            continue
        order = {
            "task": [t.id for t in members],
            "game": list(dict.fromkeys(t.game for t in members)),
            "category": [c for c in CATEGORIES if any(t.category == c for t in members)],
            "dim": [d for d in DIMS if any(t.dim == d for t in members)],
            "overall": [OVERALL],
        }
        for level in LEVELS:
            for group in order[level]:
                for player in players:
                    s, n = counts.get((split, level, group, player), (0, 0))
                    lo, hi = wilson_interval(s, n)
                    rows.append({
                        "split": split, "level": level, "group": group, "player": player, "successes": s, "episodes": n,
                        "rate": s / n if n else None, "ci_low": round(lo, 4) if n else None,
                        "ci_high": round(hi, 4) if n else None, "failed": level == "task" and group in failed,
                    })
    return rows


def metric_name(row: Mapping[str, Any]) -> str:
    """`<player>.overall` / `<player>.<level>.<group>` for the trained split, with `held_out.` after the player for the other."""
    split = "" if row.get("split", TRAINED) == TRAINED else f"{row['split']}."
    where = "overall" if row["level"] == "overall" else f"{row['level']}.{row['group']}"
    return f"{row['player']}.{split}{where}"


def rate_metrics(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """metric_name(row) → rate, and `.ci_low` / `.ci_high` after it → its Wilson 95% bounds, for MLflow's run comparison."""
    metrics = {}
    for r in rows:
        if r["rate"] is None:
            continue
        name = metric_name(r)
        metrics[name] = round(float(r["rate"]), 4)
        metrics[f"{name}.ci_low"], metrics[f"{name}.ci_high"] = float(r["ci_low"]), float(r["ci_high"])
    return metrics


def _cell(row: Mapping[str, Any] | None) -> str:
    if row is None or row["rate"] is None:
        return "—"
    return f"{row['rate']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def markdown_report(rows: Sequence[Mapping[str, Any]], players: Sequence[str], failed: Mapping[str, str],
                    euler: Sequence[Mapping[str, Any]], header: str) -> str:
    """Per split (trained, held-out): per-category, per-dim, per-game, overall and per-task tables
    (rate [Wilson 95%]); then the Euler comparison."""
    index = {(r.get("split", TRAINED), r["level"], r["group"], r["player"]): r for r in rows}
    splits = [s for s in SPLITS if any(r.get("split", TRAINED) == s for r in rows)]
    out = [header, ""]
    titles = {"category": "Per category", "dim": "Per 2D/3D", "game": "Per game", "overall": "Overall", "task": "Per task"}
    for split in splits:
        out += [f"## {SPLIT_TITLES[split]}", ""]
        for level in ("overall", "category", "dim", "game", "task"):
            groups = list(dict.fromkeys(r["group"] for r in rows if r["level"] == level and r.get("split", TRAINED) == split))
            out += [f"### {titles[level]}", "", f"| {level} | n | " + " | ".join(players) + " |", "|" + "---|" * (len(players) + 2)]
            for g in groups:
                n = max(index[(split, level, g, p)]["episodes"] for p in players)
                name = f"{g} (failed)" if level == "task" and g in failed else g
                out.append(f"| {name} | {n} | " + " | ".join(_cell(index.get((split, level, g, p))) for p in players) + " |")
            out.append("")
    out += ["## Euler steps (same seeds)", "", "| player | Euler steps | " + " | ".join(f"overall, {s}" for s in splits)
            + " | ms per chunk |", "|---|---|" + "---|" * len(splits) + "---|"]
    for e in euler:
        cells = " | ".join(_cell(index.get((s, "overall", OVERALL, e["player"]))) for s in splits)
        out.append(f"| {e['player']} | {e['euler_steps']} | {cells} | {e['ms_per_chunk']:.1f} |")
    out.append("")
    if failed:
        out += ["## Failed tasks (left out of every aggregate)", ""] + [f"- `{t}`: {why}" for t, why in failed.items()] + [""]
    return "\n".join(out)


def differences(rows: Sequence[Mapping[str, Any]], player: str, others: Sequence[str]) -> list[dict[str, Any]]:
    """`player` minus each of `others` per split: the mean over tasks of the rate difference with its 95% interval
    (stats.difference_interval), over the tasks both played and none failed."""
    index = {(r.get("split", TRAINED), r["group"], r["player"]): r for r in rows if r["level"] == "task" and not r["failed"]}
    out = []
    for split in SPLITS:
        tasks = list(dict.fromkeys(g for (s, g, _p) in index if s == split))
        for other in others:
            both = [t for t in tasks if index.get((split, t, player), {}).get("episodes") and
                    index.get((split, t, other), {}).get("episodes")]
            if not both:
                continue
            counts = [[(index[(split, t, p)]["successes"], index[(split, t, p)]["episodes"]) for t in both]
                      for p in (player, other)]
            diff, low, high = difference_interval(*counts)
            out.append({"split": split, "player": player, "baseline": other, "tasks": len(both),
                        "difference": round(diff, 4), "ci_low": round(low, 4), "ci_high": round(high, 4)})
    return out


def differences_markdown(diffs: Sequence[Mapping[str, Any]]) -> str:
    """The differences as a table: one row per baseline, one column per split."""
    splits = [s for s in SPLITS if any(d["split"] == s for d in diffs)]
    if not diffs:
        return ""
    cells = {(d["baseline"], d["split"]): d for d in diffs}
    player = diffs[0]["player"]
    out = [f"## {player} minus each baseline", "",
           f"Mean over tasks of {player}'s completion rate minus the baseline's [95% interval, Jeffreys posterior per "
           "task; padflow/stats.py]. An interval above 0 says the difference is not noise on these tasks.", "",
           "| baseline | " + " | ".join(SPLIT_TITLES[s].split(" (")[0] for s in splits) + " |", "|---|" + "---|" * len(splits)]
    for baseline in dict.fromkeys(d["baseline"] for d in diffs):
        row = [cells.get((baseline, s)) for s in splits]
        out.append(f"| {baseline} | " + " | ".join(
            "—" if d is None else f"{d['difference']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] ({d['tasks']} task{'s' * (d['tasks'] > 1)})"
            for d in row) + " |")
    return "\n".join(out) + "\n"


def difference_metrics(diffs: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """`<player>.minus_<baseline>` (`<player>.held_out.minus_<baseline>`) → difference, with `.ci_low` / `.ci_high`."""
    metrics = {}
    for d in diffs:
        name = f"{d['player']}.{'' if d['split'] == TRAINED else d['split'] + '.'}minus_{d['baseline']}"
        metrics.update({name: d["difference"], f"{name}.ci_low": d["ci_low"], f"{name}.ci_high": d["ci_high"]})
    return metrics


def task_summaries(rows: Sequence[Mapping[str, Any]], players: Sequence[str], failed: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per task: id, split, game, category, dim, each player's rate and interval, and why it failed (if it did)."""
    index = {(r["group"], r["player"]): r for r in rows if r["level"] == "task"}
    split_of = {r["group"]: r.get("split", TRAINED) for r in rows if r["level"] == "task"}
    out = []
    for task_id in dict.fromkeys(r["group"] for r in rows if r["level"] == "task"):
        task = get_task(task_id)
        item: dict[str, Any] = {"id": task.id, "split": split_of[task_id], "game": task.game, "category": task.category,
                                "dim": task.dim, "status": "failed" if task_id in failed else "ok", "error": failed.get(task_id)}
        for p in players:
            r = index[(task_id, p)]
            item[p] = r["rate"]
            item[f"{p}_ci"] = None if r["rate"] is None else [r["ci_low"], r["ci_high"]]
            item[f"{p}_episodes"] = r["episodes"]
        out.append(item)
    return out


def task_counts(tasks: Sequence[Mapping[str, Any]], player: str) -> dict[str, tuple[str, int, int]]:
    """task id → (split, successes, episodes) of `player` in task_summaries' rows; tasks it did not play are left out."""
    out = {}
    for t in tasks:
        episodes = int(t.get(f"{player}_episodes") or 0)
        if t.get(player) is not None and episodes:
            out[t["id"]] = (t.get("split", TRAINED), int(round(t[player] * episodes)), episodes)
    return out


def group_summaries(rows: Sequence[Mapping[str, Any]], level: str, split: str = TRAINED) -> dict[str, dict[str, Any]]:
    """group → player → {rate, ci, successes, episodes} for one level of one split."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["level"] == level and r.get("split", TRAINED) == split:
            ci = None if r["rate"] is None else [r["ci_low"], r["ci_high"]]
            out.setdefault(r["group"], {})[r["player"]] = {"rate": r["rate"], "ci": ci, "successes": r["successes"],
                                                          "episodes": r["episodes"]}
    return out


def _colour(player: str) -> str:
    return PLAYER_COLOURS.get(player, COMPARE_COLOUR)


def _bars(ax: Any, rows: Sequence[Mapping[str, Any]], level: str, players: Sequence[str]) -> None:
    # A held-out aggregate gets its own bar group ("combat, held-out"); task ids are unique across splits.
    def label(r: Mapping[str, Any]) -> str:
        held_out = level != "task" and r.get("split", TRAINED) == HELD_OUT
        return f"{r['group']}, held-out" if held_out else r["group"]

    groups = list(dict.fromkeys(label(r) for r in rows if r["level"] == level))
    index = {(label(r), r["player"]): r for r in rows if r["level"] == level}
    width = 0.8 / len(players)
    for k, p in enumerate(players):
        xs = np.arange(len(groups)) + (k - (len(players) - 1) / 2) * width
        rates = [index[(g, p)]["rate"] or 0.0 for g in groups]
        lows = [max(0.0, rate - (index[(g, p)]["ci_low"] or 0.0)) for g, rate in zip(groups, rates)]
        highs = [max(0.0, (index[(g, p)]["ci_high"] or 0.0) - rate) for g, rate in zip(groups, rates)]
        ax.bar(xs, rates, width, yerr=[lows, highs], capsize=2, color=_colour(p), label=p,
               error_kw={"elinewidth": 0.7, "ecolor": "#404040"})
    ax.set_xticks(np.arange(len(groups)), groups, rotation=60 if level == "task" else 0,
                  ha="right" if level == "task" else "center", fontsize=7 if level == "task" else 9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("completion rate")
    ax.grid(axis="y", alpha=0.3)


def plot_rates(rows: Sequence[Mapping[str, Any]], players: Sequence[str], out_dir: Path) -> list[Path]:
    """Bar charts with Wilson 95% error bars: players per category and per dim; players per task."""
    import matplotlib  # here, not at the top: `padflow suite` never plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    for ax, level, title in ((axes[0], "category", "per category"), (axes[1], "dim", "per 2D/3D")):
        _bars(ax, rows, level, players)
        ax.set_title(title)
    axes[0].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    paths.append(save_figure(fig, out_dir / "rates_by_category.png"))
    n_tasks = len({r["group"] for r in rows if r["level"] == "task"})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * n_tasks * len(players) / 2), 4.5), dpi=100)
    _bars(ax, rows, "task", players)
    ax.set_title("per task")
    ax.legend(fontsize=8, ncol=len(players))
    fig.tight_layout()
    paths.append(save_figure(fig, out_dir / "rates_by_task.png"))
    return paths
