"""`padflow compare [--last N] [--json]`: the key metrics of the last pipeline runs, side by side.

The terminal version of MLflow's compare view: one column per pipeline run (newest first), one
row per key metric, read from the metrics the flow logs on each parent run as `<stage>/<metric>`
(tracking.log_pipeline_metrics; runs logged before that used dots, read the same way).
"""

from __future__ import annotations

import fnmatch
import json

from padflow import tracking
from padflow.config import project_root

# (row label, metric key or glob on the parent run). Globs expand to one row per match.
KEY_METRICS: tuple[tuple[str, str], ...] = (
    ("corpus minutes", "corpus/minutes"),
    ("ingest accepted", "ingest/accepted"),
    ("extraction button accuracy", "extract/button_accuracy"),
    ("extraction stick R²", "extract/stick_r2"),
    ("localization rate", "extract/localization_rate"),
    ("gate % kept", "gate/pct_kept"),
    ("gate hours kept", "gate/hours_kept"),
    ("train val loss", "train/val_loss"),
    ("train val button F1", "train/val_button_f1"),
    ("policy completion", "evaluate/policy/overall"),
    ("policy completion by category", "evaluate/policy/category/*"),
    ("random completion by category", "evaluate/random/category/*"),
)


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="key metrics of the last pipeline runs side by side (from MLflow)")
    p.add_argument("--last", type=int, default=3, help="how many pipeline runs (newest first)")
    p.add_argument("--json", action="store_true", help="print one JSON object with a `runs` list")
    p.set_defaults(func=run)


def pipeline_runs(last: int) -> list:
    from mlflow.tracking import MlflowClient

    root = project_root()
    uri = tracking.tracking_uri(root)
    tracking.check_tracking(uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(tracking.DEFAULT_EXPERIMENT)
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.{tracking.PIPELINE_TAG} = 'true'",
        order_by=["attributes.start_time DESC"], max_results=last,
    )


def run_metrics(run) -> dict[str, float]:
    """A parent run's metrics by `<stage>/<metric>` name, also for a run that logged them as `<stage>.<metric>`."""
    return {key.replace(".", "/"): value for key, value in run.data.metrics.items()}


def metric_rows(runs: list) -> list[tuple[str, str]]:
    """(label, key) rows present in at least one run, globs expanded, in KEY_METRICS order."""
    keys = set().union(*(run_metrics(r) for r in runs)) if runs else set()
    rows = []
    for label, pattern in KEY_METRICS:
        matches = sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern))
        for key in matches:
            suffix = key[len(pattern) - 1 :] if pattern.endswith("*") else ""
            rows.append((f"{label} {suffix}".strip(), key))
    return rows


def run(args) -> int:
    if args.last < 1:
        raise ValueError(f"--last must be >= 1, got {args.last}")
    runs = pipeline_runs(args.last)
    rows = metric_rows(runs)
    summary = [
        {
            "run_id": r.info.run_id,
            "start_time": r.info.start_time,
            "status": r.info.status,
            "params": dict(r.data.params),
            "metrics": {key: run_metrics(r).get(key) for _, key in rows},
        }
        for r in runs
    ]
    if args.json:
        print(json.dumps({"runs": summary}, indent=2))
        return 0
    if not runs:
        print("no pipeline runs yet: run `padflow run` first")
        return 0
    header = ["metric"] + [f"{r['run_id'][:8]} ({r['params'].get('profile', '?')})" for r in summary]
    table = [[label] + [_fmt(s["metrics"][key]) for s in summary] for label, key in rows]
    table.insert(0, ["status"] + [s["status"] for s in summary])
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return 0


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4g}"
