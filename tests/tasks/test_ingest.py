from pathlib import Path

import numpy as np
import pytest

from padflow.video import write_mp4
from tasks.ingest import stage


def test_stage_reads_its_section_and_paths_from_params(tmp_path: Path):
    write_mp4(tmp_path / "raw" / "at25.mp4", [np.full((64, 96, 3), 16 + 3 * i, np.uint8) for i in range(50)], fps=25.0, crf=10)
    write_mp4(tmp_path / "raw" / "good_a_copy.mp4", [np.full((96, 160, 3), 5 * i, np.uint8) for i in range(45)], fps=30.0)
    params = {"input": "raw", "ingest": {"output": "ingested", "max_width": 256, "max_height": 144}}
    result = stage(params, tmp_path)
    assert result.metrics["accepted"] == 2 and result.metrics["rejected"] == 0  # at25.mp4, good_a_copy.mp4
    assert result.params["ingest"]["max_width"] == 256
    assert result.artifacts["ingest"] == tmp_path / "ingested" / "ingest_report.json"
    [ingest_set] = result.datasets  # logged by the stage shell as the run's MLflow dataset
    assert ingest_set.source == result.artifacts["ingest"] and len(ingest_set.rows) == 2
    assert {"licence", "source", "status"} <= set(ingest_set.rows.columns)
    assert ingest_set.digest == stage(params, tmp_path).datasets[0].digest  # same videos, same digest
    with pytest.raises(ValueError, match="ingest: unknown key"):
        stage({"ingest": {"max_widht": 256}}, tmp_path)
