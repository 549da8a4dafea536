"""ingest: turn a folder or manifest of videos into normalized 30 fps H.264 videos and a report.

Every input file is probed with PyAV, hashed (sha256 of its bytes), deduplicated by that hash,
fully decoded (a file that does not decode to the end is rejected, never half-used), resampled
to a constant frame rate by its timestamps, scaled to fit the configured bounds and re-encoded.
A video that is already H.264 yuv420p at exactly the target rate and within bounds is stream-
copied instead (it is still decoded to the end to validate it).

Input, one of:
    a folder      every file below it whose suffix is in `IngestConfig.extensions` (hidden files
                  and folders, and the output folder if it lies inside, are skipped); a
                  `manifest.json` in the folder (format below) gives source, licence, url and
                  game for the files it lists; otherwise they are "unknown".
    a manifest    `*.txt` (or any other suffix): one path per line, blank lines and lines
                  starting with '#' ignored.
                  `*.json` / `*.yaml` / `*.yml`: a list whose items are a path string or a
                  mapping {path, source, licence (or license), url, game}; or a mapping
                  {defaults: {source, licence, url}, videos: [...]} where the defaults fill the
                  fields an item leaves out. Missing metadata is "unknown" (url: null).
                  Relative paths are relative to the manifest's folder, which is the input root.

A path (or symlink) that resolves outside the input root is rejected as `escapes_root`.

Output (OUT):
    videos/<video_id>.mp4    normalized video, video_id = the first 16 hex digits of the input's
                             sha256 (stable across runs, renames and machines); no audio
    videos/<video_id>.json   the video's record: original path, sha256, source, licence, url, ...
    ingest_report.json       one row per input file (IngestRow), the config and run totals
    ingest_metrics.json      flat summary numbers (a DVC metrics file)

Incremental: a re-run decodes only inputs whose sha256 it has not recorded under the same
normalization settings (same config and PyAV/FFmpeg versions); a recorded output is reused when
its bytes still match the recorded sha256_out. Outputs of videos that left the input are deleted,
but only files this stage recorded in its previous report and whose bytes are unchanged. Input
files are only ever opened for reading.

Encoding is reproducible: the same input and settings give byte-identical output on the same
PyAV/FFmpeg build, because x264 is run with a fixed thread count (x264 output depends on the
thread count, not on timing) and the resampling decisions use exact rational timestamps.

Fetching videos from URLs is not part of this stage (nothing is downloaded at run time). On a
machine with internet, fetch with yt-dlp (video only: ingest drops audio), then ingest the folder
through a manifest that carries each video's page URL, uploader and licence from yt-dlp's info
JSON (`webpage_url`, `uploader`, `license`):

    yt-dlp -f "bv*[height<=720]" --remux-video mp4 --write-info-json -o "videos/%(id)s.%(ext)s" URL...
    python - <<'EOF'
    import json, pathlib, yaml
    infos = [json.loads(p.read_text()) for p in sorted(pathlib.Path("videos").glob("*.info.json"))]
    items = [{"path": f"{i['id']}.mp4", "url": i["webpage_url"], "source": i.get("uploader") or "unknown",
              "licence": i.get("license") or "unknown"} for i in infos]
    pathlib.Path("videos/manifest.yaml").write_text(yaml.safe_dump(items, sort_keys=False))
    EOF
    padflow ingest videos/manifest.yaml --out data/ingest
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import av
import yaml
from av.container import InputContainer
from av.video.reformatter import Interpolation
from av.video.stream import VideoStream

from padflow.config import from_mapping
from padflow.fanout import TaskRunnerConfig, fan_out, runner_config
from padflow.io import atomic_path, file_sha256, write_json, write_text
from padflow.stages import StageResult

Status = Literal["accepted", "rejected"]
Reason = Literal[
    "corrupt",  # the container or the video stream does not decode
    "truncated",  # the file ends before the container says it should (or is empty)
    "not_a_video",  # not a media file at all (text, a still image, ...)
    "no_video_stream",  # a media file without a video stream (audio only)
    "too_short",  # shorter than IngestConfig.min_duration_s
    "too_long",  # longer than IngestConfig.max_duration_s
    "duplicate",  # same bytes as another input, which is the one ingested
    "unreadable",  # missing, not a regular file, or no permission to read it
    "escapes_root",  # the path or a symlink in it resolves outside the input root
]
Method = Literal["stream_copy", "re_encode"]
REASONS: tuple[str, ...] = get_args(Reason)

REPORT_FILE = "ingest_report.json"
FOLDER_MANIFEST = "manifest.json"  # optional, inside an input folder: source/licence/url/game per video
METRICS_FILE = "ingest_metrics.json"
VIDEOS_DIR = "videos"
REPORT_FORMAT = 1  # bump when the report's layout changes
# Bump when a change in this module changes output bytes, so recorded outputs are not reused.
NORMALIZER_VERSION = 1
VIDEO_ID_HEX_DIGITS = 16  # 64 bits of sha256: collisions are negligible for any real corpus
UNKNOWN = "unknown"
TARGET_CODEC = "h264"
TARGET_PIX_FMT = "yuv420p"
# Demuxers whose H.264 packets (length-prefixed, with avcC extradata and timestamps on every
# packet) go into MP4 unchanged; other containers are re-encoded.
COPYABLE_FORMATS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2"})
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
SCALE_FILTERS = ("area", "bilinear", "bicubic", "lanczos", "fast_bilinear", "point")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
DEFAULT_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".ts", ".wmv", ".mpg", ".mpeg")


@dataclass(frozen=True)
class IngestConfig:
    fps: float = 30.0  # output frame rate, frames/s (constant; inputs are resampled by timestamps)
    max_width: int = 1280  # output width bound, pixels (even); larger videos are scaled down
    max_height: int = 720  # output height bound, pixels (even); aspect ratio is kept
    min_duration_s: float = 1.0  # shorter videos are rejected (too_short), seconds
    max_duration_s: float = 14400.0  # longer videos are rejected (too_long), seconds (4 h stream)
    crf: int = 23  # x264 constant rate factor for re-encoded videos (lower = better, bigger)
    # x264 speed preset for re-encoded videos. At 720p (bench/ingest.py): 'superfast' takes ~0.2
    # CPU-s per video-s; 'veryfast' ~1.6x that for ~half the bytes; 'ultrafast' ~0.55x for ~1.4x.
    preset: str = "superfast"
    encoder_threads: int = 2  # x264 threads; fixed because x264 output depends on the thread count
    decode_threads: int = 0  # decoder threads (0 = FFmpeg picks per core); never changes output
    keyframe_interval_s: float = 2.0  # max distance between keyframes, seconds (random access)
    scale_filter: str = "area"  # swscale filter for downscaling; one of SCALE_FILTERS
    stream_copy: bool = True  # copy H.264 yuv420p videos already at `fps` and within bounds
    max_decode_errors: int = 0  # packets that may fail to decode before a video is corrupt
    truncation_tolerance_s: float = 0.5  # decoded video may end this much before the declared end
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS  # file suffixes taken from an input folder
    workers: int = 1  # videos normalized in parallel: workers of orchestration.task_runner (1 = in the stage's process)
    input: str = "data/raw"  # the stage's input folder or manifest, relative to the project root
    output: str = "data/ingest"  # the stage's output folder, relative to the project root

    def __post_init__(self) -> None:
        if not 1.0 <= self.fps <= 240.0:
            raise ValueError(f"fps must be in [1, 240], got {self.fps}")
        for name in ("max_width", "max_height"):
            value = getattr(self, name)
            if value < 16 or value % 2:
                raise ValueError(f"{name} must be an even number of pixels >= 16, got {value}")
        if not 0.0 < self.min_duration_s < self.max_duration_s:
            raise ValueError(
                f"min_duration_s and max_duration_s must satisfy 0 < min < max, "
                f"got {self.min_duration_s} and {self.max_duration_s}"
            )
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {self.crf}")
        if self.preset not in X264_PRESETS:
            raise ValueError(f"preset must be one of {list(X264_PRESETS)}, got {self.preset!r}")
        if self.encoder_threads < 1:
            raise ValueError(f"encoder_threads must be >= 1, got {self.encoder_threads}")
        if self.decode_threads < 0:
            raise ValueError(f"decode_threads must be >= 0, got {self.decode_threads}")
        if self.keyframe_interval_s * self.fps < 1:
            raise ValueError(f"keyframe_interval_s must span at least one frame, got {self.keyframe_interval_s}")
        if self.scale_filter not in SCALE_FILTERS:
            raise ValueError(f"scale_filter must be one of {list(SCALE_FILTERS)}, got {self.scale_filter!r}")
        if self.max_decode_errors < 0:
            raise ValueError(f"max_decode_errors must be >= 0, got {self.max_decode_errors}")
        if self.truncation_tolerance_s < 0:
            raise ValueError(f"truncation_tolerance_s must be >= 0, got {self.truncation_tolerance_s}")
        if not self.extensions or any(not e.startswith(".") or e != e.lower() for e in self.extensions):
            raise ValueError(f"extensions must be lowercase suffixes starting with '.', got {list(self.extensions)}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    @property
    def rate(self) -> Fraction:
        """The output frame rate as an exact fraction (29.97 → 30000/1001)."""
        return Fraction(self.fps).limit_denominator(1001)

    def fingerprint(self) -> dict[str, Any]:
        """Everything that decides an output's bytes or acceptance; a change re-normalizes all."""
        # Decoding is exact whatever the thread count; the rest only says where and how many.
        ignored = ("decode_threads", "workers", "input", "output", "extensions")
        settings = {k: v for k, v in asdict(self).items() if k not in ignored}
        return {
            "normalizer": NORMALIZER_VERSION,
            "pyav": av.__version__,
            "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
            "settings": settings,
        }


