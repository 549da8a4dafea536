"""Ingest throughput on generated gameplay-like videos: `python bench/ingest.py [--seconds S] [--workers N]`.

Prints, per input set, input frames/s and video-seconds/s for a full ingest (probe, hash, decode,
normalize, write) and for decoding alone. The 30 fps sets take the stream-copy path, the 25 and
60 fps sets are resampled and re-encoded.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np

from padflow.ingest import IngestConfig, ingest
from padflow.video import write_mp4

# (label, width, height, fps, videos): 30 fps sets are stream-copied, the others re-encoded.
INPUT_SETS = (
    ("720p30", 1280, 720, 30.0, 2),
    ("480p30", 854, 480, 30.0, 2),
    ("720p60", 1280, 720, 60.0, 1),
    ("480p25", 854, 480, 25.0, 1),
)
SOURCE_CRF = 23  # like a streamer's upload
SOURCE_PRESET = "ultrafast"  # generation speed; decode cost hardly depends on it
SCROLL_PX_PER_S = 240  # side-scroller camera speed
SPRITES = 6
TEN_MINUTES_S = 600.0  # the projection the pipeline's time budget cares about


def gameplay_frames(width: int, height: int, fps: float, frames: int, seed: int) -> Iterator[np.ndarray]:
    """A scrolling textured level with moving sprites and a HUD: compressible like real gameplay."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, size=(height // 40 + 1, width // 20 + 1, 3), dtype=np.uint8)
    level = cv2.resize(coarse, (width * 2, height), interpolation=cv2.INTER_CUBIC)
    level[height * 3 // 4 :] = (90, 60, 30)  # ground
    level[height * 3 // 4 :: 8, ::16] = (140, 110, 60)  # ground texture
    positions = rng.uniform(0, 1, size=(SPRITES, 2)) * (width - 40, height * 3 // 4 - 40)
    velocities = rng.uniform(-200, 200, size=(SPRITES, 2)) / fps
    colors = rng.integers(60, 255, size=(SPRITES, 3))
    for i in range(frames):
        offset = int(i * SCROLL_PX_PER_S / fps) % width
        frame = np.ascontiguousarray(level[:, offset : offset + width])
        positions = (positions + velocities) % (width - 40, height * 3 // 4 - 40)
        for (x, y), color in zip(positions.astype(int), colors):
            cv2.rectangle(frame, (x, y), (x + 32, y + 32), tuple(int(c) for c in color), -1)
        cv2.putText(frame, f"SCORE {i * 10:06d}", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        yield frame


def make_inputs(folder: Path, seconds: float) -> dict[str, tuple[Path, int, float]]:
    """Encode each input set into its own folder; return label → (folder, frames, seconds of video)."""
    sets = {}
    for label, width, height, fps, videos in INPUT_SETS:
        sub = folder / label
        frames = int(seconds * fps)
        for v in range(videos):
            write_mp4(sub / f"{label}_{v}.mp4", gameplay_frames(width, height, fps, frames, seed=v), fps,
                      crf=SOURCE_CRF, preset=SOURCE_PRESET)
        sets[label] = (sub, frames * videos, seconds * videos)
    return sets


def decode_only(folder: Path) -> float:
    """Seconds to decode every frame of every video in `folder` (threaded, as ingest decodes).

    PyAV directly, not padflow.video: this measures the decoder alone, without converting frames to arrays.
    """
    started = time.perf_counter()
    for path in sorted(folder.glob("*.mp4")):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in container.decode(stream):
                pass
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ingest's worker pool ends with each run)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each generated video, seconds")
    parser.add_argument("--workers", type=int, default=1, help="ingest worker processes")
    parser.add_argument("--preset", default=None, help="x264 preset for re-encoding (default: IngestConfig)")
    args = parser.parse_args()
    cfg = IngestConfig() if args.preset is None else replace(IngestConfig(), preset=args.preset)
    work = Path(tempfile.mkdtemp(prefix="padflow-bench-ingest-"))
    try:
        started = time.perf_counter()
        sets = make_inputs(work / "in", args.seconds)
        print(f"generated inputs in {time.perf_counter() - started:.1f} s; preset={cfg.preset} workers={args.workers}")
        print(f"{'set':8} {'frames':>7} {'video s':>8} | {'ingest fps':>10} {'video s/s':>9} {'cpu s/video s':>13} "
              f"| {'decode fps':>10}")
        total_frames = total_seconds = total_wall = total_cpu = 0.0
        for label, (folder, frames, seconds) in sets.items():
            cpu_before = cpu_seconds()
            report = ingest(folder, work / "out" / label, cfg, workers=args.workers)
            wall, cpu = report.wall_s, cpu_seconds() - cpu_before
            if report.summary()["accepted"] != len(list(folder.glob("*.mp4"))):
                raise SystemExit(f"{label}: not every generated video was accepted: {report.summary()}")
            decode = decode_only(folder)
            print(f"{label:8} {frames:7d} {seconds:8.1f} | {frames / wall:10.1f} {seconds / wall:9.2f} "
                  f"{cpu / seconds:13.3f} | {frames / decode:10.1f}")
            total_frames, total_seconds = total_frames + frames, total_seconds + seconds
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        rate = total_seconds / total_wall
        print(f"{'all':8} {int(total_frames):7d} {total_seconds:8.1f} | {total_frames / total_wall:10.1f} {rate:9.2f} "
              f"{total_cpu / total_seconds:13.3f} |")
        cpu_per_10_min = TEN_MINUTES_S * total_cpu / total_seconds
        print(f"→ 10 minutes of this mix: about {TEN_MINUTES_S / rate:.0f} s wall here, {cpu_per_10_min:.0f} CPU-s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
