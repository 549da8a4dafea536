"""What a container declares, and why a file is no usable video."""

from pathlib import Path

import pytest

from padflow.ingest.forensics import Rejection, VideoProbe, probe_video


def test_probe_reports_what_the_container_declares(inputs: Path):
    probe = probe_video(inputs / "large.mp4")
    assert isinstance(probe, VideoProbe)
    assert (probe.codec, probe.width, probe.height, probe.fps) == ("h264", 400, 240, 30.0)
    assert probe.duration_s == pytest.approx(36 / 30)
    for name, reason in [("sound.mp4", "no_video_stream"), ("notes.mp4", "not_a_video"), ("empty.mp4", "truncated")]:
        rejection = probe_video(inputs / name)
        assert isinstance(rejection, Rejection) and rejection.reason == reason, name


def _boxes(data: bytes) -> dict[bytes, int]:
    """Offsets of an MP4's top-level boxes by type."""
    offsets, offset = {}, 0
    while offset + 8 <= len(data):
        offsets[data[offset + 4 : offset + 8]] = offset
        offset += int.from_bytes(data[offset : offset + 4], "big")
    return offsets


def test_a_damaged_index_is_corrupt_and_a_cut_file_truncated(samples, faststart, tmp_path: Path):
    from padflow.ingest.forensics import mp4_damage
    from padflow.video import write_mp4

    write_mp4(tmp_path / "plain.mp4", samples.moving_frames(30), 30.0)
    faststart(tmp_path / "plain.mp4", tmp_path / "good.mp4")  # index (moov) first, then the media data
    data = (tmp_path / "good.mp4").read_bytes()
    moov = _boxes(data)[b"moov"]
    huge = bytearray(data)
    huge[moov : moov + 4] = (3_553_814_822).to_bytes(4, "big")  # the damaged size field
    (tmp_path / "huge.mp4").write_bytes(bytes(huge))
    garbage = bytearray(data)
    garbage[moov + 4 : moov + 8] = b"\xd3\x07\x11\x9a"
    (tmp_path / "garbage.mp4").write_bytes(bytes(garbage))
    plain = (tmp_path / "plain.mp4").read_bytes()  # index last: a cut loses part of it
    (tmp_path / "cut.mp4").write_bytes(plain[: _boxes(plain)[b"moov"] + 40])

    garbage_type = probe_video(tmp_path / "garbage.mp4")
    assert garbage_type.reason == "corrupt" and "corrupt index" in garbage_type.detail
    # FFmpeg opens this one (it reads the index it can); ingest consults the box walk when decoding fails.
    huge_size = mp4_damage(tmp_path / "huge.mp4")
    assert huge_size.reason == "corrupt" and "corrupt index" in huge_size.detail and "3,553,814,822" in huge_size.detail
    cut = probe_video(tmp_path / "cut.mp4")
    assert cut.reason == "truncated" and "moov" in cut.detail