@dataclass(frozen=True)
class Rejection:
    reason: Reason
    detail: str


@dataclass(frozen=True)
class VideoProbe:
    """What the container declares about a file's first video stream (nothing decoded yet)."""

    format_name: str  # FFmpeg demuxer name, e.g. 'mov,mp4,m4a,3gp,3g2,mj2'
    codec: str  # e.g. 'h264'
    width: int  # pixels
    height: int  # pixels
    pix_fmt: str | None  # e.g. 'yuv420p'
    fps: float | None  # average frame rate, frames/s (None when the container does not say)
    duration_s: float | None  # video stream duration, seconds (None when the stream does not say)
    container_duration_s: float | None  # whole-file duration (may include longer audio), seconds
    frames: int | None  # declared frame count (None when unknown)
    has_audio: bool


@dataclass(frozen=True)
class VideoMeta:
    """Provenance carried from the manifest into the report and each output's record."""

    source: str = UNKNOWN
    licence: str = UNKNOWN
    url: str | None = None
    game: str = UNKNOWN  # the title played, when the source says (training splits and transfer use it)


@dataclass(frozen=True)
class IngestJob:
    """One unique, readable input to normalize (picklable: it crosses into worker processes)."""

    path: Path  # resolved absolute path of the input
    display_path: str  # path as reported (relative to the input root)
    sha256: str
    bytes_in: int
    meta: VideoMeta
    output: Path  # OUT/videos/<video_id>.mp4


