"""`padflow compare` on three real pipeline runs (Prefect flow, DVC, MLflow) made with different params."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import pytest
import yaml

from padflow.commands import compare as compare_command

pytestmark = pytest.mark.slow


def compare(argv: list[str]) -> str:
    parser = argparse.ArgumentParser()
    compare_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", *argv])
    # Not pytest's capsys: Prefect's log handlers keep the stdout of the first flow run, and
    # capsys closes its stream after the test, which breaks every later flow's logging.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args) == 0
    return out.getvalue()


def set_debug_corpus_videos(root: Path, videos: int) -> None:
    profile = yaml.safe_load((root / "profiles" / "debug.yaml").read_text())
    profile["corpus"]["videos"] = videos
    (root / "profiles" / "debug.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))


def test_three_runs_with_different_params_show_side_by_side(project: Path, prefect_harness):
    from flows.pipeline import pipeline

    minutes = []
    for videos in (2, 3, 4):  # oldest first
        set_debug_corpus_videos(project, videos)
        result = pipeline(stages=["corpus"], root=str(project)).metrics
        assert result["corpus"]["videos"] == videos
        minutes.append(result["corpus"]["minutes"])
    assert len(set(minutes)) == 3

    runs = json.loads(compare(["--last", "3", "--json"]))["runs"]
    assert [r["metrics"]["corpus/minutes"] for r in runs] == minutes[::-1], "newest run first"
    assert all(r["status"] == "FINISHED" and r["params"]["profile"] == "debug" for r in runs)

    lines = compare(["--last", "3"]).splitlines()
    header = lines[0].split()
    assert header[0] == "metric" and [h[:8] for h in header[1::2]] == [r["run_id"][:8] for r in runs]
    row = next(line for line in lines if line.startswith("corpus minutes"))
    assert row.split()[2:] == [f"{m:.4g}" for m in minutes[::-1]], "one column per run, side by side"

    assert len(json.loads(compare(["--last", "2", "--json"]))["runs"]) == 2
    with pytest.raises(ValueError, match="--last"):
        compare(["--last", "0"])
