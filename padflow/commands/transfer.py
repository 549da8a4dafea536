"""`padflow transfer [--game G] [--json]`: the held-out-game transfer experiment (not a nightly stage)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from padflow.config import load_params, project_root


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "transfer",
        help="pre-train on the other games, then fine-tune vs train from scratch on a held-out game",
        description="Settings come from params.yaml's `transfer` and `train` sections (active profile).",
    )
    p.add_argument("--game", help="the held-out game (default: transfer.game)")
    p.add_argument("--json", action="store_true", help="print one JSON object: per-task rows and averages")
    p.set_defaults(func=run)


def run(args) -> int:
    # Imported here: torch and Lightning stay off the CLI's start-up.
    from padflow.experiments.transfer import MARKDOWN_FILE, run as run_transfer

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = project_root()
    result = run_transfer(load_params(), root, game=args.game)
    if args.json:
        print(json.dumps(result["summary"], indent=2, default=str))
    else:
        print((Path(result["out_dir"]) / MARKDOWN_FILE).read_text())
    return 0
