"""`padflow results [--out docs/results.md]`: a run's metrics/*.json rendered as a page.

The figures in docs/results.md are the ones a run wrote, never typed by hand: run the pipeline,
then this command, and commit the page with the code that produced it.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
from pathlib import Path
from typing import Any

from padflow.config import load_params, project_root
from padflow.io import write_text
from padflow.stages import STAGES, read_metrics


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("results", help="render metrics/*.json of the last run as a markdown page")
    p.add_argument("--out", default="docs/results.md", help="page to write, relative to the project (default: docs/results.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = project_root()
    page = render(root)
    out = root / args.out
    write_text(out, page)
    print(f"wrote {out}")
    return 0


def render(root: Path) -> str:
    """The page: where the figures come from, then one table per stage that has a metrics file."""
    stages = {stage: read_metrics(root, stage) for stage in STAGES}
    ran = {stage: metrics for stage, metrics in stages.items() if metrics}
    if not ran:
        raise ValueError(f"{root / 'metrics'}: no metrics files; run the pipeline first (padflow run)")
    profile = load_params(root).get("profile", "default")
    lines = [
        "# Results of a default run",
        "",
        f"Rendered by `padflow results` from `metrics/*.json` of a `{profile}` run at commit "
        f"`{_commit(root)}` on the project's 2-core machine. Accuracy figures are measured against the",
        "ground truth of padflow's own corpus (videos and skins its generator drew); figures on data",
        "the generator did not make are in [benchmarks.md](benchmarks.md). Timings (`*_wall_s`,",
        "throughputs) vary with the machine's load.",
    ]
    for stage, metrics in ran.items():
        lines += ["", f"## {stage}", "", "| metric | value |", "|---|---|"]
        lines += [f"| `{name}` | {_number(value)} |" for name, value in sorted(metrics.items())]
    rates = root / "data" / "evaluate" / "rates.md"
    if "evaluate" in ran and rates.is_file():
        lines += ["", "## Completion rates by task", "", rates.read_text().strip()]
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, int) or (math.isfinite(value) and value == int(value) and abs(value) >= 1):
        return f"{int(value):,}"
    return f"{value:.4g}"


def _commit(root: Path) -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"
