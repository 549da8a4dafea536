"""Decoding: probe, iter_frames, read_frames_at, and the one frame numbering they share.

read_frames_at is compared with verbatim copies of the two readers it replaced: overlay
localization's frame sampler (seeks over long gaps, numbers frames by timestamp) and the policy
training's chunk-frame reader (decodes from the start, counts frames).
"""

from pathlib import Path

import av
import numpy as np
import pytest

from padflow.video import SEEK_GAP_FRAMES, VideoError, iter_frames, probe, read_frames_at, slice_quantizer, write_gif, write_mp4

FRAMES = 700  # long enough that reading a few frames seeks
SIZE = (64, 48)  # (width, height)


def numbered(count: int) -> list[np.ndarray]:
    """Frames whose picture says their number: left half 4 * (i // 64), right half 4 * (i % 64)."""
    frames = []
    for i in range(count):
        frame = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
        frame[:, : SIZE[0] // 2] = 4 * (i // 64)
        frame[:, SIZE[0] // 2 :] = 4 * (i % 64)
        frames.append(frame)
    return frames


def number_of(frame: np.ndarray) -> int:
    left, right = frame[8:-8, 4 : SIZE[0] // 2 - 4].mean(), frame[8:-8, SIZE[0] // 2 + 4 : -4].mean()
    return 64 * round(left / 4) + round(right / 4)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "numbered.mp4"
    write_mp4(path, numbered(FRAMES), 30.0, crf=0, preset="ultrafast")
    return path


def reference_sample_frames(path: Path, count: int) -> tuple[list[np.ndarray], list[int], float]:
    """padflow/overlay/localize.py:sample_frames before padflow.video had read_frames_at."""
    frames: list[np.ndarray] = []
    indices: list[int] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        total = stream.frames
        if not total and stream.duration:
            total = int(float(stream.duration * stream.time_base) * rate)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        targets = sorted({min(total - 1, int((k + 0.5) * total / count)) for k in range(count)})
        position = -1
        decoder = container.decode(stream)
        for target in targets:
            if target - position > SEEK_GAP_FRAMES:
                container.seek(int((start + target / rate) / stream.time_base), stream=stream, backward=True)
                decoder = container.decode(stream)
            for frame in decoder:
                position = round((float(frame.pts * stream.time_base) - start) * rate) if frame.pts is not None else position + 1
                if position >= target:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    indices.append(position)
                    break
    return frames, indices, rate


def reference_decode_frames(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """tasks/train.py:decode_frames before padflow.video had read_frames_at."""
    wanted_set, last = set(wanted), max(wanted)
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for n, frame in enumerate(container.decode(stream)):
            if n in wanted_set:
                found[n] = frame.to_ndarray(format="rgb24")
            if n >= last:
                break
    return found


def test_probe_reads_size_rate_count_and_codec(video: Path):
    info = probe(video)
    assert (info.width, info.height, info.fps, info.frames, info.codec) == (*SIZE, 30.0, FRAMES, "h264")
    assert info.duration_s == pytest.approx(FRAMES / 30) and info.start_s == 0.0


def test_frame_i_is_the_ith_decoded_frame(video: Path):
    frames = list(iter_frames(video, check_complete=True))
    assert [number_of(f) for f in frames] == list(range(FRAMES))
    assert frames[0].shape == (SIZE[1], SIZE[0], 3) and frames[0].dtype == np.uint8


def test_frames_convert_and_scale_in_the_decoder(video: Path):
    grey = next(iter(iter_frames(video, fmt="gray", size=(32, 16))))
    assert grey.shape == (16, 32) and grey.dtype == np.uint8
    with av.open(str(video)) as container:  # the conversion gate's motion measure always used
        expected = next(container.decode(video=0)).to_ndarray(format="gray", width=32, height=16)
    assert np.array_equal(grey, expected)


def test_read_frames_at_matches_the_localization_sampler(video: Path):
    for count in (2, 5, 25):  # 2: every gap is longer than SEEK_GAP_FRAMES, so the sampler seeks
        frames, indices, rate = reference_sample_frames(video, count)
        total = probe(video).frames
        targets = sorted({min(total - 1, int((k + 0.5) * total / count)) for k in range(count)})
        got = read_frames_at(video, targets)
        assert list(got) == indices == targets and rate == probe(video).fps
        assert all(np.array_equal(a, b) for a, b in zip(got.values(), frames)), count
        assert [number_of(f) for f in got.values()] == targets


def test_read_frames_at_matches_the_training_reader(video: Path):
    for wanted in ([0, 5, 6, 299], [3, 400, 401, FRAMES - 1], [650, 10]):
        expected = reference_decode_frames(video, wanted)
        got = read_frames_at(video, wanted)
        assert sorted(got) == sorted(expected) == sorted(set(wanted))
        assert all(np.array_equal(got[i], expected[i]) for i in wanted), wanted
        assert [number_of(got[i]) for i in sorted(got)] == sorted(set(wanted))
    assert read_frames_at(video, []) == {}


def test_bad_indices_and_files_are_video_errors_naming_the_file(video: Path, tmp_path: Path):
    with pytest.raises(VideoError, match=r"numbered\.mp4: has no frame 700"):
        read_frames_at(video, [10, FRAMES])
    with pytest.raises(VideoError, match=r"numbered\.mp4: has no frame 900"):
        read_frames_at(video, [900])  # reached by seeking
    with pytest.raises(VideoError, match="start at 0"):
        read_frames_at(video, [-1])
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(VideoError, match=r"notes\.mp4: cannot open"):
        probe(text)
    with pytest.raises(ValueError, match=r"notes\.mp4"):  # VideoError is a ValueError
        list(iter_frames(text))
    with pytest.raises(VideoError, match=r"missing\.mp4"):
        read_frames_at(tmp_path / "missing.mp4", [0])


def test_check_complete_finds_a_video_that_ends_early(video: Path, tmp_path: Path, faststart):
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    faststart(video, whole)
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # the index comes first: it opens, then the data stops
    assert len(list(iter_frames(whole, check_complete=True))) == FRAMES
    assert 0 < len(list(iter_frames(cut))) < FRAMES
    with pytest.raises(VideoError, match=r"cut\.mp4: decoded \d+ of 700 declared frames"):
        list(iter_frames(cut, check_complete=True))


@pytest.mark.parametrize("crf", [18, 31])
def test_slice_quantizer_is_the_crf_x264_encoded_at(tmp_path: Path, crf: int):
    """The look reader tries whether a press survives the encoder at the video's own quantizer."""
    write_mp4(tmp_path / "clip.mp4", numbered(40), 30.0, crf=crf)
    assert slice_quantizer(tmp_path / "clip.mp4") == crf


def test_slice_quantizer_of_another_codec_is_unknown(tmp_path: Path):
    write_gif(tmp_path / "clip.gif", numbered(4), 10.0)
    assert slice_quantizer(tmp_path / "clip.gif") is None
    with pytest.raises(VideoError, match=r"missing\.mp4"):
        slice_quantizer(tmp_path / "missing.mp4")
