"""`padflow evaluate [--checkpoint C] [--tasks ...] [--held-out ...] [--baselines ...] [--episodes N] [--json]`: completion rates of a policy."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from padflow.config import load_params, load_section, project_root
from padflow.fanout import runner_config

SECTION = "evaluate"
DEFAULT_OUT = "outputs/evaluate"  # not data/evaluate: that folder belongs to the DVC stage


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="roll a policy out in the task suite next to the blind, prior, scripted, random and no-op baselines",
        description="Settings come from params.yaml's `evaluate` section (active profile); flags override them.",
    )
    p.add_argument("--checkpoint", type=Path, help="policy folder (default: the train stage's export, data/train/policy)")
    p.add_argument("--tasks", nargs="+", metavar="ID", help="trained task ids (default: the config's, else the whole suite)")
    p.add_argument("--held-out", nargs="*", metavar="ID",
                   help="held-out task ids, reported apart (default: the config's; none when --tasks is given)")
    p.add_argument("--baselines", nargs="*", metavar="KIND", help="baseline players (default: the config's)")
    p.add_argument("--episodes", type=int, metavar="N", help="seeded episodes per task and player")
    p.add_argument("--workers", type=int, metavar="N", help="jobs in parallel on orchestration.task_runner")
    p.add_argument("--videos", type=int, metavar="N", help="rollout videos per task")
    p.add_argument("--device", metavar="DEVICE", help="torch device of the policy in every worker, e.g. cuda (default: the config's)")
    p.add_argument("--sim-mask", choices=("none", "training_boxes"),
                   help="black out one training overlay box per episode in what the policy sees (default: the config's)")
    p.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument("--json", action="store_true", help="print one JSON object whose `tasks` list holds every task's rates")
    p.set_defaults(func=run)


def run(args) -> int:
    from tasks.evaluate import EvaluateConfig, evaluate, log_progress

    root = project_root()
    params = load_params()
    cfg = load_section(EvaluateConfig, SECTION, params)
    overrides = {
        "checkpoint": None if args.checkpoint is None else str(args.checkpoint.resolve()),
        "tasks": None if args.tasks is None else tuple(args.tasks),
        # tasks picked by hand are the whole selection unless held-out ones are named too
        "held_out_tasks": tuple(args.held_out) if args.held_out is not None else (() if args.tasks is not None else None),
        "baselines": None if args.baselines is None else tuple(args.baselines),
        "episodes": args.episodes,
        "workers": args.workers,
        "videos_per_task": args.videos,
        "sim_mask": args.sim_mask,
        "device": args.device,
    }
    cfg = replace(cfg, out_dir=str(args.out.resolve()), **{k: v for k, v in overrides.items() if v is not None})

    result = evaluate(cfg, root, int(params.get("seed", 0)), progress=log_progress, runner=runner_config(params, "evaluate"))
    summary = result["summary"]
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print((Path(cfg.out_dir) / "rates.md").read_text())
    print(f"tables, plots and rollouts: {cfg.out_dir}")
    return 0
