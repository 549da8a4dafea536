"""Manifests: formats, provenance, and the errors that name the problem."""

import json
import shutil
from pathlib import Path

import pytest

from padflow.ingest import ingest
from padflow.ingest.manifest import read_manifest


def test_manifest_carries_licence_and_source_into_report_and_records(samples, inputs: Path, tmp_path: Path):
    library = tmp_path / "library"
    (library / "clips").mkdir(parents=True)
    shutil.copy2(inputs / "good_a.mp4", library / "clips" / "a.mp4")
    shutil.copy2(inputs / "large.mp4", library / "large.mp4")
    shutil.copy2(inputs / "good_b.mp4", tmp_path / "outside.mp4")
    manifest = library / "manifest.yaml"
    manifest.write_text(
        "defaults: {licence: CC-BY-4.0}\n"
        "videos:\n"
        "  - path: clips/a.mp4\n"
        "    source: speedrun channel\n"
        "    url: https://example.org/watch?v=1\n"
        "  - {path: large.mp4, license: CC0-1.0}\n"
        "  - missing.mp4\n"
        "  - ../outside.mp4\n"
    )
    out = tmp_path / "out"
    report = ingest(manifest, out, samples.CFG)
    a, large, missing, outside = report.files
    assert (a.path, a.status, a.licence, a.source, a.url) == (
        "clips/a.mp4", "accepted", "CC-BY-4.0", "speedrun channel", "https://example.org/watch?v=1"
    )
    assert (large.status, large.licence, large.source, large.url) == ("accepted", "CC0-1.0", "unknown", None)
    assert (missing.reason, missing.detail) == ("unreadable", "file not found")
    assert outside.reason == "escapes_root"
    record = json.loads((out / "videos" / f"{a.video_id}.json").read_text())
    assert (record["licence"], record["source"], record["original_path"]) == ("CC-BY-4.0", "speedrun channel", a.path)

    manifest.write_text("- {path: clips/a.mp4, licence: CC0-1.0}\n")
    relabelled = ingest(manifest, out, samples.CFG)
    assert relabelled.files[0].licence == "CC0-1.0" and not relabelled.files[0].processed
    assert json.loads((out / "videos" / f"{a.video_id}.json").read_text())["licence"] == "CC0-1.0"
    assert relabelled.removed == (large.output,)


def test_text_manifest_skips_comments_and_bad_manifests_name_the_problem(samples, tmp_path: Path):
    text = tmp_path / "list.txt"
    text.write_text("# my videos\n\na.mp4\n  sub/b.mp4  \n")
    assert [(p, m.licence) for p, m in read_manifest(text)] == [(tmp_path / "a.mp4", "unknown"),
                                                                (tmp_path / "sub/b.mp4", "unknown")]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"url": "https://example.org/v"}]))
    with pytest.raises(ValueError, match=r"videos\[0\] has no `path`.*yt-dlp"):
        read_manifest(bad)
    bad.write_text(json.dumps([{"path": "a.mp4", "licence": "MIT", "license": "GPL"}]))
    with pytest.raises(ValueError, match="both licence and license"):
        read_manifest(bad)
    bad.write_text(json.dumps([{"path": "a.mp4", "owner": "me"}]))
    with pytest.raises(ValueError, match="unknown key.*owner"):
        read_manifest(bad)
    with pytest.raises(ValueError, match="input not found"):
        ingest(tmp_path / "nowhere", tmp_path / "out", samples.CFG)
