"""Video in and out: the one place padflow decodes, probes and encodes video (PyAV / FFmpeg).

Frame numbering — the one convention every module uses: frame `i` of a video is the i-th frame
its decoder returns, counting from 0 in presentation order (`iter_frames` yields them in that
order). Where reading must seek (`read_frames_at` jumps gaps longer than `SEEK_GAP_FRAMES`), a
frame's number after the seek comes from its timestamp, `round((pts - start) * fps)` with
`start = VideoInfo.start_s` and `fps = VideoInfo.fps`; on a constant-rate video (every ingested
video is one) the two are equal, so a frame has the same number however it was reached.

Decoding: `probe` (what the container declares), `iter_frames` (every frame, optionally
converted/scaled in the decoder), `read_frames_at` (given frame numbers), `slice_quantizer` (the
quantizer H.264 coded it at), `in_background` (decode ahead on a thread). Writing: `write_mp4`, `Mp4Writer` (frame by frame, optionally on
an encoder thread), `write_gif`, `h264_round_trip` (compression artefacts for synthetic data, and what an
encode leaves of a press for the look reader).
Ingest's normalization (probe of container details, stream copy, CFR resampling, re-encode)
is in `padflow.video.transcode`. Every error about a video file is a `VideoError` (a
ValueError) naming the file.
"""

from padflow.video.background import in_background
from padflow.video.decode import (
    SEEK_GAP_FRAMES,
    VideoError,
    VideoInfo,
    iter_frames,
    probe,
    read_frames_at,
    slice_quantizer,
)
from padflow.video.encode import Mp4Writer, h264_round_trip, write_gif, write_mp4

__all__ = [
    "SEEK_GAP_FRAMES",
    "Mp4Writer",
    "VideoError",
    "VideoInfo",
    "h264_round_trip",
    "in_background",
    "iter_frames",
    "probe",
    "read_frames_at",
    "slice_quantizer",
    "write_gif",
    "write_mp4",
]