@dataclass(frozen=True)
class IngestRow:
    """One input file's outcome, as written to ingest_report.json."""

    path: str  # relative to the input root (posix)
    status: Status
    reason: Reason | None  # None when accepted
    detail: str  # human-readable: what was wrong, or what was done
    sha256: str | None = None  # of the input bytes
    video_id: str | None = None
    source: str = UNKNOWN
    licence: str = UNKNOWN
    url: str | None = None
    game: str = UNKNOWN
    bytes_in: int | None = None
    duration_s: float | None = None  # input duration, seconds: decoded if accepted, else as declared
    fps_in: float | None = None  # declared average rate of the input, frames/s
    size_in: tuple[int, int] | None = None  # (width, height) of the input, pixels
    frames_in: int | None = None  # frames decoded from the input
    output: str | None = None  # output video, relative to OUT
    method: Method | None = None
    size_out: tuple[int, int] | None = None  # (width, height) of the output, pixels
    frames_out: int | None = None
    bytes_out: int | None = None
    sha256_out: str | None = None
    processed: bool = False  # decoded in this run (False: reused from the previous report)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        for key in ("size_in", "size_out"):
            if row[key] is not None:
                row[key] = list(row[key])
        return row

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IngestRow:
        known = {f.name for f in dataclasses.fields(cls)}
        row = {k: v for k, v in data.items() if k in known}
        for key in ("size_in", "size_out"):
            if row.get(key) is not None:
                row[key] = tuple(row[key])
        return cls(**row)


@dataclass(frozen=True)
class IngestReport:
    input: str
    output: str
    files: tuple[IngestRow, ...]
    removed: tuple[str, ...]  # outputs deleted because their input left (relative to OUT)
    config: Mapping[str, Any]
    fingerprint: Mapping[str, Any]
    wall_s: float
    ignored: int = 0  # files in an input folder skipped for their suffix

    @property
    def accepted(self) -> tuple[IngestRow, ...]:
        return tuple(r for r in self.files if r.status == "accepted")

    def summary(self) -> dict[str, float]:
        """Flat numbers for DVC and MLflow: counts by status and reason, hours accepted, work done."""
        accepted = self.accepted
        rejected = [r for r in self.files if r.status == "rejected"]
        frames_in = sum(r.frames_in or 0 for r in self.files if r.processed)
        seconds_in = sum(r.duration_s or 0.0 for r in self.files if r.processed)
        metrics: dict[str, float] = {
            "files": len(self.files),
            "accepted": len(accepted),
            "rejected": len(rejected),
            **{f"rejected_{reason}": sum(r.reason == reason for r in rejected) for reason in REASONS},
            "hours_accepted": round(sum(r.duration_s or 0.0 for r in accepted) / 3600, 6),
            "frames_out": sum(r.frames_out or 0 for r in accepted),
            "processed": sum(r.processed for r in self.files),
            "reused": sum(not r.processed and r.sha256 is not None and r.reason != "duplicate" for r in self.files),
            "stream_copied": sum(r.method == "stream_copy" for r in accepted),
            "removed": len(self.removed),
            "ignored": self.ignored,
        }
        # Throughput of this run's decoding work (0 when everything was reused).
        metrics["input_frames_per_s"] = round(frames_in / self.wall_s, 1) if self.wall_s > 0 else 0.0
        metrics["video_s_per_s"] = round(seconds_in / self.wall_s, 2) if self.wall_s > 0 else 0.0
        return metrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "input": self.input,
            "output": self.output,
            "config": dict(self.config),
            "fingerprint": dict(self.fingerprint),
            "wall_s": round(self.wall_s, 3),
            "summary": self.summary(),
            "files": [r.to_dict() for r in self.files],
            "removed": list(self.removed),
        }


class _Rejected(Exception):
    """Raised inside normalization to abandon a video (and its half-written output)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejection(reason, detail)


class _NotCopyable(Exception):
    """Raised when a stream-copy candidate turns out not to be at a constant target rate."""


@dataclass(frozen=True)
class _Candidate:
    path: Path  # as listed, symlinks not resolved
    display_path: str
    meta: VideoMeta


def read_manifest(path: Path) -> list[tuple[Path, VideoMeta]]:
    """Entries of a text, JSON or YAML manifest: (path as written, resolved against its folder, meta)."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: manifest is not text") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read manifest: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
        return _structured_entries(path, data)
    lines = (line.strip() for line in text.splitlines())
    return [(path.parent / line, VideoMeta()) for line in lines if line and not line.startswith("#")]


