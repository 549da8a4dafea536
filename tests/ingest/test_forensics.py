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
