"""ingest stage: normalize the run's input videos into params['ingest'].output (padflow.ingest does the work).

The input (a folder of videos or a manifest) is run.yaml's `input`, which `load_params` carries as
params['input']. What ingest accepts, writes and reuses is described in padflow/ingest/__init__.py.
Its output folder is replaced only when the run succeeded (padflow.ingest.ingest works in a
hard-linked copy beside it and swaps it in): a failed or interrupted ingest leaves the previous
data/ingest as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from padflow.config import DEFAULT_INPUT, from_mapping
from padflow.fanout import runner_config
from padflow.ingest import IngestConfig, ingest
from padflow.ingest.report import REPORT_FILE, read_report
from padflow.stages import DatasetInput, StageResult


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: ingest params['input'] (run.yaml's) into params['ingest'].output, both relative to `root`."""
    cfg = from_mapping(IngestConfig, params.get("ingest"), "ingest")
    source = params.get("input", DEFAULT_INPUT)
    if not isinstance(source, str) or not source:
        raise ValueError(f"input: the folder or manifest of videos to ingest must be a path, got {source!r}")
    out = root / cfg.output
    report = ingest(root / source, out, cfg, workers=cfg.workers, runner=runner_config(params, "ingest"))
    return StageResult(
        params={"ingest": asdict(cfg), "input": source},
        metrics=report.summary(),
        artifacts={"ingest": out / REPORT_FILE},
        datasets=[ingest_set(out / REPORT_FILE)],
    )


def ingest_set(report_path: Path) -> DatasetInput:
    """The ingest report's rows (every input: status, reason, source, licence, game, sizes) as an MLflow dataset whose
    digest is that of the accepted videos' contents, so an unchanged set keeps its digest across runs."""
    rows = pd.DataFrame(read_report(report_path.parent)["files"])
    rows = rows.map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)  # sizes: MLflow's schema has no lists
    accepted = sorted(rows.loc[rows["status"] == "accepted", "sha256_out"].dropna().astype(str))
    digest = hashlib.sha256("\n".join(accepted).encode()).hexdigest()
    return DatasetInput(name="ingest_set", source=report_path, digest=digest, context="ingested", rows=rows)
