"""One player in two evaluation folders on the same tasks and seeds: per split, the mean difference of its
completion rate (B minus A) with a 95% interval, and the per-task rates.

    python bench/compare_evaluations.py A B [--player policy] [--json]

A and B are `padflow evaluate --out` folders (or the stage's data/evaluate) made with the same tasks
and seeds and one setting changed, e.g. `--sim-mask training_boxes` in B (docs/results-evaluation.md).
The interval is padflow.stats.difference_interval's, over the tasks both folders played. Where a folder also
played the `blind` and `prior` baselines, issue 22's bar is counted in it: of the tasks where any of the three
players is below 0.9, those where the player's rate is above both baselines', and those where its Wilson
interval also lies above both of theirs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from padflow.players.report import SPLITS
from padflow.stats import difference_interval
from tasks.evaluate import TABLE_FILE

BASELINES = ("blind", "prior")
BAR_CEILING = 0.9  # a task every player completes this often has nothing to show


def task_counts(folder: Path, player: str) -> pd.DataFrame:
    path = folder / TABLE_FILE
    if not path.is_file():
        raise SystemExit(f"{path}: no evaluation table; pass a `padflow evaluate --out` folder")
    table = pd.read_parquet(path)
    rows = table[(table.level == "task") & (table.player == player) & ~table.failed & (table.episodes > 0)]
    if rows.empty:
        raise SystemExit(f"{path}: player {player!r} played no task there")
    return rows.set_index(["split", "group"])[["successes", "episodes"]]


def bar(folder: Path, player: str) -> dict | None:
    """Issue 22's bar in one evaluation folder: tasks counted, above both baselines, clear of both; None without them."""
    table = pd.read_parquet(folder / TABLE_FILE)
    rows = table[(table.level == "task") & table.player.isin((player, *BASELINES)) & ~table.failed & (table.episodes > 0)]
    if set(rows.player) != {player, *BASELINES}:
        return None
    wide = rows.pivot_table(index="group", columns="player", values=["rate", "ci_low", "ci_high"]).dropna()
    counted = wide[wide["rate"].min(axis=1) < BAR_CEILING]
    above = counted[(counted["rate"][player] > counted["rate"][list(BASELINES)].max(axis=1))]
    clear = above[above["ci_low"][player] > above["ci_high"][list(BASELINES)].max(axis=1)]
    return {"tasks": len(counted), "above_both": sorted(above.index), "clear_of_both": sorted(clear.index)}


def compare(a: Path, b: Path, player: str) -> dict:
    ca, cb = task_counts(a, player), task_counts(b, player)
    both = ca.index.intersection(cb.index)
    out: dict = {"player": player, "a": str(a), "b": str(b), "splits": {}}
    for split in SPLITS:
        keys = [k for k in both if k[0] == split]
        if not keys:
            continue
        pairs = [[(int(c.loc[k, "successes"]), int(c.loc[k, "episodes"])) for k in keys] for c in (cb, ca)]
        diff, low, high = difference_interval(*pairs)
        out["splits"][split] = {
            "tasks": len(keys), "a": round(sum(s for s, _ in pairs[1]) / sum(n for _, n in pairs[1]), 4),
            "b": round(sum(s for s, _ in pairs[0]) / sum(n for _, n in pairs[0]), 4),
            "b_minus_a": round(diff, 4), "ci": [round(low, 4), round(high, 4)],
            "per_task": {k[1]: [f"{s}/{n}" for s, n in (pa, pb)] for k, pa, pb in zip(keys, pairs[1], pairs[0])},
        }
    out["bar"] = {"a": bar(a, player), "b": bar(b, player)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--player", default="policy")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = compare(args.a, args.b, args.player)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for split, s in result["splits"].items():
        print(f"{split}: {args.player} {s['a']:.3f} (A) → {s['b']:.3f} (B) over {s['tasks']} tasks; "
              f"B − A {s['b_minus_a']:+.3f} [{s['ci'][0]:+.3f}, {s['ci'][1]:+.3f}]")
        for task, (ra, rb) in s["per_task"].items():
            print(f"  {task:30s} {ra:>6s} → {rb}")
    for side, b in result["bar"].items():
        if b is not None:
            print(f"bar ({side.upper()}): of {b['tasks']} tasks with a player below {BAR_CEILING}, {args.player} above blind and prior "
                  f"on {len(b['above_both'])} ({', '.join(b['above_both']) or 'none'}), clear of both on {len(b['clear_of_both'])}")


if __name__ == "__main__":
    main()
