"""`padflow idm-gain [--json]`: what the IDM's pseudo-labels add to the policy (not a nightly stage; docs/idm.md)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from padflow.config import load_params, project_root


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "idm-gain",
        help="train the policy on overlay labels, + pseudo-labels, pseudo-labels alone; compare them in the simulator",
        description="Settings come from params.yaml's `idm_gain`, `train` and `evaluate` sections (active profile); "
                    "run the pipeline through pseudo_label first (e.g. `padflow run --profile idm`).",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object: arms, minutes, rates, differences")
    p.set_defaults(func=run)


def run(args) -> int:
    # Imported here: torch and Lightning stay off the CLI's start-up.
    from padflow.experiments.idm_gain import MARKDOWN_FILE, run as run_idm_gain

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run_idm_gain(load_params(), project_root())
    if args.json:
        print(json.dumps(result["summary"], indent=2, default=str))
    else:
        print((Path(result["out_dir"]) / MARKDOWN_FILE).read_text())
    return 0
