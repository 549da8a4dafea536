import argparse
import json
from pathlib import Path

import numpy as np

from padflow.commands import ingest as ingest_command
from padflow.video import write_mp4


def test_cli_json_prints_one_object_with_files_and_summary(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the defaults apply
    monkeypatch.delenv("PADFLOW_ROOT", raising=False)
    src = tmp_path / "src"
    src.mkdir()
    write_mp4(src / "a.mp4", [np.full((96, 160, 3), 5 * i, np.uint8) for i in range(45)], fps=30.0)
    (src / "b.mp4").write_text("these are my notes, not a video\n" * 10)
    parser = argparse.ArgumentParser()
    ingest_command.register(parser.add_subparsers())
    args = parser.parse_args(["ingest", str(src), "--out", str(tmp_path / "out"), "--json"])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(f["path"], f["status"], f["reason"]) for f in printed["files"]] == [
        ("a.mp4", "accepted", None),
        ("b.mp4", "rejected", "not_a_video"),
    ]
    assert printed["summary"]["accepted"] == 1 and printed["summary"]["rejected_not_a_video"] == 1