def _structured_entries(path: Path, data: Any) -> list[tuple[Path, VideoMeta]]:
    defaults: Mapping[str, Any] = {}
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - {"defaults", "videos"})
        if unknown or "videos" not in data:
            raise ValueError(f"{path}: a manifest mapping needs `videos` (and optional `defaults`), got {sorted(data)}")
        defaults = _meta_fields(path, "defaults", data.get("defaults") or {}, allow_path=False)
        data = data["videos"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: manifest must be a list of videos, got {type(data).__name__}")
    entries = []
    for i, item in enumerate(data):
        where = f"videos[{i}]"
        fields = {"path": item} if isinstance(item, str) else _meta_fields(path, where, item, allow_path=True)
        if not isinstance(fields.get("path"), str) or not fields["path"]:
            hint = "; download URLs first with yt-dlp (see tasks/ingest.py)" if "url" in fields else ""
            raise ValueError(f"{path}: {where} has no `path`{hint}")
        merged = {**defaults, **{k: v for k, v in fields.items() if k != "path"}}
        entries.append((path.parent / fields["path"], VideoMeta(**merged)))
    return entries


def _meta_fields(path: Path, where: str, item: Any, allow_path: bool) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise ValueError(f"{path}: {where} must be a path or a mapping, got {item!r}")
    valid = {"source", "licence", "license", "url", "game"} | ({"path"} if allow_path else set())
    unknown = sorted(set(item) - valid)
    if unknown:
        raise ValueError(f"{path}: {where} has unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
    fields = dict(item)
    if "license" in fields:
        licence = fields.pop("license")
        if "licence" in fields and fields["licence"] != licence:
            raise ValueError(f"{path}: {where} gives both licence and license, and they differ")
        fields["licence"] = licence
    for key, value in fields.items():
        if not isinstance(value, str) and not (key == "url" and value is None):
            raise ValueError(f"{path}: {where}.{key} must be a string, got {value!r}")
    return fields


def _list_inputs(src: Path, out: Path, cfg: IngestConfig) -> tuple[Path, list[_Candidate], int]:
    """(input root, candidates in a stable order, count of folder files skipped for their suffix)."""
    if not src.exists():
        raise ValueError(f"{src}: input not found (give a folder of videos or a manifest file)")
    if src.is_dir():
        root = src.resolve()
        if out.resolve() == root or root.is_relative_to(out.resolve()):
            raise ValueError(f"{src}: the input folder must not be the output folder {out} or inside it")
        candidates, ignored = _walk_folder(root, out.resolve(), cfg)
        sidecar = root / FOLDER_MANIFEST
        if sidecar.is_file():  # metadata for the folder's videos; files it does not list stay "unknown"
            metas = {os.path.abspath(p): meta for p, meta in read_manifest(sidecar)}
            candidates = [
                _Candidate(c.path, c.display_path, metas.get(os.path.abspath(c.path), c.meta)) for c in candidates
            ]
        return root, candidates, ignored
    if src.suffix.lower() in cfg.extensions:
        raise ValueError(f"{src}: is a video; give its folder or a manifest that lists it")
    root = src.resolve().parent
    candidates = [_Candidate(p, _display(p, root), meta) for p, meta in read_manifest(src)]
    return root, candidates, 0


def _walk_folder(root: Path, out: Path, cfg: IngestConfig) -> tuple[list[_Candidate], int]:
    candidates: list[_Candidate] = []
    ignored = 0
    for folder, dirnames, filenames in os.walk(root):  # does not follow symlinked folders
        here = Path(folder)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() != out)
        for name in dirnames:
            # os.walk does not enter symlinked folders; one that leads outside is reported.
            if (here / name).is_symlink() and not (here / name).resolve().is_relative_to(root):
                candidates.append(_Candidate(here / name, _display(here / name, root), VideoMeta()))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() not in cfg.extensions:
                ignored += 1
                continue
            path = here / name
            candidates.append(_Candidate(path, _display(path, root), VideoMeta()))
    return candidates, ignored


def _display(path: Path, root: Path) -> str:
    absolute = Path(os.path.abspath(path))
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(path)


def _check_readable(candidate: _Candidate, root: Path) -> Rejection | None:
    try:
        resolved = candidate.path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop
        return Rejection("unreadable", f"cannot resolve path: {exc}")
    if not resolved.is_relative_to(root):
        return Rejection("escapes_root", f"resolves to {resolved}, outside the input root {root}")
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        return Rejection("unreadable", "dangling symlink" if candidate.path.is_symlink() else "file not found")
    except OSError as exc:
        return Rejection("unreadable", f"cannot stat: {exc.strerror or exc}")
    if not stat.S_ISREG(mode):
        return Rejection("unreadable", "not a regular file")
    if not os.access(resolved, os.R_OK):
        return Rejection("unreadable", "no permission to read")
    return None


def video_id_for(sha256: str) -> str:
    return sha256[:VIDEO_ID_HEX_DIGITS]


def probe_video(path: Path) -> VideoProbe | Rejection:
    """What the container says about `path`'s first video stream, or why it is no usable video."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Rejection("unreadable", f"cannot stat: {exc.strerror or exc}")
    if size == 0:
        return Rejection("truncated", "empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        return Rejection("unreadable", f"cannot open: {exc}")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        return classify_unopenable(path, exc)
    with container:
        format_name = container.format.name
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            found = f"only {', '.join(kinds)} stream(s)" if kinds else "no streams"
            return Rejection("no_video_stream", f"{format_name} file with {found}")
        stream = container.streams.video[0]
        if any(format_name.endswith(suffix) for suffix in STILL_IMAGE_FORMAT_SUFFIXES):
            return Rejection("not_a_video", f"a still image ({format_name})")
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            return Rejection("corrupt", f"video stream declares no frame size ({ctx.name})")
        duration_s = None
        if stream.duration is not None and stream.time_base is not None:
            duration_s = float(stream.duration * stream.time_base)
        container_duration_s = None if container.duration is None else container.duration / av.time_base
        rate = stream.average_rate or stream.guessed_rate
        return VideoProbe(
            format_name=format_name,
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt,
            fps=float(rate) if rate else None,
            duration_s=duration_s,
            container_duration_s=container_duration_s,
            frames=stream.frames or None,
            has_audio=bool(container.streams.audio),
        )


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
    """Walk an MP4's top-level boxes: one running past the end of the file means it was cut off."""
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
            if box_size < 8:
                return Rejection("corrupt", f"MP4 box {box_type!r} at byte {offset} has invalid size {box_size}")
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


T = TypeVar("T")


def resample_constant_rate(frames: Iterable[tuple[T, Fraction, Fraction]], rate: Fraction) -> Iterator[T]:
    """Yield one item per output tick k/rate: the input frame whose start time is nearest the tick.

    `frames` are (item, start time s, duration s) in presentation order with start times strictly
    increasing from 0. Frames nearer no tick are dropped, frames nearest several are repeated
    (a tick exactly between two frames gets the earlier one, which is still on screen at that
    instant); the output ends where the last input frame ends.
    """
    tick = 0
    held: tuple[T, Fraction, Fraction] | None = None
    for item, start, duration in frames:
        if held is not None:
            boundary = (held[1] + start) / 2
            while tick / rate <= boundary:
                yield held[0]
                tick += 1
        held = (item, start, duration)
    if held is not None:
        end = held[1] + held[2]
        while tick / rate < end:
            yield held[0]
            tick += 1


def output_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest even (width, height) within the bounds that keeps the aspect ratio (never upscales)."""
    scale = min(Fraction(1), Fraction(max_width, width), Fraction(max_height, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


@dataclass
class _DecodeStats:
    frames: int = 0
    errors: int = 0
    first_error: str = ""
    end_s: Fraction = Fraction(0)  # end of the last decoded frame, relative to the first
    stopped_early: str = ""  # why decoding stopped before the end of the file, if it did
    dropped_bad_pts: int = 0  # frames whose timestamp did not advance


@dataclass(frozen=True)
class _Normalized:
    method: Method
    size_out: tuple[int, int]
    frames_out: int
    stats: _DecodeStats


def _decoded(
    container: InputContainer, stream: VideoStream, probe: VideoProbe, cfg: IngestConfig, stats: _DecodeStats
) -> Iterator[tuple[av.Packet, list[tuple[av.VideoFrame, Fraction, Fraction]]]]:
    """Yield (packet, [(frame, start s, duration s), ...]) for every packet of `stream`.

    Undecodable packets are counted in `stats` (not raised); decoding stops early, recorded in
    `stats`, when the demuxer fails or the video runs past max_duration_s.
    """
    fallback_step = Fraction(1) / (Fraction(probe.fps).limit_denominator(1001) if probe.fps else cfg.rate)
    first_pts: int | None = None
    last_start: Fraction | None = None
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            stats.stopped_early = f"demuxing failed after {float(stats.end_s):.2f} s: {exc}"
            return
        try:
            decoded = packet.decode()
        except av.error.FFmpegError as exc:
            stats.errors += 1
            stats.first_error = stats.first_error or f"packet at {_packet_time(packet)}: {exc}"
            decoded = []
        timed = []
        for frame in decoded:
            time_base = frame.time_base or stream.time_base
            if frame.pts is None or time_base is None:
                start = (last_start + fallback_step) if last_start is not None else Fraction(0)
            else:
                first_pts = frame.pts if first_pts is None else first_pts
                start = Fraction(frame.pts - first_pts) * time_base
            if last_start is not None and start <= last_start:
                stats.dropped_bad_pts += 1
                continue
            duration = Fraction(frame.duration) * time_base if frame.duration and time_base else fallback_step
            last_start = start
            stats.frames += 1
            stats.end_s = start + duration
            timed.append((frame, start, duration))
        yield packet, timed
        if stats.end_s > cfg.max_duration_s:
            stats.stopped_early = f"still decoding at {float(stats.end_s):.1f} s"
            return


def _packet_time(packet: av.Packet) -> str:
    if packet.pts is None or packet.time_base is None:
        return "unknown time"
    return f"{float(packet.pts * packet.time_base):.2f} s"


def _check_decoded(stats: _DecodeStats, probe: VideoProbe, cfg: IngestConfig) -> None:
    """Raise _Rejected when what decoded is not a complete, valid video within the duration bounds."""
    decoded_s = float(stats.end_s)
    if stats.end_s > cfg.max_duration_s:
        raise _Rejected("too_long", f"longer than max_duration_s={cfg.max_duration_s:g} s ({stats.stopped_early})")
    if stats.frames == 0:
        raise _Rejected("corrupt", f"no frame decodes ({stats.first_error or stats.stopped_early or 'empty stream'})")
    declared = probe.duration_s  # the video stream's own: a longer audio track is no truncation
    if declared is not None and decoded_s < declared - cfg.truncation_tolerance_s:
        cause = stats.stopped_early or stats.first_error or "the stream ends early"
        raise _Rejected("truncated", f"decodes {decoded_s:.2f} s of the declared {declared:.2f} s ({cause})")
    if stats.stopped_early:
        raise _Rejected("corrupt", stats.stopped_early)
    if stats.errors > cfg.max_decode_errors:
        raise _Rejected(
            "corrupt",
            f"{stats.errors} packet(s) fail to decode (max_decode_errors={cfg.max_decode_errors}); "
            f"first: {stats.first_error}",
        )
    if decoded_s < cfg.min_duration_s:
        raise _Rejected("too_short", f"{decoded_s:.2f} s is shorter than min_duration_s={cfg.min_duration_s:g} s")


def _open_input(path: Path, cfg: IngestConfig) -> tuple[InputContainer, VideoStream]:
    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = cfg.decode_threads
    return container, stream


def _copyable(probe: VideoProbe, cfg: IngestConfig) -> bool:
    """Worth trying to stream-copy: the container says it is already what normalization makes."""
    return (
        cfg.stream_copy
        and probe.codec == TARGET_CODEC
        and probe.pix_fmt == TARGET_PIX_FMT
        and any(name in COPYABLE_FORMATS for name in probe.format_name.split(","))
        and probe.fps is not None
        and Fraction(probe.fps).limit_denominator(1001) == cfg.rate
        and (probe.width, probe.height) == output_size(probe.width, probe.height, cfg.max_width, cfg.max_height)
    )


def _stream_copy(path: Path, output: Path, probe: VideoProbe, cfg: IngestConfig) -> _Normalized:
    """Copy the video packets as they are, decoding them all to validate; _NotCopyable if not CFR."""
    stats = _DecodeStats()
    step = 1 / cfg.rate
    with atomic_path(output) as tmp:
        container, stream = _open_input(path, cfg)
        with container, av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as sink:
            out_stream = sink.add_stream_from_template(stream)
            index = copied = 0
            for packet, timed in _decoded(container, stream, probe, cfg, stats):
                for _, start, duration in timed:
                    if start != index * step or duration != step:
                        raise _NotCopyable(f"frame {index} at {float(start):.4f} s is off the {cfg.fps:g} fps grid")
                    index += 1
                if packet.dts is None or packet.size == 0:  # the flush packet PyAV yields at the end
                    continue
                packet.stream = out_stream
                try:
                    sink.mux(packet)
                except av.error.FFmpegError as exc:
                    raise _NotCopyable(f"MP4 muxer refuses packet {copied}: {exc}") from None
                copied += 1
            _check_decoded(stats, probe, cfg)
            if stats.dropped_bad_pts or copied != stats.frames:
                raise _NotCopyable(f"{copied} packets for {stats.frames} frames ({stats.dropped_bad_pts} out of order)")
    return _Normalized("stream_copy", (probe.width, probe.height), stats.frames, stats)


def _re_encode(path: Path, output: Path, probe: VideoProbe, cfg: IngestConfig) -> _Normalized:
    """Decode, resample to cfg.fps by timestamps, scale into bounds and encode H.264."""
    stats = _DecodeStats()
    width, height = output_size(probe.width, probe.height, cfg.max_width, cfg.max_height)
    interpolation = Interpolation[cfg.scale_filter.upper()]
    rate = cfg.rate
    frames_out = 0
    with atomic_path(output) as tmp:
        container, stream = _open_input(path, cfg)
        with container, av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as sink:
            encoder = sink.add_stream("libx264", rate=rate)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, TARGET_PIX_FMT
            encoder.codec_context.time_base = 1 / rate
            encoder.codec_context.gop_size = max(1, round(cfg.keyframe_interval_s * cfg.fps))
            encoder.options = {"crf": str(cfg.crf), "preset": cfg.preset, "threads": str(cfg.encoder_threads)}
            timed = (item for _, batch in _decoded(container, stream, probe, cfg, stats) for item in batch)
            source = scaled = None
            for frame in resample_constant_rate(timed, rate):
                if frame is not source:  # a repeated frame is scaled once
                    source = frame
                    scaled = _to_output_format(frame, width, height, interpolation)
                scaled.pts = frames_out
                scaled.time_base = encoder.codec_context.time_base
                for packet in encoder.encode(scaled):
                    sink.mux(packet)
                frames_out += 1
            _check_decoded(stats, probe, cfg)
            for packet in encoder.encode():
                sink.mux(packet)
    return _Normalized("re_encode", (width, height), frames_out, stats)


def _to_output_format(frame: av.VideoFrame, width: int, height: int, interpolation: Interpolation) -> av.VideoFrame:
    if (frame.width, frame.height, frame.format.name) != (width, height, TARGET_PIX_FMT):
        frame = frame.reformat(width=width, height=height, format=TARGET_PIX_FMT, interpolation=interpolation)
    # The decoder's picture type would force x264 keyframes wherever the source had them.
    frame.pict_type = av.video.frame.PictureType.NONE
    return frame


def normalize(path: Path, output: Path, probe: VideoProbe, cfg: IngestConfig) -> _Normalized:
    """Write the normalized video to `output` (atomically); _Rejected if the input is unusable."""
    if _copyable(probe, cfg):
        try:
            return _stream_copy(path, output, probe, cfg)
        except _NotCopyable:
            pass
    return _re_encode(path, output, probe, cfg)


def ingest_one(job: IngestJob, cfg: IngestConfig) -> IngestRow:
    """Probe, validate and normalize one unique input; a bad input becomes a rejected row, never an error."""
    base = {
        "path": job.display_path,
        "sha256": job.sha256,
        "source": job.meta.source,
        "licence": job.meta.licence,
        "url": job.meta.url,
        "game": job.meta.game,
        "bytes_in": job.bytes_in,
        "processed": True,
    }
    probe = probe_video(job.path)
    if isinstance(probe, Rejection):
        return IngestRow(status="rejected", reason=probe.reason, detail=probe.detail, **base)
    declared = probe.duration_s if probe.duration_s is not None else probe.container_duration_s
    base.update(fps_in=probe.fps, size_in=(probe.width, probe.height), duration_s=declared)
    # Bounds the container already breaks are rejected before paying for a full decode.
    if declared is not None and declared > cfg.max_duration_s:
        detail = f"declares {declared:.2f} s, more than max_duration_s={cfg.max_duration_s:g} s"
        return IngestRow(status="rejected", reason="too_long", detail=detail, **base)
    if probe.duration_s is not None and probe.duration_s < cfg.min_duration_s:
        detail = f"declares {probe.duration_s:.2f} s, less than min_duration_s={cfg.min_duration_s:g} s"
        return IngestRow(status="rejected", reason="too_short", detail=detail, **base)
    try:
        result = normalize(job.path, job.output, probe, cfg)
    except _Rejected as rejected:
        reason, detail = rejected.rejection.reason, rejected.rejection.detail
        if reason == "corrupt" and probe.format_name.startswith("mov,mp4"):
            # A cut-off MP4 whose index comes first opens, then fails to decode where the data stops.
            cut = mp4_damage(job.path)
            if cut is not None and cut.reason == "truncated":
                reason, detail = "truncated", f"{cut.detail}; {detail}"
        return IngestRow(status="rejected", reason=reason, detail=detail, **base)
    except PermissionError as exc:
        return IngestRow(status="rejected", reason="unreadable", detail=f"no permission to read: {exc}", **base)
    except (av.error.FFmpegError, ValueError) as exc:  # PyAV raises ValueError for unsupported inputs
        return IngestRow(status="rejected", reason="corrupt", detail=f"{type(exc).__name__}: {exc}", **base)
    stats = result.stats
    base["duration_s"] = round(float(stats.end_s), 6)
    fps_in = "unknown" if probe.fps is None else f"{probe.fps:.3f}"
    notes = [
        f"{result.method.replace('_', '-')}: {probe.codec} {probe.width}x{probe.height} @ {fps_in} fps → "
        f"{result.size_out[0]}x{result.size_out[1]} @ {cfg.fps:g} fps, {stats.frames} → {result.frames_out} frames"
    ]
    if stats.errors:
        notes.append(f"{stats.errors} undecodable packet(s) skipped")
    if stats.dropped_bad_pts:
        notes.append(f"{stats.dropped_bad_pts} frame(s) with non-increasing timestamps dropped")
    return IngestRow(
        status="accepted",
        reason=None,
        detail="; ".join(notes),
        video_id=video_id_for(job.sha256),
        frames_in=stats.frames,
        output=f"{VIDEOS_DIR}/{job.output.name}",
        method=result.method,
        size_out=result.size_out,
        frames_out=result.frames_out,
        bytes_out=job.output.stat().st_size,
        sha256_out=file_sha256(job.output),
        **base,
    )


def read_report(ingest_dir: Path) -> dict[str, Any]:
    """The ingest report in `ingest_dir`; ValueError naming the file when it is missing or malformed."""
    path = ingest_dir / REPORT_FILE
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: ingest report not found (run the ingest stage first)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: ingest report unreadable ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("files"), list):
        raise ValueError(f"{path}: not an ingest report (no 'files' list)")
    return report


def accepted_videos(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The accepted rows of an ingest report by video id, in report order."""
    return {row["video_id"]: row for row in report["files"] if row.get("status") == "accepted" and row.get("video_id")}


def _previous_report(out: Path) -> dict[str, Any]:
    """The last run's report, or {} when there is none or it cannot be trusted."""
    try:
        report = json.loads((out / REPORT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return report if isinstance(report, dict) and report.get("format") == REPORT_FORMAT else {}


def _reusable(previous: Mapping[str, Any], fingerprint: Mapping[str, Any], out: Path) -> dict[str, IngestRow]:
    """Previous outcomes by input sha256 that still hold: same settings and, if accepted, intact output."""
    if previous.get("fingerprint") != fingerprint:
        return {}
    reusable: dict[str, IngestRow] = {}
    for data in previous.get("files", []):
        row = IngestRow.from_dict(data)
        if row.sha256 is None or row.reason in ("duplicate", "unreadable", "escapes_root"):
            continue  # these depend on the other inputs or the file system, not on the bytes
        if row.status == "accepted" and not _output_intact(out, row):
            continue
        reusable.setdefault(row.sha256, row)
    return reusable


def _output_intact(out: Path, row: IngestRow) -> bool:
    path = out / (row.output or "")
    try:
        return row.output is not None and path.is_file() and file_sha256(path) == row.sha256_out
    except OSError:
        return False


def _record(row: IngestRow, cfg: IngestConfig) -> dict[str, Any]:
    """The per-video record written beside each output video."""
    return {
        "video_id": row.video_id,
        "sha256": row.sha256,
        "original_path": row.path,
        "source": row.source,
        "licence": row.licence,
        "url": row.url,
        "fps": cfg.fps,
        "frames": row.frames_out,
        "width": row.size_out[0] if row.size_out else None,
        "height": row.size_out[1] if row.size_out else None,
        "duration_s": row.duration_s,
        "fps_in": row.fps_in,
        "method": row.method,
    }


def _write_record(out: Path, row: IngestRow, cfg: IngestConfig) -> None:
    path = out / VIDEOS_DIR / f"{row.video_id}.json"
    text = json.dumps(_record(row, cfg), indent=2, sort_keys=True) + "\n"
    try:
        if path.read_text() == text:
            return  # unchanged: keep its mtime
    except OSError:
        pass
    write_text(path, text)


def _remove_stale(out: Path, previous: Mapping[str, Any], keep: set[str]) -> list[str]:
    """Delete outputs the previous run recorded whose input is gone; never files it did not write."""
    removed = []
    for data in previous.get("files", []):
        row = IngestRow.from_dict(data)
        if row.status != "accepted" or row.video_id is None or row.video_id in keep or row.output is None:
            continue
        video = out / row.output
        if not video.is_file() or file_sha256(video) != row.sha256_out:
            continue  # changed since it was written: no longer ours to delete
        video.unlink()
        removed.append(row.output)
        record = video.with_suffix(".json")
        try:
            if json.loads(record.read_text()).get("sha256") == row.sha256:
                record.unlink()
        except (OSError, json.JSONDecodeError, AttributeError):
            pass
    return removed


def ingest(
    src: Path,
    out: Path,
    cfg: IngestConfig,
    workers: int = 1,
    progress: Callable[[int, int, IngestRow], None] | None = None,
    runner: TaskRunnerConfig = TaskRunnerConfig(),
) -> IngestReport:
    """Ingest the folder or manifest `src` into `out`; write the report and metrics; return the report.

    Files that need decoding are normalized as mapped Prefect tasks on `runner`, `workers` at a
    time. `progress(done, total, row)` is called as each of them finishes.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    src, out = Path(src), Path(out)
    started = time.perf_counter()
    root, candidates, ignored = _list_inputs(src, out, cfg)
    fingerprint = cfg.fingerprint()
    previous = _previous_report(out)
    rows, jobs = _plan(candidates, root, out, previous, _reusable(previous, fingerprint, out))
    for i, row in zip(jobs, _run_jobs(list(jobs.values()), cfg, workers, progress, runner)):
        rows[i] = row

    files = tuple(rows[i] for i in range(len(candidates)))
    for row in files:
        if row.status == "accepted":
            _write_record(out, row, cfg)
    removed = _remove_stale(out, previous, {r.video_id for r in files if r.status == "accepted" and r.video_id})
    report = IngestReport(
        input=str(src),
        output=str(out),
        files=files,
        removed=tuple(removed),
        config=asdict(cfg),
        fingerprint=fingerprint,
        wall_s=time.perf_counter() - started,
        ignored=ignored,
    )
    write_json(out / REPORT_FILE, report.to_dict())
    write_json(out / METRICS_FILE, report.summary())
    return report


def _plan(
    candidates: list[_Candidate],
    root: Path,
    out: Path,
    previous: Mapping[str, Any],
    reusable: Mapping[str, IngestRow],
) -> tuple[dict[int, IngestRow], dict[int, IngestJob]]:
    """Settle what needs no decoding (unreadable, escaping, duplicate, reusable) and list the rest as jobs."""
    rows: dict[int, IngestRow] = {}
    hashed: dict[int, tuple[Path, str, int]] = {}
    for i, candidate in enumerate(candidates):
        rejection = _check_readable(candidate, root)
        if rejection is None:
            resolved = candidate.path.resolve()
            try:
                hashed[i] = (resolved, file_sha256(resolved), resolved.stat().st_size)
            except OSError as exc:
                rejection = Rejection("unreadable", f"cannot read: {exc.strerror or exc}")
        if rejection is not None:
            meta = asdict(candidate.meta)
            rows[i] = IngestRow(candidate.display_path, "rejected", rejection.reason, rejection.detail, **meta)

    # One input per content hash: the one ingested before if it is still listed, else the first.
    before = previous.get("files", [])
    accepted_before = {r.get("sha256"): r.get("path") for r in before if r.get("status") == "accepted"}
    owner: dict[str, int] = {}
    for i in sorted(hashed, key=lambda i: (candidates[i].display_path != accepted_before.get(hashed[i][1]), i)):
        owner.setdefault(hashed[i][1], i)

    jobs: dict[int, IngestJob] = {}
    for i, (resolved, sha256, size) in hashed.items():
        candidate = candidates[i]
        meta = asdict(candidate.meta)
        if owner[sha256] != i:
            detail = f"same bytes as {candidates[owner[sha256]].display_path}"
            rows[i] = IngestRow(candidate.display_path, "rejected", "duplicate", detail, sha256, bytes_in=size, **meta)
        elif sha256 in reusable:
            rows[i] = dataclasses.replace(reusable[sha256], path=candidate.display_path, processed=False, **meta)
        else:
            output = out / VIDEOS_DIR / f"{video_id_for(sha256)}.mp4"
            jobs[i] = IngestJob(resolved, candidate.display_path, sha256, size, candidate.meta, output)
    return rows, jobs


def _run_jobs(
    jobs: list[IngestJob],
    cfg: IngestConfig,
    workers: int,
    progress: Callable[[int, int, IngestRow], None] | None,
    runner: TaskRunnerConfig,
) -> list[IngestRow]:
    """`ingest_one` over the jobs on `runner`; rows in job order (ingest_one never raises for a bad file)."""
    return fan_out(functools.partial(ingest_one, cfg=cfg), jobs, name="ingest", runner=runner, workers=workers,
                   labels=[job.display_path for job in jobs], progress=progress)


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: ingest params['ingest'].input into params['ingest'].output."""
    cfg = from_mapping(IngestConfig, params.get("ingest"), "ingest")
    out = root / cfg.output
    report = ingest(root / cfg.input, out, cfg, workers=cfg.workers, runner=runner_config(params, "ingest"))
    return StageResult(
        params={"ingest": asdict(cfg)},
        metrics=report.summary(),
        artifacts={"ingest": out / REPORT_FILE},
    )
