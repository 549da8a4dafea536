"""`padflow tasks [--json]`: list the task suite."""

from __future__ import annotations

import json

from padflow.sim import all_tasks, engine_fps


def register(subparsers) -> None:
    p = subparsers.add_parser("tasks", help="list the task suite (id, game, engine, category, dim, time limit)")
    p.add_argument("--json", action="store_true", help="print one JSON object with a `tasks` list")
    p.set_defaults(func=run)


def task_rows() -> list[dict]:
    fps = {}
    rows = []
    for task in all_tasks().values():
        if task.engine not in fps:
            fps[task.engine] = engine_fps(task.engine)
        rows.append(task.summary(fps[task.engine]))
    return rows


def run(args) -> int:
    rows = task_rows()
    if args.json:
        print(json.dumps({"tasks": rows}, indent=2))
        return 0
    header = ("id", "game", "engine", "category", "dim", "time_limit_s")
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(r[h]).ljust(w) for h, w in zip(header, widths)))
    print(f"\n{len(rows)} tasks, {len({r['game'] for r in rows})} games")
    return 0
