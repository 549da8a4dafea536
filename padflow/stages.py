"""The stage contract: what a stage returns, the DAG order, where its metrics file lives.

Each stage's logic lives in `tasks/<stage>.py` as `stage(params, root) -> StageResult`;
`padflow.commands.stage.run_stage` (what `dvc repro` runs) calls it, writes the stage's DVC
metrics files (`write_metrics`) and logs the same numbers to MLflow, so a metric is computed once
and reported twice.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from padflow.config import DEFAULT_INPUT, read_run
from padflow.io import replaced_dir, write_json


# DAG order; the same word names the dvc.yaml stage, the params.yaml section, the tasks/ module,
# the Prefect task and the MLflow run.
STAGES: tuple[str, ...] = ("corpus", "ingest", "parser_train", "extract", "gate", "idm_train", "pseudo_label", "train", "evaluate")
METRICS_DIR = "metrics"


def stages_to_run(root: Path, stages: Sequence[str] | None = None, input: str | None = None) -> list[str]:
    """The stages a pipeline run reproduces: `stages` in DAG order; by default all, but corpus where ingest reads other
    videos than the corpus's (`input`, `padflow run --input`, or run.yaml's from an earlier `--input`): a corpus made
    there would be read by no stage. ValueError names an unknown stage."""
    unknown = [s for s in stages or () if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
    if stages:
        return [s for s in STAGES if s in stages]
    reads = input if input is not None else read_run(root)["input"]
    return [s for s in STAGES if not (s == "corpus" and reads != DEFAULT_INPUT)]


@dataclass(frozen=True)
class ModelExport:
    """A model folder a stage exported, for run_stage to log as an MLflow model and register (padflow/registry.py)."""

    name: str  # registered model name: padflow-policy | padflow-overlay-parser (models/pyfunc.py wraps each)
    folder: Path  # the exported folder: weights, config, README.md model card
    example: Any  # one input the model takes, saved with it as its input example
    score: tuple[str, float] | None = None  # (metric, value, higher is better) the `champion` alias is decided on


@dataclass(frozen=True)
class DatasetInput:
    """A table a stage read or wrote, for run_stage to log as an MLflow dataset (mlflow.log_input)."""

    name: str  # dataset name shown on the run
    source: Path  # the file the rows come from
    digest: str  # content hash: equal digests, equal data
    context: str  # the role on this run: ingested | accepted | training
    rows: Any  # pandas DataFrame of the rows (MLflow records its schema and row count)


@dataclass(frozen=True)
class StageResult:
    params: Mapping[str, Any]  # the resolved config the stage ran with (logged as MLflow params)
    metrics: Mapping[str, float]  # written to metrics/details/<stage>.json (HEADLINES of them to metrics/<stage>.json), logged to MLflow
    artifacts: Mapping[str, Path] = field(default_factory=dict)  # MLflow artifact folder → file/folder
    curves: Mapping[str, Sequence[float]] = field(default_factory=dict)  # per-step series (loss, ...) for MLflow and DVC plots
    plots: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)  # DVC plot name → rows (metrics/plots/<stage>/<name>.csv)
    tables: Mapping[str, Path] = field(default_factory=dict)  # MLflow table name (…json) → Parquet file, for log_table
    models: Sequence[ModelExport] = ()  # exported models to log and register
    datasets: Sequence[DatasetInput] = ()  # tables logged as MLflow datasets


def metrics_path(root: Path, stage: str) -> Path:
    return root / METRICS_DIR / f"{stage}.json"


def read_metrics(root: Path, stage: str) -> dict[str, float]:
    """Every figure the stage's last run wrote (its details file; the headline file of an older run)."""
    path = details_path(root, stage)
    path = path if path.is_file() else metrics_path(root, stage)
    return json.loads(path.read_text()) if path.is_file() else {}


# The few figures metrics/<stage>.json holds, first the stage's key figure (the one its end line and
# the run summary print): headline name → the stage's own metric. Names shared across stages
# (videos, button_acc, stick_r2) line up as one column in `dvc metrics show`, which prints a
# row per file and a column per name: with every figure there it was ~250 columns wide. Every figure
# is in metrics/details/<stage>.json (read_metrics), the stage's time (`<stage>_wall_s`) too: the run
# summary prints it, and a column of times (or of hours) would take the table past 120.
HEADLINES: dict[str, tuple[tuple[str, str], ...]] = {
    "corpus": (("videos", "videos"),),
    "ingest": (("videos", "accepted"),),
    "parser_train": (("button_acc", "val_held_out_button_accuracy"), ("stick_r2", "val_held_out_stick_r2")),
    "extract": (("button_acc", "all_button_accuracy"), ("stick_r2", "all_stick_r2"), ("videos", "videos_extracted")),
    "gate": (("pct_kept", "pct_kept"),),
    "idm_train": (("button_acc", "val_button_accuracy"), ("stick_r2", "val_stick_r2")),
    "pseudo_label": (("button_acc", "pseudo_button_accuracy"), ("stick_r2", "pseudo_stick_r2"), ("videos", "labelled")),
    "train": (("val_loss", "val_loss"),),
    # The Wilson interval of `completion` is in the details (and rates.md): two more columns would take
    # `dvc metrics show` past 120.
    # blind, not prior: "does it look at the screen?" is the question a nightly run must answer (the prior and
    # the other baselines are in the details).
    "evaluate": (("completion", "policy.overall"), ("held_out", "policy.held_out.overall"), ("blind", "blind.overall")),
}
DETAILS_DIR = "details"  # under METRICS_DIR
PLOTS_DIR = "plots"  # under METRICS_DIR: the tables dvc.yaml's `plots` draw


def details_path(root: Path, stage: str) -> Path:
    return root / METRICS_DIR / DETAILS_DIR / f"{stage}.json"


def plots_dir(root: Path, stage: str) -> Path:
    return root / METRICS_DIR / PLOTS_DIR / stage


def headline(stage: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    """The stage's headline figures (HEADLINES) present in `metrics`."""
    return {name: metrics[key] for name, key in HEADLINES.get(stage, ()) if metrics.get(key) is not None}


def key_figure(stage: str, metrics: Mapping[str, Any]) -> str:
    """`name value` of the stage's first headline figure that it reported ('' when none), for one-line summaries."""
    for name, value in headline(stage, metrics).items():
        return f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
    return ""


def write_metrics(root: Path, stage: str, metrics: Mapping[str, Any], curves: Mapping[str, Sequence[float]] | None = None,
                  plots: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
    """The stage's DVC record of its figures: every figure (details), the headline file, and the plot
    tables (each curve as `step,<name>`, each plot as its rows; the folder replaced whole, none without any)."""
    write_json(details_path(root, stage), dict(metrics))
    if curves or plots:
        with replaced_dir(plots_dir(root, stage)) as folder:
            for name, values in (curves or {}).items():
                _write_csv(folder / f"{_file_name(name)}.csv", [{"step": i, name: v} for i, v in enumerate(values)])
            for name, rows in (plots or {}).items():
                _write_csv(folder / f"{_file_name(name)}.csv", rows)
    else:
        shutil.rmtree(plots_dir(root, stage), ignore_errors=True)  # an earlier run's tables are not this run's
    write_json(metrics_path(root, stage), headline(stage, metrics))


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None or (isinstance(v, float) and v != v) else v for k, v in row.items()})
