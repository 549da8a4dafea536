"""Manifests: formats, provenance, and the errors that name the problem."""

import json
import shutil
from pathlib import Path

import pytest

from padflow.ingest import ingest
from padflow.ingest.manifest import read_manifest
from padflow.video import write_mp4


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

    manifest.write_text("- {path: clips/a.mp4, licence: CC0-1.0, skin: my-pad}\n")
    relabelled = ingest(manifest, out, samples.CFG)
    assert relabelled.files[0].licence == "CC0-1.0" and not relabelled.files[0].processed
    record = json.loads((out / "videos" / f"{a.video_id}.json").read_text())
    assert (record["licence"], record["skin"]) == ("CC0-1.0", "my-pad")  # the overlay's skin, declared: what extract names
    assert relabelled.files[0].skin == "my-pad" and a.skin is None
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
    bad.write_text(json.dumps([{"path": "a.mp4", "skin": 3}]))
    with pytest.raises(ValueError, match=r"videos\[0\].skin must be a string, got 3"):
        read_manifest(bad)
    bad.write_text(json.dumps([{"path": "a.mp4", "owner": "me"}]))
    with pytest.raises(ValueError, match="unknown key.*owner"):
        read_manifest(bad)
    with pytest.raises(ValueError, match="input not found"):
        ingest(tmp_path / "nowhere", tmp_path / "out", samples.CFG)


def test_a_duplicate_keeps_the_copy_the_manifest_describes_and_merges_the_rest(samples, tmp_path: Path):
    src = tmp_path / "videos"
    write_mp4(src / "a_download.mp4", samples.moving_frames(45), 30.0)
    shutil.copyfile(src / "a_download.mp4", src / "b_described.mp4")
    write_mp4(src / "c_game.mp4", samples.moving_frames(45, seed=1), 30.0)
    shutil.copyfile(src / "c_game.mp4", src / "d_licence.mp4")
    (src / "manifest.json").write_text(json.dumps([
        {"path": "b_described.mp4", "source": "my channel", "licence": "CC-BY-4.0", "game": "pong"},
        {"path": "c_game.mp4", "game": "breakout"},
        {"path": "d_licence.mp4", "licence": "CC0-1.0", "url": "https://example.invalid/d"},
    ]))
    report = ingest(src, tmp_path / "out", samples.CFG)
    rows = samples.rows_by_path(report)
    kept = rows["b_described.mp4"]
    assert kept.status == "accepted" and (kept.source, kept.licence, kept.game) == ("my channel", "CC-BY-4.0", "pong")
    dropped = rows["a_download.mp4"]
    assert dropped.reason == "duplicate" and "b_described.mp4, which is kept (the manifest describes it)" in dropped.detail
    merged = rows["c_game.mp4"]
    assert merged.status == "accepted" and (merged.game, merged.licence, merged.url) == ("breakout", "CC0-1.0", "https://example.invalid/d")
    assert rows["d_licence.mp4"].reason == "duplicate" and "c_game.mp4, which is kept (listed first)" in rows["d_licence.mp4"].detail
    record = json.loads((tmp_path / "out" / kept.output).with_suffix(".json").read_text())
    assert (record["source"], record["licence"]) == ("my channel", "CC-BY-4.0")


def test_folder_manifest_entries_outside_the_folder_are_reported_one_by_one(samples, tmp_path: Path):
    src = tmp_path / "videos"
    write_mp4(src / "inside.mp4", samples.moving_frames(45), 30.0)
    write_mp4(tmp_path / "secret" / "outside.mp4", samples.moving_frames(45, seed=2), 30.0)
    (src / "manifest.json").write_text(json.dumps([
        "inside.mp4", "../secret/outside.mp4", str(tmp_path / "secret" / "outside.mp4"), "missing.mp4",
    ]))
    report = ingest(src, tmp_path / "out", samples.CFG)
    by_reason = sorted((r.reason or "accepted", r.path) for r in report.files)
    assert by_reason == sorted([
        ("accepted", "inside.mp4"),
        ("escapes_root", f"manifest.json: {src / '../secret/outside.mp4'}"),
        ("escapes_root", f"manifest.json: {tmp_path / 'secret' / 'outside.mp4'}"),
        ("unreadable", "manifest.json: missing.mp4"),
    ])
    assert report.summary()["rejected_escapes_root"] == 2
