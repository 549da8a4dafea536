"""Sample inputs for the ingest tests: identifiable frames, every kind of bad file, the ingested folder.

Tests reach the constants and helpers through the `samples` fixture (conftest modules are not
imported by name), the input folder through `inputs` and one ingest of it through `ingested`.
"""

import hashlib
import os
import shutil
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from padflow.ingest import IngestConfig, ingest
from padflow.video import write_mp4
from padflow.video.transcode import resample_constant_rate

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


def faststart_cut(remux, good: Path, cut: Path, keep: float) -> None:
    """The first `keep` share of `good` remuxed with its index first (`remux`: the `faststart`
    fixture): it opens, then ends early."""
    whole = cut.with_suffix(".whole")
    remux(good, whole)
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


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every entry below `folder` (symlinks themselves, not their targets)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes() if path.is_file() else b""
        out[path.relative_to(folder).as_posix()] = (hashlib.sha256(content).hexdigest(), st.st_mtime_ns)
    return out


def rows_by_path(report) -> dict:
    return {row.path: row for row in report.files}


@pytest.fixture(scope="session")
def samples() -> SimpleNamespace:
    return SimpleNamespace(
        CFG=CFG, VFR_TIMES_MS=VFR_TIMES_MS, level_frames=level_frames, moving_frames=moving_frames,
        frame_indices=frame_indices, input_timing=input_timing, expected_indices=expected_indices,
        snapshot=snapshot, rows_by_path=rows_by_path,
    )


@pytest.fixture(scope="package")
def inputs(tmp_path_factory, faststart) -> Path:
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
    faststart_cut(faststart, src / "good_a.mp4", src / "cut_early.mp4", keep=0.5)  # not even the first frame decodes
    write_mp4(root / "long.mp4", moving_frames(90, seed=5), fps=30.0)
    faststart_cut(faststart, root / "long.mp4", src / "cut_late.mp4", keep=0.6)
    (src / "notes.mp4").write_text("these are my notes, not a video\n" * 10)
    write_audio_only(src / "sound.mp4")
    damage_packets(src / "good_b.mp4", src / "corrupt.mp4", first=10, count=6)
    shutil.copyfile(src / "good_a.mp4", src / "sub" / "good_a_copy.mp4")
    write_mp4(root / "elsewhere" / "outside.mp4", moving_frames(40, seed=4), fps=30.0)
    (src / "outside_link.mp4").symlink_to(root / "elsewhere" / "outside.mp4")
    os.mkfifo(src / "pipe.mp4")  # opening it would block forever: it must be refused unopened
    (src / "readme.txt").write_text("not listed: its suffix is not a video suffix\n")
    return src


@pytest.fixture(scope="package")
def ingested(inputs: Path, tmp_path_factory):
    before = snapshot(inputs)
    out = tmp_path_factory.mktemp("out")
    report = ingest(inputs, out, CFG)
    return report, out, before
