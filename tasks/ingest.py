"""ingest stage: normalize the run's input videos into params['ingest'].output (padflow.ingest does the work).

The input (a folder of videos or a manifest) is run.yaml's `input`, which `load_params` carries as
params['input']. What ingest accepts, writes and reuses is described in padflow/ingest/__init__.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from padflow.config import DEFAULT_INPUT, from_mapping
from padflow.fanout import runner_config
from padflow.ingest import IngestConfig, ingest
from padflow.ingest.report import REPORT_FILE
from padflow.stages import StageResult


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
    )
