"""File forensics: what a file's container declares, and why a file is no usable video (its Rejection)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from padflow.ingest.report import Reason
from padflow.video.transcode import FFmpegError, VideoProbe, inspect_container

__all__ = ["CONTAINER_MAGIC", "MP4_BOX_TYPES", "Rejection", "VideoProbe", "classify_unopenable", "mp4_damage", "probe_video"]

# FFmpeg demuxers that read single pictures: such a file "has a video stream" but is no video.
STILL_IMAGE_FORMAT_SUFFIXES = ("_pipe", "image2")
# Leading bytes of media containers FFmpeg reads; a file that starts like one but does not open
# is damaged (corrupt/truncated) rather than not a video at all.
CONTAINER_MAGIC: tuple[bytes, ...] = (
    b"\x1a\x45\xdf\xa3",  # Matroska / WebM (EBML)
    b"RIFF",  # AVI
    b"FLV",
    b"OggS",
    b"\x00\x00\x01\xba",  # MPEG program stream
    b"\x30\x26\xb2\x75",  # ASF / WMV
)
MP4_BOX_TYPES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"moof", b"styp"})


@dataclass(frozen=True)
class Rejection:
    reason: Reason
    detail: str


def probe_video(path: Path) -> VideoProbe | Rejection:
    """What the container says about `path`'s first video stream, or why it is no usable video."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Rejection("unreadable", f"cannot stat: {exc.strerror or exc}")
    if size == 0:
        return Rejection("truncated", "empty file (0 bytes)")
    try:
        contents = inspect_container(path)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        return Rejection("unreadable", f"cannot open: {exc}")
    except (FFmpegError, OSError, UnicodeDecodeError) as exc:
        return classify_unopenable(path, exc)
    probe = contents.video
    damage = mp4_damage(path) if contents.format_name.startswith("mov,mp4") else None
    if probe is None:
        if damage is not None:  # an index cut or damaged before its video track: not an audio file
            return damage
        kinds = contents.stream_types
        found = f"only {', '.join(kinds)} stream(s)" if kinds else "no streams"
        return Rejection("no_video_stream", f"{contents.format_name} file with {found}")
    if any(contents.format_name.endswith(suffix) for suffix in STILL_IMAGE_FORMAT_SUFFIXES):
        return Rejection("not_a_video", f"a still image ({contents.format_name})")
    if not probe.width or not probe.height:
        return damage or Rejection("corrupt", f"video stream declares no frame size ({probe.codec})")
    return probe


def classify_unopenable(path: Path, error: Exception) -> Rejection:
    """Why FFmpeg could not open `path`: a damaged media file (truncated/corrupt) or none at all."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[4:8] in MP4_BOX_TYPES:
        return mp4_damage(path) or Rejection("corrupt", f"MP4 structure is complete but FFmpeg cannot open it: {error}")
    if head.startswith(CONTAINER_MAGIC):
        return Rejection("corrupt", f"looks like a media container but FFmpeg cannot open it: {error}")
    printable = head.decode("ascii", errors="replace").encode("unicode_escape").decode()
    return Rejection("not_a_video", f"not a media file FFmpeg recognizes (starts with {printable!r})")


def mp4_damage(path: Path) -> Rejection | None:
    """Walk an MP4's top-level boxes: one running past the end of the file means it was cut off
    (truncated), unless its header cannot be right (a type that is no four-character code, or an
    index box larger than the whole file): then the index itself is damaged (corrupt)."""
    size = path.stat().st_size
    seen: list[bytes] = []
    with open(path, "rb") as f:
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            header = f.read(16)
            box_size, box_type = int.from_bytes(header[:4], "big"), header[4:8]
            if box_size == 1 and len(header) >= 16:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:  # box runs to the end of the file
                box_size = size - offset
            if not _is_box_type(box_type):
                return Rejection("corrupt", f"corrupt index: the MP4 box at byte {offset} has no valid type ({box_type!r})")
            if box_size < 8:
                return Rejection("corrupt", f"corrupt index: MP4 box {box_type!r} at byte {offset} has invalid size {box_size}")
            if box_size > size and box_type != b"mdat":  # only the media data can be most of a file that was cut
                return Rejection(
                    "corrupt",
                    f"corrupt index: MP4 box {box_type.decode('latin-1')!r} at byte {offset} declares {box_size:,} bytes, "
                    f"more than the whole file ({size:,})",
                )
            if offset + box_size > size:
                return Rejection(
                    "truncated",
                    f"MP4 box {box_type.decode('latin-1')!r} at byte {offset} needs {box_size} bytes "
                    f"but the file ends after {size - offset}",
                )
            seen.append(box_type)
            offset += box_size
    if b"moov" not in seen and b"moof" not in seen:
        return Rejection("truncated", "MP4 has no 'moov' index (the recording or download stopped early)")
    return None


def _is_box_type(box_type: bytes) -> bool:
    """A four-character code: printable ASCII, or the © that QuickTime's metadata boxes start with."""
    return len(box_type) == 4 and all(32 <= b < 127 or b == 0xA9 for b in box_type)
