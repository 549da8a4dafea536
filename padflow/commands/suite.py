"""`padflow suite`: success rates of the scripted, random and no-op players on every task."""

from __future__ import annotations

import json
import time

from padflow.config import load_params
from padflow.fanout import runner_config
from padflow.io import write_text
from padflow.players import PLAYER_KINDS
from padflow.players.report import discriminating_tasks, rates_by_task, suite_markdown
from padflow.players.rollout import play_many
from padflow.sim import all_tasks


def register(subparsers) -> None:
    p = subparsers.add_parser("suite", help="success rates of scripted/random/no-op players on the task suite")
    p.add_argument("--episodes", type=int, default=20, help="seeded episodes per task and player (seeds 0..N-1)")
    p.add_argument("--players", nargs="+", choices=PLAYER_KINDS, default=list(PLAYER_KINDS))
    p.add_argument("--tasks", nargs="+", help="task ids (default: the whole suite)")
    p.add_argument("--workers", type=int, default=2,
                   help="jobs in parallel on orchestration.task_runner (stage_runners.suite laid over it)")
    p.add_argument("--markdown", help="also write the table to this Markdown file")
    p.add_argument("--json", action="store_true", help="print one JSON object with a `tasks` list")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    task_ids = args.tasks or list(all_tasks())
    seeds = list(range(args.episodes))
    jobs = [(t, p, seeds) for t in task_ids for p in args.players]
    started = time.perf_counter()
    results = play_many(jobs, workers=args.workers, runner=runner_config(load_params(), "suite"))
    rows = rates_by_task(results)
    good = discriminating_tasks(rows)
    summary = {"episodes_per_task": args.episodes, "tasks": rows, "discriminating": len(good),
               "wall_s": round(time.perf_counter() - started, 1)}
    table = suite_markdown(rows, args.players)
    if args.markdown:
        note = (f"\n{len(good)} of {len(rows)} tasks discriminate (scripted ≥ 0.60 and random ≤ 0.30), "
                f"{args.episodes} seeded episodes (seeds 0..{args.episodes - 1}) per task and player.\n")
        write_text(args.markdown, table + note)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(table)
        print(f"{len(good)}/{len(rows)} tasks discriminate; {summary['wall_s']} s")
    return 0
