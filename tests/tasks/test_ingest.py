import argparse
import hashlib
import json
import math
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from padflow.commands import ingest as ingest_command
from padflow.video import write_mp4
from tasks.ingest import (
    REASONS,
    IngestConfig,
    Rejection,
    VideoProbe,
    accepted_videos,
    ingest,
    output_size,
    probe_video,
    read_manifest,
    read_report,
    resample_constant_rate,
    stage,
)

# Small bounds so that one test video is "too large" without making big files.
CFG = IngestConfig(max_width=256, max_height=144, min_duration_s=1.0)
LEVEL_STEP = 3  # gray level between consecutive frames of an identifiable video
LEVEL_BASE = 16


def level_frames(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Flat gray frames whose level names their index, so a decoded frame tells which input it shows."""
    return [np.full((height, width, 3), LEVEL_BASE + LEVEL_STEP * i, np.uint8) for i in range(count)]


def frame_indices(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [
            round((f.to_ndarray(format="rgb24").mean() - LEVEL_BASE) / LEVEL_STEP) for f in container.decode(video=0)
        ]


def moving_frames(count: int, width: int = 160, height: int = 96, seed: int = 0) -> list[np.ndarray]:
    y, x = np.mgrid[0:height, 0:width]
    planes = [((x * 3 + y * (seed + 1) + 5 * i) % 256).astype(np.uint8) for i in range(count)]
    return [np.repeat(plane[..., None], 3, axis=2) for plane in planes]


def write_timed(path: Path, frames: list[np.ndarray], times_ms: list[int]) -> None:
    """Encode frames at the given presentation times (a variable-frame-rate video)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for frame, t in zip(frames, times_ms):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_audio_only(path: Path) -> None:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=44100)
        tone = (0.2 * np.sin(np.arange(1024) / 8)).astype(np.float32)[None]
        for k in range(50):
            frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, k * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def faststart_cut(good: Path, cut: Path, keep: float) -> None:
    """The first `keep` share of `good` remuxed with its index first: it opens, then ends early."""
    whole = cut.with_suffix(".whole")
    with av.open(str(good)) as src, av.open(str(whole), "w", format="mp4", options={"movflags": "+faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = whole.read_bytes()
    whole.unlink()
    cut.write_bytes(data[: int(len(data) * keep)])


def damage_packets(good: Path, bad: Path, first: int, count: int) -> None:
    """Copy `good` with the start of some video packets overwritten (the container stays intact)."""
    data = bytearray(good.read_bytes())
    with av.open(str(good)) as container:
        spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    for pos, size in spans[first : first + count]:
        data[pos : pos + min(size, 48)] = bytes(range(100, 100 + min(size, 48)))
    bad.write_bytes(bytes(data))


VFR_TIMES_MS = [0, 40, 70, 95, 140, 150, 200, 260, 290, 330, 380, 400, 450, 520, 560, 600, 640, 700, 730, 760,
                800, 850, 880, 930, 990, 1020, 1050, 1100, 1160, 1190, 1230, 1290]


def input_timing(path: Path) -> tuple[list[Fraction], Fraction]:
    """Start times of the decoded frames (from 0) and the end of the last one, in seconds."""
    with av.open(str(path)) as container:
        frames = [(f.pts, f.duration, f.time_base) for f in container.decode(video=0)]
    first = frames[0][0]
    starts = [Fraction(pts - first) * tb for pts, _, tb in frames]
    return starts, starts[-1] + Fraction(frames[-1][1]) * frames[-1][2]


def expected_indices(starts: list[Fraction], end: Fraction) -> list[int]:
    durations = [b - a for a, b in zip(starts, starts[1:])] + [end - starts[-1]]
    return list(resample_constant_rate(zip(range(len(starts)), starts, durations), Fraction(30)))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder with good videos of several kinds, every kind of bad file, and a non-video file."""
    root = tmp_path_factory.mktemp("inputs")
    src = root / "videos"
    write_mp4(src / "good_a.mp4", moving_frames(45, seed=0), fps=30.0)
    write_mp4(src / "good_b.mp4", moving_frames(40, seed=1), fps=30.0)
    write_mp4(src / "sub" / "at25.mp4", level_frames(50), fps=25.0, crf=10)
    write_mp4(src / "at60.mp4", level_frames(72), fps=60.0, crf=10)
    write_mp4(src / "large.mp4", moving_frames(36, width=400, height=240, seed=2), fps=30.0)
    write_timed(src / "vfr.mp4", level_frames(len(VFR_TIMES_MS)), VFR_TIMES_MS)
    write_mp4(src / "short.mp4", moving_frames(12, seed=3), fps=30.0)
    (src / "empty.mp4").write_bytes(b"")
    good_a = (src / "good_a.mp4").read_bytes()
    (src / "truncated.mp4").write_bytes(good_a[: len(good_a) // 2])
    faststart_cut(src / "good_a.mp4", src / "cut_early.mp4", keep=0.5)  # not even the first frame decodes
    write_mp4(root / "long.mp4", moving_frames(90, seed=5), fps=30.0)
    faststart_cut(root / "long.mp4", src / "cut_late.mp4", keep=0.6)
    (src / "notes.mp4").write_text("these are my notes, not a video\n" * 10)
    write_audio_only(src / "sound.mp4")
    damage_packets(src / "good_b.mp4", src / "corrupt.mp4", first=10, count=6)
    shutil.copyfile(src / "good_a.mp4", src / "sub" / "good_a_copy.mp4")
    write_mp4(root / "elsewhere" / "outside.mp4", moving_frames(40, seed=4), fps=30.0)
    (src / "outside_link.mp4").symlink_to(root / "elsewhere" / "outside.mp4")
    os.mkfifo(src / "pipe.mp4")  # opening it would block forever: it must be refused unopened
    (src / "readme.txt").write_text("not listed: its suffix is not a video suffix\n")
    return src


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every entry below `folder` (symlinks themselves, not their targets)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes() if path.is_file() else b""
        out[path.relative_to(folder).as_posix()] = (hashlib.sha256(content).hexdigest(), st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def ingested(inputs: Path, tmp_path_factory):
    before = snapshot(inputs)
    out = tmp_path_factory.mktemp("out")
    report = ingest(inputs, out, CFG)
    return report, out, before


def rows_by_path(report) -> dict:
    return {row.path: row for row in report.files}


def test_every_bad_file_is_rejected_with_its_reason_and_every_good_one_accepted(ingested):
    report, out, _ = ingested
    rows = rows_by_path(report)
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


def test_later_stages_read_the_report_back_with_only_accepted_videos(ingested):
    report, out, _ = ingested
    accepted = accepted_videos(read_report(out))
    assert list(accepted) == [row.video_id for row in report.accepted]


@pytest.mark.parametrize(("content", "reason"), [(None, "ingest report not found"), ("{oops", "ingest report unreadable"),
                                                  ('{"config": {}}', "not an ingest report")])
def test_a_missing_or_malformed_report_names_the_file(tmp_path: Path, content: str | None, reason: str):
    if content is not None:
        (tmp_path / "ingest_report.json").write_text(content)
    with pytest.raises(ValueError, match=rf"ingest_report\.json: {reason}"):
        read_report(tmp_path)


def test_inputs_are_never_modified(ingested, inputs: Path):
    _, _, before = ingested
    assert snapshot(inputs) == before


def output_timing(path: Path) -> tuple[list[Fraction], tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [Fraction(f.pts) * f.time_base for f in container.decode(stream)]
        return times, (stream.codec_context.width, stream.codec_context.height)


def test_outputs_are_constant_30_fps_h264_within_bounds(ingested):
    report, out, _ = ingested
    for row in report.accepted:
        times, size = output_timing(out / row.output)
        assert len(times) == row.frames_out
        assert all(b - a == Fraction(1, 30) for a, b in zip(times, times[1:])), row.path
        assert size == row.size_out and size[0] <= CFG.max_width and size[1] <= CFG.max_height
        assert size[0] % 2 == 0 and size[1] % 2 == 0
    rows = rows_by_path(report)
    assert rows["large.mp4"].size_in == (400, 240) and rows["large.mp4"].size_out == (240, 144)
    assert rows["good_a.mp4"].method == "stream_copy" and rows["at60.mp4"].method == "re_encode"


def test_other_rates_are_resampled_to_the_nearest_input_frame(ingested, inputs: Path):
    report, out, _ = ingested
    rows = rows_by_path(report)
    for path in ("sub/at25.mp4", "at60.mp4", "vfr.mp4"):
        starts, end = input_timing(inputs / path)
        expected = expected_indices(starts, end)
        assert frame_indices(out / rows[path].output) == expected, path
        assert rows[path].frames_out == len(expected) == math.ceil(end * 30), path
    assert input_timing(inputs / "vfr.mp4")[0] == [Fraction(t, 1000) for t in VFR_TIMES_MS]
    assert frame_indices(out / rows["at60.mp4"].output) == list(range(0, 72, 2))
    assert rows["sub/at25.mp4"].frames_out == 60


def test_resampling_keeps_repeats_drops_and_ends_where_the_input_ends():
    def run(starts, end):
        return expected_indices([Fraction(s) for s in starts], Fraction(end))

    assert run([Fraction(i, 30) for i in range(4)], Fraction(4, 30)) == [0, 1, 2, 3]
    assert run([Fraction(i, 60) for i in range(6)], Fraction(6, 60)) == [0, 2, 4]
    assert run([Fraction(i, 15) for i in range(3)], Fraction(3, 15)) == [0, 0, 1, 1, 2, 2]
    jitter = [Fraction(0), Fraction(34, 1000), Fraction(66, 1000), Fraction(101, 1000)]
    assert run(jitter, Fraction(133, 1000)) == [0, 1, 2, 3]  # ms jitter neither drops nor repeats
    assert list(resample_constant_rate([], Fraction(30))) == []


def test_output_size_keeps_aspect_with_even_sides_and_never_upscales():
    assert output_size(1920, 1080, 1280, 720) == (1280, 720)
    assert output_size(400, 240, 256, 144) == (240, 144)
    assert output_size(1080, 1920, 1280, 720) == (404, 720)
    assert output_size(641, 481, 1280, 720) == (640, 480)
    assert output_size(320, 240, 1280, 720) == (320, 240)


def test_probe_reports_what_the_container_declares(inputs: Path):
    probe = probe_video(inputs / "large.mp4")
    assert isinstance(probe, VideoProbe)
    assert (probe.codec, probe.width, probe.height, probe.fps) == ("h264", 400, 240, 30.0)
    assert probe.duration_s == pytest.approx(36 / 30)
    for name, reason in [("sound.mp4", "no_video_stream"), ("notes.mp4", "not_a_video"), ("empty.mp4", "truncated")]:
        rejection = probe_video(inputs / name)
        assert isinstance(rejection, Rejection) and rejection.reason == reason, name


def test_same_input_gives_byte_identical_outputs_with_any_worker_count(ingested, inputs, tmp_path: Path):
    report, out, _ = ingested
    again = ingest(inputs, tmp_path / "again", CFG, workers=2)
    assert [r.to_dict() | {"processed": None} for r in again.files] == [
        r.to_dict() | {"processed": None} for r in report.files
    ]
    for row in report.accepted:
        assert (tmp_path / "again" / row.output).read_bytes() == (out / row.output).read_bytes(), row.path


def test_too_long_videos_are_rejected_before_decoding(inputs: Path, tmp_path: Path):
    cfg = IngestConfig(max_width=256, max_height=144, min_duration_s=0.2, max_duration_s=1.0)
    report = ingest(inputs, tmp_path / "out", cfg)
    rows = rows_by_path(report)
    assert rows["large.mp4"].reason == "too_long" and rows["good_a.mp4"].reason == "too_long"
    assert rows["short.mp4"].status == "accepted"


def test_rerun_decodes_only_the_new_video_and_removes_only_recorded_outputs(inputs: Path, tmp_path: Path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for name in ("good_a.mp4", "good_b.mp4", "notes.mp4"):
        shutil.copy2(inputs / name, src / name)
    first = ingest(src, out, CFG)
    assert first.summary()["processed"] == 3
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()}
    foreign = out / "videos" / "mine.mp4"
    foreign.write_bytes(b"a file someone else put here")

    shutil.copy2(inputs / "at60.mp4", src / "new.mp4")
    second = ingest(src, out, CFG)
    assert second.summary()["processed"] == 1 and second.summary()["reused"] == 3
    assert [r.path for r in second.files if r.processed] == ["new.mp4"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir() if p.name in mtimes} == mtimes

    removed_id = rows_by_path(second)["good_b.mp4"].video_id
    (src / "good_b.mp4").unlink()
    third = ingest(src, out, CFG)
    assert third.summary()["processed"] == 0
    assert list(third.removed) == [f"videos/{removed_id}.mp4"]
    assert not (out / "videos" / f"{removed_id}.mp4").exists()
    assert not (out / "videos" / f"{removed_id}.json").exists()
    assert foreign.read_bytes() == b"a file someone else put here"
    assert all((out / row.output).is_file() for row in third.accepted)

    damaged = out / rows_by_path(third)["good_a.mp4"].output
    intact = damaged.read_bytes()
    damaged.write_bytes(b"overwritten by someone")  # an output that no longer matches its record
    fourth = ingest(src, out, CFG)
    assert [r.path for r in fourth.files if r.processed] == ["good_a.mp4"]
    assert damaged.read_bytes() == intact


def test_output_folder_inside_the_input_is_not_ingested_again(inputs: Path, tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(inputs / "good_a.mp4", src / "a.mp4")
    ingest(src, src / "ingested", CFG)
    second = ingest(src, src / "ingested", CFG)
    assert [r.path for r in second.files] == ["a.mp4"]
    with pytest.raises(ValueError, match="must not be the output folder"):
        ingest(src, src, CFG)


def test_manifest_carries_licence_and_source_into_report_and_records(inputs: Path, tmp_path: Path):
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
    report = ingest(manifest, out, CFG)
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
    relabelled = ingest(manifest, out, CFG)
    assert relabelled.files[0].licence == "CC0-1.0" and not relabelled.files[0].processed
    assert json.loads((out / "videos" / f"{a.video_id}.json").read_text())["licence"] == "CC0-1.0"
    assert relabelled.removed == (large.output,)


def test_text_manifest_skips_comments_and_bad_manifests_name_the_problem(tmp_path: Path):
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
        ingest(tmp_path / "nowhere", tmp_path / "out", CFG)


def test_stage_reads_its_section_and_paths_from_params(inputs: Path, tmp_path: Path):
    shutil.copytree(inputs / "sub", tmp_path / "raw")
    params = {"ingest": {"input": "raw", "output": "ingested", "max_width": 256, "max_height": 144}}
    result = stage(params, tmp_path)
    assert result.metrics["accepted"] == 2 and result.metrics["rejected"] == 0  # at25.mp4, good_a_copy.mp4
    assert result.params["ingest"]["max_width"] == 256
    assert result.artifacts["ingest"] == tmp_path / "ingested" / "ingest_report.json"
    with pytest.raises(ValueError, match="ingest: unknown key"):
        stage({"ingest": {"max_widht": 256}}, tmp_path)


def test_config_rejects_bad_values_naming_the_field():
    for field, value in [("fps", 0.0), ("max_width", 1281), ("crf", 60), ("preset", "warp"), ("encoder_threads", 0),
                         ("scale_filter", "magic"), ("min_duration_s", -1.0), ("extensions", (".MP4",))]:
        with pytest.raises(ValueError, match=field):
            IngestConfig(**{field: value})


def test_cli_json_prints_one_object_with_files_and_summary(inputs: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the defaults apply
    monkeypatch.delenv("PADFLOW_ROOT", raising=False)
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(inputs / "good_a.mp4", src / "a.mp4")
    shutil.copy2(inputs / "notes.mp4", src / "b.mp4")
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


def test_a_folder_manifest_gives_provenance_and_game_to_the_videos_it_lists(tmp_path: Path):
    src = tmp_path / "videos"
    src.mkdir()
    write_mp4(src / "listed.mp4", moving_frames(45), 30.0)
    write_mp4(src / "unlisted.mp4", moving_frames(45, seed=1), 30.0)
    (src / "manifest.json").write_text(json.dumps(
        {"defaults": {"source": "my stream", "licence": "CC-BY-4.0"}, "videos": [{"path": "listed.mp4", "game": "pong"}]}
    ))
    rows = {row.path: row for row in ingest(src, tmp_path / "out", CFG).files}
    assert (rows["listed.mp4"].game, rows["listed.mp4"].source, rows["listed.mp4"].licence) == ("pong", "my stream", "CC-BY-4.0")
    assert (rows["unlisted.mp4"].game, rows["unlisted.mp4"].source) == ("unknown", "unknown")
    assert {r.status for r in rows.values()} == {"accepted"}
