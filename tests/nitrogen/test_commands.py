"""`padflow import-nitrogen` (padflow/commands/nitrogen.py): --json lists every chunk and every table written.

It lives here rather than in tests/commands/ to share this folder's `released` fixture.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from padflow.commands import nitrogen as nitrogen_command


def test_import_command_json_lists_chunks_and_tables(released, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("PADFLOW_ROOT", str(tmp_path))  # no params.yaml there: default settings
    (released["videos"] / "beta.mp4").unlink()
    parser = argparse.ArgumentParser()
    nitrogen_command.register(parser.add_subparsers())
    out = tmp_path / "imported"
    args = parser.parse_args(["import-nitrogen", str(released["labels"]), "--videos", str(released["videos"]),
                              "--out", str(out), "--json"])  # fmt: skip
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(c["path"], c["status"], c["reason"]) for c in printed["chunks"]] == [
        ("SHARD_0000/alpha/alpha_chunk_0000", "imported", None),
        ("SHARD_0000/alpha/alpha_chunk_0001", "imported", None),
        ("SHARD_0000/beta/beta_chunk_0000", "rejected", "video_missing"),
        ("SHARD_0000/beta/beta_chunk_0001", "rejected", "video_missing"),
    ]
    assert [Path(t["path"]) for t in printed["tables"]] == [out / "alpha_chunk_0000.parquet", out / "alpha_chunk_0001.parquet"]
    assert all(Path(t["path"]).is_file() for t in printed["tables"])
