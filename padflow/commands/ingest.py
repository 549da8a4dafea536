"""`padflow ingest SRC --out DIR [--json] [--workers N]`: normalize a folder or manifest of videos."""

from __future__ import annotations

import json
from pathlib import Path

from padflow.config import PARAMS_FILE, load_params, load_section, project_root
from padflow.fanout import TaskRunnerConfig, runner_config
from padflow.ingest import REPORT_FILE, IngestConfig, IngestReport, IngestRow, ingest
from padflow.progress import say

SECTION = "ingest"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="probe, dedupe and normalize videos (30 fps, bounded size, H.264) with a per-file report",
        description="Settings come from the `ingest` section of params.yaml when there is one, else defaults.",
    )
    p.add_argument("src", type=Path, metavar="SRC", help="folder of videos, or a manifest (.txt, .json, .yaml)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (videos/ + report)")
    p.add_argument("--json", action="store_true", help="print one JSON object with a `files` list and `summary`")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="videos in parallel on orchestration.task_runner (default: config)")
    p.set_defaults(func=run)


def load_config() -> IngestConfig:
    """IngestConfig from params.yaml's `ingest` section when params.yaml exists, else the defaults."""
    if (project_root() / PARAMS_FILE).is_file():
        return load_section(IngestConfig, SECTION)
    return IngestConfig()


def load_runner() -> TaskRunnerConfig:
    """params.yaml's orchestration.task_runner when params.yaml exists, else local processes."""
    if (project_root() / PARAMS_FILE).is_file():
        return runner_config(load_params(), "ingest")
    return TaskRunnerConfig()


def json_summary(report: IngestReport) -> dict:
    """The --json shape: every file with path, status and reason (null when accepted), plus totals."""
    return {
        "input": report.input,
        "output": report.output,
        "files": [row.to_dict() for row in report.files],
        "removed": list(report.removed),
        "summary": report.summary(),
    }


def run(args) -> int:
    cfg = load_config()
    workers = cfg.workers if args.workers is None else args.workers

    def progress(done: int, total: int, row: IngestRow) -> None:
        why = "" if row.status == "accepted" else f" ({row.reason}: {row.detail})"
        say(f"[{done}/{total}] {row.status} {row.path}{why}")  # above the progress bar, not through it

    report = ingest(args.src, args.out, cfg, workers=workers, progress=progress, runner=load_runner())
    if args.json:
        print(json.dumps(json_summary(report), indent=2))
        return 0
    for row in report.files:
        if row.status == "accepted":
            size = "x".join(map(str, row.size_out or ()))
            reuse = "" if row.processed else ", unchanged"
            print(f"accepted  {row.path} → {row.output} ({row.duration_s:.1f} s, {size}, {row.method}{reuse})")
        else:
            print(f"rejected  {row.path}: {row.reason} — {row.detail}")
    s = report.summary()
    print(
        f"\n{s['accepted']} accepted ({s['hours_accepted'] * 60:.1f} min), {s['rejected']} rejected, "
        f"{s['processed']} decoded this run, {s['removed']} stale output(s) removed; "
        f"report: {Path(args.out) / REPORT_FILE}"
    )
    return 0
