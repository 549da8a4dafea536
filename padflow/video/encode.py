"""Writing: H.264 MP4 (whole or frame by frame, optionally on an encoder thread) and GIF, all atomic."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from padflow.io import atomic_path

WRITER_QUEUE_FRAMES = 64  # frames buffered between a producer and Mp4Writer's encoder thread
# x264 left to pick its threads takes one per CPU it may run on (two sliced threads here, one
# under `taskset -c 0`), and its bytes differ with the count; ingest names a video by its bytes,
# so a corpus must not depend on the machine. One thread: the same bytes anywhere.
X264_THREADS = 1


class _Encoder:
    """One MP4 being written: frames in, H.264 (yuv420p) out, into a temp file renamed on finish."""

    def __init__(self, path: str | Path, fps: float, crf: int, preset: str) -> None:
        self.path, self.fps, self.crf, self.preset = path, fps, crf, preset
        self.frames = 0
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(path))
        try:
            self._container = self._stack.enter_context(av.open(str(tmp), mode="w", format="mp4"))
        except BaseException as exc:
            self.abort(exc)
            raise
        self._stream = None

    def add(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"{self.path}: frame {self.frames} must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
        h, w = frame.shape[:2]
        stream = self._stream
        if stream is None:
            stream = self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height = w + (w % 2), h + (h % 2)
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": self.preset, "threads": str(X264_THREADS)}
        if (h, w) != (stream.height, stream.width):
            frame = np.pad(frame, ((0, stream.height - h), (0, stream.width - w), (0, 0)), mode="edge")
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self._container.mux(packet)
        self.frames += 1

    def finish(self) -> int:
        """Flush and move the file into place; the number of frames written."""
        with self._stack:
            if self._stream is None:
                raise ValueError(f"{self.path}: no frames to encode")
            for packet in self._stream.encode():
                self._container.mux(packet)
        return self.frames

    def abort(self, error: BaseException | None = None) -> None:
        """Drop the temp file (nothing appears at the path)."""
        error = error or RuntimeError("aborted")
        self._stack.__exit__(type(error), error, error.__traceback__)


def write_mp4(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    crf: int = 23,
    preset: str = "veryfast",
) -> int:
    """Encode uint8 (H, W, 3) RGB frames to H.264 (yuv420p); return the number of frames written.

    Odd frame sizes are padded by one pixel (yuv420p needs even sides). Atomic: on any error no
    file appears at `path`.
    """
    encoder = _Encoder(path, fps, crf, preset)
    try:
        for frame in frames:
            encoder.add(frame)
    except BaseException as exc:
        encoder.abort(exc)
        raise
    return encoder.finish()


class Mp4Writer:
    """Write an MP4 frame by frame: `with Mp4Writer(path, fps) as w: w.write(frame)`.

    With `background=True` frames are encoded on a thread (`maxsize` frames buffered), so the
    producer runs while x264 works; an encoder error is raised by `write` or at the end of the
    block. The file appears at `path` only when the block ends without an error (or `close()`
    returns); an error in the block, or `abort()`, leaves nothing. Same bytes as `write_mp4`.
    """

    def __init__(self, path: str | Path, fps: float, crf: int = 23, preset: str = "veryfast", *,
                 background: bool = True, maxsize: int = WRITER_QUEUE_FRAMES) -> None:
        self.path = Path(path)
        self.fps, self.crf, self.preset, self.background = fps, crf, preset, background
        self.frames = 0
        self._closed = False
        self._encoder: _Encoder | None = None
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=maxsize)
            self._thread = threading.Thread(target=self._encode, name=f"encode-{self.path.stem}", daemon=True)
            self._thread.start()
        else:
            self._encoder = _Encoder(self.path, fps, crf, preset)

    def _encode(self) -> None:
        assert self._queue is not None
        try:
            write_mp4(self.path, self._queued(), self.fps, self.crf, self.preset)
        except BaseException as exc:  # handed to the producer in write() / close()
            self._error = exc
            while self._queue.get() is not None:  # drain, so the producer never blocks
                pass

    def _queued(self) -> Iterator[np.ndarray]:
        assert self._queue is not None
        while (item := self._queue.get()) is not None:
            if item is _ABORT:
                raise _Aborted()
            yield item

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) RGB frame."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        if self._error is not None and not isinstance(self._error, _Aborted):
            raise self._error
        if self._queue is not None:
            self._queue.put(frame)
        else:
            assert self._encoder is not None
            self._encoder.add(frame)
        self.frames += 1

    def close(self) -> Path:
        """Finish the file; returns its path. Raises the encoder's error, if it had one."""
        if self._closed:
            return self.path
        self._closed = True
        if self._queue is not None:
            assert self._thread is not None
            self._queue.put(None)
            self._thread.join()
            if self._error is not None:
                raise self._error
        else:
            assert self._encoder is not None
            self._encoder.finish()
        return self.path

    def abort(self) -> None:
        """Stop encoding and leave no file (the video did not finish)."""
        if self._closed:
            return
        self._closed = True
        if self._queue is not None:
            assert self._thread is not None
            self._queue.put(_ABORT)
            self._queue.put(None)
            self._thread.join()
        else:
            assert self._encoder is not None
            self._encoder.abort()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()


class _Aborted(Exception):
    """Ends a background encode without writing the file."""


_ABORT = object()


def write_gif(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> Path:
    """An animated GIF of uint8 (H, W, 3) RGB frames at `fps` (looping), written atomically."""
    from PIL import Image  # only when a GIF is written: importing padflow.video stays light

    images = [Image.fromarray(f) for f in frames]
    if not images:
        raise ValueError(f"{path}: no frames for the GIF")
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=round(1000 / fps), optimize=True)
    return Path(path)


def h264_round_trip(frames: np.ndarray, crf: int, preset: str = "ultrafast") -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames after H.264 (yuv420p, x264 at `crf`, X264_THREADS) encoding as one sequence and decoding."""
    t, h, w, _ = frames.shape
    padded = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")  # yuv420p needs even sides
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = padded.shape[2], padded.shape[1], "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, 30), Fraction(30)
    encoder.options = {"crf": str(crf), "preset": preset, "threads": str(X264_THREADS)}
    packets = []
    for i, frame in enumerate(padded):
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = i
        packets += encoder.encode(video_frame)
    packets += encoder.encode(None)
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f.to_ndarray(format="rgb24") for p in packets for f in decoder.decode(p)]
    decoded += [f.to_ndarray(format="rgb24") for f in decoder.decode(None)]
    if len(decoded) != t:
        raise ValueError(f"H.264 round trip returned {len(decoded)} of {t} frames")
    return np.stack(decoded)[:, :h, :w]
