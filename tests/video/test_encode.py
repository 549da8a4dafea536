import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from padflow.video import Mp4Writer, h264_round_trip, iter_frames, write_gif, write_mp4


def test_h264_round_trip_keeps_size_count_and_picture(tmp_path: Path):
    frames = [np.full((61, 81, 3), 20 * i, np.uint8) for i in range(10)]  # odd sides get padded
    path = tmp_path / "clip.mp4"
    assert write_mp4(path, frames, fps=30.0, crf=10) == 10
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and float(s.average_rate) == pytest.approx(30.0)
    decoded = list(iter_frames(path))
    assert len(decoded) == 10 and decoded[0].shape == (62, 82, 3)
    assert abs(int(decoded[5][30, 40].mean()) - 100) <= 3


def test_bad_frames_and_empty_input_are_rejected_without_leaving_a_file(tmp_path: Path):
    with pytest.raises(ValueError, match="frame 0 must be uint8"):
        write_mp4(tmp_path / "a.mp4", [np.zeros((8, 8, 3), np.float32)], 30.0)
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "b.mp4", [], 30.0)
    assert list(tmp_path.iterdir()) == []


def noise(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.parametrize("background", [True, False])
def test_the_writer_gives_the_bytes_of_write_mp4(tmp_path: Path, background: bool):
    frames = noise(20)
    write_mp4(tmp_path / "whole.mp4", frames, 30.0, crf=20, preset="ultrafast")
    with Mp4Writer(tmp_path / "streamed.mp4", 30.0, crf=20, preset="ultrafast", background=background, maxsize=2) as w:
        for frame in frames:
            w.write(frame)
    assert w.frames == 20
    assert (tmp_path / "streamed.mp4").read_bytes() == (tmp_path / "whole.mp4").read_bytes()


ONE_CPU_WRITE = """
import os, sys
import numpy as np
from padflow.video import write_mp4
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
rng = np.random.default_rng(0)
write_mp4(sys.argv[1], [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(10)], 30.0)
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to differ from one")
def test_the_bytes_do_not_depend_on_how_many_cpus_the_process_may_use(tmp_path: Path):
    # ingest names a video by its bytes: a corpus made on another machine must get the same ids
    rng = np.random.default_rng(0)  # frames tall enough for x264 to slice them across threads
    write_mp4(tmp_path / "all_cpus.mp4", [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(10)], 30.0)
    subprocess.run([sys.executable, "-c", ONE_CPU_WRITE, str(tmp_path / "one_cpu.mp4")], check=True)
    assert (tmp_path / "one_cpu.mp4").read_bytes() == (tmp_path / "all_cpus.mp4").read_bytes()


ONE_CPU_ROUND_TRIP = """
import os, sys
import numpy as np
from padflow.video import h264_round_trip
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
rng = np.random.default_rng(0)
np.save(sys.argv[1], h264_round_trip(rng.integers(0, 256, (10, 120, 160, 3), dtype=np.uint8), 28))
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to differ from one")
def test_a_round_trip_does_not_depend_on_how_many_cpus_the_process_may_use(tmp_path: Path):
    # the parser's training renders and the look reader's erasure check go through it: the shipped parser's
    # fingerprint and a table's unseen controls must not depend on the machine
    rng = np.random.default_rng(0)
    here = h264_round_trip(rng.integers(0, 256, (10, 120, 160, 3), dtype=np.uint8), 28)
    subprocess.run([sys.executable, "-c", ONE_CPU_ROUND_TRIP, str(tmp_path / "one_cpu.npy")], check=True)
    assert np.array_equal(np.load(tmp_path / "one_cpu.npy"), here)


@pytest.mark.parametrize("background", [True, False])
def test_the_writer_leaves_no_file_when_the_block_fails_or_aborts(tmp_path: Path, background: bool):
    with pytest.raises(KeyError):
        with Mp4Writer(tmp_path / "failed.mp4", 30.0, background=background) as w:
            for frame in noise(5):
                w.write(frame)
            raise KeyError("the episode crashed")
    w = Mp4Writer(tmp_path / "aborted.mp4", 30.0, background=background)
    w.write(noise(1)[0])
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_an_encoder_error_reaches_the_producer(tmp_path: Path):
    with pytest.raises(ValueError, match="frame 1 must be uint8"):
        with Mp4Writer(tmp_path / "bad.mp4", 30.0) as w:
            w.write(noise(1)[0])
            for _ in range(100):  # the encoder thread fails on the float frame; a later write or close raises
                w.write(np.zeros((48, 64, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_gif_has_every_frame_at_the_rate(tmp_path: Path):
    frames = [np.full((20, 30, 3), 40 * i, np.uint8) for i in range(4)]
    path = write_gif(tmp_path / "clip.gif", frames, fps=8.0)
    with Image.open(path) as gif:
        assert gif.n_frames == 4 and gif.size == (30, 20) and gif.info["duration"] == 120  # 125 ms, stored in centiseconds
    with pytest.raises(ValueError, match="no frames"):
        write_gif(tmp_path / "empty.gif", [], 8.0)


def test_h264_round_trip_returns_every_frame_at_its_size():
    frames = np.stack([np.full((15, 21, 3), 30 * i, np.uint8) for i in range(6)])
    out = h264_round_trip(frames, crf=10)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frames).max() <= 4
