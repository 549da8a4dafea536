"""ingest() end to end: every kind of input file, the outputs, determinism."""

import json
import math
import shutil
from fractions import Fraction
from pathlib import Path

import av
import pytest

from padflow.ingest import IngestConfig, ingest
from padflow.ingest.report import REASONS
from padflow.video import write_mp4


def output_timing(path: Path) -> tuple[list[Fraction], tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [Fraction(f.pts) * f.time_base for f in container.decode(stream)]
        return times, (stream.codec_context.width, stream.codec_context.height)


def test_every_bad_file_is_rejected_with_its_reason_and_every_good_one_accepted(samples, ingested):
    report, out, _ = ingested
    rows = samples.rows_by_path(report)
    expected = {
        "empty.mp4": "truncated",
        "truncated.mp4": "truncated",
        "cut_early.mp4": "truncated",
        "cut_late.mp4": "truncated",
        "notes.mp4": "not_a_video",
        "sound.mp4": "no_video_stream",
        "corrupt.mp4": "corrupt",
        "short.mp4": "too_short",
        "sub/good_a_copy.mp4": "duplicate",
        "outside_link.mp4": "escapes_root",
        "pipe.mp4": "unreadable",
    }
    assert {path: rows[path].reason for path in expected} == expected
    assert all(rows[path].status == "rejected" and rows[path].detail for path in expected)
    accepted = {"good_a.mp4", "good_b.mp4", "sub/at25.mp4", "at60.mp4", "large.mp4", "vfr.mp4"}
    assert {row.path for row in report.accepted} == accepted
    assert "readme.txt" not in rows and report.summary()["ignored"] == 1
    assert "good_a.mp4" in rows["sub/good_a_copy.mp4"].detail
    assert "0 bytes" in rows["empty.mp4"].detail
    assert "MP4 box 'mdat'" in rows["cut_early.mp4"].detail
    assert "of the declared 3.00 s" in rows["cut_late.mp4"].detail
    for row in report.accepted:
        assert (out / row.output).is_file() and row.reason is None
        assert row.video_id == row.sha256[:16] and row.output == f"videos/{row.video_id}.mp4"
        assert row.licence == row.source == "unknown"


def test_report_and_metrics_files_count_every_status_and_reason(ingested):
    report, out, _ = ingested
    on_disk = json.loads((out / "ingest_report.json").read_text())
    metrics = json.loads((out / "ingest_metrics.json").read_text())
    assert len(on_disk["files"]) == len(report.files) == 17
    needed = {"path", "status", "reason", "detail", "video_id", "duration_s", "fps_in", "size_in", "size_out",
              "frames_out", "sha256", "source", "licence", "bytes_in", "bytes_out"}
    assert all(needed <= set(row) for row in on_disk["files"])
    assert metrics["accepted"] == 6 and metrics["rejected"] == 11 and metrics["files"] == 17
    assert metrics["rejected_truncated"] == 4 and sum(metrics[f"rejected_{r}"] for r in REASONS) == 11
    seconds = sum(row.duration_s for row in report.accepted)
    assert metrics["hours_accepted"] == pytest.approx(seconds / 3600, abs=1e-5)
    assert all(isinstance(v, (int, float)) for v in metrics.values())  # flat: a DVC metrics file


def test_inputs_are_never_modified(samples, ingested, inputs: Path):
    _, _, before = ingested
    assert samples.snapshot(inputs) == before


def test_outputs_are_constant_30_fps_h264_within_bounds(samples, ingested):
    report, out, _ = ingested
    for row in report.accepted:
        times, size = output_timing(out / row.output)
        assert len(times) == row.frames_out
        assert all(b - a == Fraction(1, 30) for a, b in zip(times, times[1:])), row.path
        assert size == row.size_out and size[0] <= samples.CFG.max_width and size[1] <= samples.CFG.max_height
        assert size[0] % 2 == 0 and size[1] % 2 == 0
    rows = samples.rows_by_path(report)
    assert rows["large.mp4"].size_in == (400, 240) and rows["large.mp4"].size_out == (240, 144)
    assert rows["good_a.mp4"].method == "stream_copy" and rows["at60.mp4"].method == "re_encode"


def test_other_rates_are_resampled_to_the_nearest_input_frame(samples, ingested, inputs: Path):
    report, out, _ = ingested
    rows = samples.rows_by_path(report)
    for path in ("sub/at25.mp4", "at60.mp4", "vfr.mp4"):
        starts, end = samples.input_timing(inputs / path)
        expected = samples.expected_indices(starts, end)
        assert samples.frame_indices(out / rows[path].output) == expected, path
        assert rows[path].frames_out == len(expected) == math.ceil(end * 30), path
    assert samples.input_timing(inputs / "vfr.mp4")[0] == [Fraction(t, 1000) for t in samples.VFR_TIMES_MS]
    assert samples.frame_indices(out / rows["at60.mp4"].output) == list(range(0, 72, 2))
    assert rows["sub/at25.mp4"].frames_out == 60


def test_sources_at_another_rate_keep_every_frame_in_a_native_rendition(samples, ingested):
    """Labels at the source rate: extraction reads a rendition at the source's own constant rate (<= 60 fps)."""
    report, out, _ = ingested
    rows = samples.rows_by_path(report)
    for path, fps, frames in (("at60.mp4", 60, 72), ("sub/at25.mp4", 25, 50)):
        row = rows[path]
        assert row.output_native == row.output.replace(".mp4", ".native.mp4") and row.fps_native == fps, path
        times, size = output_timing(out / row.output_native)
        assert samples.frame_indices(out / row.output_native) == list(range(frames)) and row.frames_native == frames, path
        assert all(b - a == Fraction(1, fps) for a, b in zip(times, times[1:])) and size == row.size_out, path
    at30 = rows["good_a.mp4"]  # already at the normalized rate: the normalized video is its native rendition
    assert (at30.output_native, at30.fps_native, at30.frames_native) == (at30.output, 30.0, at30.frames_out)
    assert report.summary()["native_renditions"] == 3  # at60, at25 and the variable-rate one (its average rate)


def test_same_input_gives_byte_identical_outputs_with_any_worker_count(samples, ingested, inputs, tmp_path: Path):
    report, out, _ = ingested
    again = ingest(inputs, tmp_path / "again", samples.CFG, workers=2)
    assert [r.to_dict() | {"processed": None} for r in again.files] == [
        r.to_dict() | {"processed": None} for r in report.files
    ]
    for row in report.accepted:
        assert (tmp_path / "again" / row.output).read_bytes() == (out / row.output).read_bytes(), row.path


def test_too_long_videos_are_rejected_before_decoding(samples, inputs: Path, tmp_path: Path):
    cfg = IngestConfig(max_width=256, max_height=144, min_duration_s=0.2, max_duration_s=1.0)
    report = ingest(inputs, tmp_path / "out", cfg)
    rows = samples.rows_by_path(report)
    assert rows["large.mp4"].reason == "too_long" and rows["good_a.mp4"].reason == "too_long"
    assert rows["short.mp4"].status == "accepted"


def test_output_folder_inside_the_input_is_not_ingested_again(samples, inputs: Path, tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(inputs / "good_a.mp4", src / "a.mp4")
    ingest(src, src / "ingested", samples.CFG)
    second = ingest(src, src / "ingested", samples.CFG)
    assert [r.path for r in second.files] == ["a.mp4"]
    with pytest.raises(ValueError, match="must not be the output folder"):
        ingest(src, src, samples.CFG)


def test_a_folder_manifest_gives_provenance_and_game_to_the_videos_it_lists(samples, tmp_path: Path):
    src = tmp_path / "videos"
    src.mkdir()
    write_mp4(src / "listed.mp4", samples.moving_frames(45), 30.0)
    write_mp4(src / "unlisted.mp4", samples.moving_frames(45, seed=1), 30.0)
    (src / "manifest.json").write_text(json.dumps(
        {"defaults": {"source": "my stream", "licence": "CC-BY-4.0"}, "videos": [{"path": "listed.mp4", "game": "pong"}]}
    ))
    rows = {row.path: row for row in ingest(src, tmp_path / "out", samples.CFG).files}
    assert (rows["listed.mp4"].game, rows["listed.mp4"].source, rows["listed.mp4"].licence) == ("pong", "my stream", "CC-BY-4.0")
    assert (rows["unlisted.mp4"].game, rows["unlisted.mp4"].source) == ("unknown", "unknown")
    assert {r.status for r in rows.values()} == {"accepted"}


def test_tiny_videos_are_rejected_for_their_frame_size(samples, tmp_path: Path):
    src = tmp_path / "videos"
    write_mp4(src / "two.mp4", samples.level_frames(45, width=2, height=2), 30.0)
    write_mp4(src / "fine.mp4", samples.level_frames(45, width=64, height=32), 30.0)
    rows = samples.rows_by_path(ingest(src, tmp_path / "out", samples.CFG))
    assert rows["two.mp4"].reason == "too_small" and "2x2" in rows["two.mp4"].detail and "32x32" in rows["two.mp4"].detail
    assert rows["fine.mp4"].status == "accepted"
