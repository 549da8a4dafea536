"""Incremental ingest: reuse, re-decode, removal of stale outputs."""

import shutil
from pathlib import Path

import pytest

from padflow.ingest import ingest


def test_rerun_decodes_only_the_new_video_and_removes_only_recorded_outputs(samples, inputs: Path, tmp_path: Path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for name in ("good_a.mp4", "good_b.mp4", "notes.mp4"):
        shutil.copy2(inputs / name, src / name)
    first = ingest(src, out, samples.CFG)
    assert first.summary()["processed"] == 3
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()}
    foreign = out / "videos" / "mine.mp4"
    foreign.write_bytes(b"a file someone else put here")

    shutil.copy2(inputs / "at60.mp4", src / "new.mp4")
    second = ingest(src, out, samples.CFG)
    assert second.summary()["processed"] == 1 and second.summary()["reused"] == 3
    assert [r.path for r in second.files if r.processed] == ["new.mp4"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir() if p.name in mtimes} == mtimes

    removed_id = samples.rows_by_path(second)["good_b.mp4"].video_id
    (src / "good_b.mp4").unlink()
    third = ingest(src, out, samples.CFG)
    assert third.summary()["processed"] == 0
    assert list(third.removed) == [f"videos/{removed_id}.mp4"]
    assert not (out / "videos" / f"{removed_id}.mp4").exists()
    assert not (out / "videos" / f"{removed_id}.json").exists()
    assert foreign.read_bytes() == b"a file someone else put here"
    assert all((out / row.output).is_file() for row in third.accepted)

    damaged = out / samples.rows_by_path(third)["good_a.mp4"].output
    intact = damaged.read_bytes()
    damaged.write_bytes(b"overwritten by someone")  # an output that no longer matches its record
    fourth = ingest(src, out, samples.CFG)
    assert [r.path for r in fourth.files if r.processed] == ["good_a.mp4"]
    assert damaged.read_bytes() == intact


def test_a_failing_ingest_leaves_the_previous_output_intact_and_reusable(samples, inputs: Path, tmp_path: Path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for name in ("good_a.mp4", "good_b.mp4"):
        shutil.copy2(inputs / name, src / name)
    ingest(src, out, samples.CFG)
    before = samples.snapshot(out)

    # The next run has new work to do and is stopped after its first video (a user's Ctrl-C),
    # once it has written outputs: nothing of it reaches `out`.
    (src / "good_b.mp4").unlink()
    shutil.copy2(inputs / "at60.mp4", src / "new_60.mp4")
    shutil.copy2(inputs / "large.mp4", src / "new_large.mp4")

    def interrupt(done: int, total: int, row) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(src, out, samples.CFG, progress=interrupt)
    assert samples.snapshot(out) == before
    assert not list(tmp_path.glob(".out.*"))  # the run's work folder is gone too

    after = ingest(src, out, samples.CFG)
    assert sorted(r.path for r in after.files if r.processed) == ["new_60.mp4", "new_large.mp4"]
    assert after.summary()["reused"] == 1 and len(after.removed) == 1
    assert all((out / row.output).is_file() and (out / row.output_native).is_file() for row in after.accepted)
