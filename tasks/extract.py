"""extract: read the actions off every ingested video's controller overlay.

Per video (`extract_video`, a plain function so the Prefect flow can map it as tasks):
localize the overlay (padflow.overlay.localize), decode every frame, rectify the overlay region
into the template's coordinates at the parser's crop size (padflow.overlay.crops, the same path
parser training uses), parse consecutive crop pairs in batches, normalize the sticks, and write

    <out_dir>/<video_id>.parquet     action table (padflow.tables) with per-frame confidence
    <out_dir>/<video_id>.json        localization record: skin, transform, inliers, box, timings,
                                     source video, versions (action schema, parser weights, config)
    <out_dir>/extract_report.json    every video's status (extracted | no_overlay | failed) + reason

A video without an overlay gets its record (with the localizer's reason) but no action table; a
video that fails (unreadable, corrupt mid-stream) is recorded as failed and the others finish.

Stick normalization (NitroGen): the parser reads stick positions relative to the skin's drawn
travel, which overlay software scales differently, so each axis is divided by the 99th percentile
of its |value| over the video and clipped to [-1, 1]. An axis that never really moved (readings
within `stick_min_range` of a median near centre: parser jitter around rest) is not scaled,
because dividing jitter by a tiny percentile would turn it into full deflections; it is
re-centred on its median instead, which removes the parser's offset at rest on that skin. A
reading that does not move at all (`stick_still_range`) is a resting stick however far off centre
it reads, short of the rim: over a background edge a resting cap reads up to 0.6 off centre,
while a stick held for a whole video is released now and then, or pushed to the rim.

Button calibration, the same idea for buttons: on some skins the parser reads a button's rest
look as half-pressed (its probability hovering around 0.5-0.9 all video), which thresholding at
0.5 turns into a button held from first frame to last or flickering. A real press lifts the
button's logit far above the level it shows at rest in that video, so each button's rest level
is a low quantile of its logits over the video (`button_rest_quantile`; at 0.1 a button held for
up to 90 % of the video keeps its presses), and a frame reads pressed only when the parser says so
and the logit stands `button_min_rise` above that level.

When corpus ground truth exists (`truth_dir`), extraction is scored (padflow.overlay.scoring)
and the headline numbers join the stage metrics.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from padflow.actions import ACTION_SCHEMA_VERSION, AXES, AXIS_INDEX, BUTTONS, N_BUTTONS
from padflow.config import from_mapping
from padflow.fanout import TaskRunnerConfig, fan_out, runner_config
from padflow.io import file_sha256, write_json
from padflow.overlay.crops import SkinView, frame_crops, parser_inputs, skin_view
from padflow.overlay.library import SkinLibrary, load_library
from padflow.overlay.localize import LOCALIZE_VERSION, LocalizeConfig, localize_overlay, template_index
from padflow.overlay.skin import Skin
from padflow.stages import StageResult
from padflow.tables import write_action_table
from tasks.ingest import accepted_videos, read_report

Status = Literal["extracted", "no_overlay", "failed"]
STATUSES: tuple[str, ...] = ("extracted", "no_overlay", "failed")
EXTRACT_VERSION = 5  # bump when a change here changes the tables written for the same inputs
REPORT_FILE = "extract_report.json"
SCORE_FILE = "extraction_score.json"
PARSER_WEIGHTS = "parser.safetensors"
QUEUE_BATCHES = 2  # decoded batches waiting for the parser; bounds memory while decode runs ahead


@dataclass(frozen=True)
class ExtractConfig:
    localize: LocalizeConfig = field(default_factory=LocalizeConfig)  # overlay localization settings
    batch_size: int = 64  # crop pairs per parser call
    threads: int = 1  # torch threads per worker process (workers x threads <= cores)
    decode_threads: int = 1  # FFmpeg decoder threads per video
    workers: int = 2  # videos extracted in parallel: workers of orchestration.task_runner (1 = in the stage's process)
    stick_percentile: float = 99.0  # each stick axis is divided by this percentile of its |value| (NitroGen: 99)
    # An axis whose readings stay this close to their median (at the percentile), with the median
    # this close to centre, never moved: it is re-centred, not scaled. The parser's jitter around
    # rest reaches ~0.1-0.4 on small overlays; a thumb that really moves an axis goes past half.
    stick_min_range: float = 0.5
    # Largest offset the parser reads for a stick at rest (up to ~0.2 on some skins of the default
    # corpus); a resting axis whose median lies farther out is a stick held for the whole video...
    stick_rest_offset: float = 0.3
    # ...unless its reading never moves (within this of its median, at the percentile): a still
    # reading is the parser's view of a resting stick. On three corpora, resting sticks read off
    # centre (up to 0.6, over a background edge) stay within 0.03; the all-video holds there
    # wobble 0.14-0.16, as the player lets go now and then.
    stick_still_range: float = 0.05
    # A still reading this far out is a stick pushed to the rim for the whole video (a full
    # deflection reads 0.93-0.97), kept as a hold.
    stick_rim: float = 0.8
    # A button's rest level in a video is this quantile of its logits, so a button held for up to
    # 1 - this share of the video keeps its presses (gate quarantines one held throughout).
    button_rest_quantile: float = 0.1
    # A frame reads pressed only with its logit this far above the button's rest level, in logits
    # (e^4: 55x the odds). On three seeded corpora every correctly read press rose more than 4 (99 %
    # more than 5, median 10-12); a misread rest look mostly stays under 4.
    button_min_rise: float = 4.0
    ingest_dir: str = "data/ingest"  # ingest's output: ingest_report.json + videos/
    parser_dir: str = "data/parser"  # parser.safetensors + parser_config.json
    out_dir: str = "data/extract"  # action tables, records and the report
    truth_dir: str = "data/corpus_truth"  # corpus ground truth; scored when present

    def __post_init__(self) -> None:
        for name in ("batch_size", "threads", "decode_threads", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not 50.0 <= self.stick_percentile <= 100.0:
            raise ValueError(f"stick_percentile: must be in [50, 100], got {self.stick_percentile}")
        if not 0.0 < self.stick_min_range < 1.0:
            raise ValueError(f"stick_min_range: must be in (0, 1), got {self.stick_min_range}")
        if not 0.0 <= self.stick_rest_offset < 1.0:
            raise ValueError(f"stick_rest_offset: must be in [0, 1), got {self.stick_rest_offset}")
        if not 0.0 <= self.stick_still_range <= self.stick_min_range:
            raise ValueError(f"stick_still_range: must be in [0, stick_min_range={self.stick_min_range}], got {self.stick_still_range}")
        if not self.stick_rest_offset <= self.stick_rim <= 1.0:
            raise ValueError(f"stick_rim: must be in [stick_rest_offset={self.stick_rest_offset}, 1], got {self.stick_rim}")
        if not 0.0 <= self.button_rest_quantile < 0.5:
            raise ValueError(f"button_rest_quantile: must be in [0, 0.5) (a button rests most of the time), got {self.button_rest_quantile}")
        if self.button_min_rise < 0.0:
            raise ValueError(f"button_min_rise: must be >= 0 logits, got {self.button_min_rise}")


@dataclass(frozen=True)
class ExtractJob:
    """One ingested video to extract (picklable: it crosses into worker processes)."""

    video_id: str
    video: Path  # the normalized video
    source: Mapping[str, Any]  # provenance from the ingest report: original path, sha256, licence, ...
    out_dir: Path
    parser_dir: Path
    parser_sha256: str
    skin_dirs: tuple[Path, ...]
    cfg: ExtractConfig
    pixels: int = 0  # frames x width x height of the video: its share of the work, for scheduling


@dataclass(frozen=True)
class ExtractOutcome:
    video_id: str
    source: str  # original input path, as ingest reported it
    status: Status
    reason: str
    frames: int = 0  # frames parsed
    localize_s: float = 0.0
    extract_s: float = 0.0  # wall seconds for the whole video, localization included
    skin_id: str | None = None
    buttons_recalibrated: int = 0  # buttons whose reading button calibration changed in some frame


def normalize_sticks(actions: np.ndarray, cfg: ExtractConfig) -> tuple[np.ndarray, dict[str, float], dict[str, float]]:
    """Scale each moving stick axis by the `stick_percentile` of its |value|, re-centre each resting one; return divisors and centres.

    An axis rests when its readings stay within `stick_min_range` of their median (at the
    percentile) with the median within `stick_rest_offset` of centre, or when they stay within
    `stick_still_range` of a median short of `stick_rim`. The median is then the parser's reading
    of this skin at rest, so it is subtracted and nothing is scaled. Every other axis (one that
    moves, or a stick held over the whole video) is divided by the percentile (NitroGen) and
    clipped to [-1, 1].
    """
    out = actions.astype(np.float32, copy=True)
    scales: dict[str, float] = {}
    centres: dict[str, float] = {}
    for axis in AXES:
        values = actions[:, AXIS_INDEX[axis]]
        median = float(np.median(values)) if len(values) else 0.0
        wobble = float(np.percentile(np.abs(values - median), cfg.stick_percentile)) if len(values) else 0.0
        jitter = wobble < cfg.stick_min_range and abs(median) <= cfg.stick_rest_offset
        still = wobble < cfg.stick_still_range and abs(median) < cfg.stick_rim
        if jitter or still:
            scale, centre = 1.0, median
        else:
            scale, centre = float(np.percentile(np.abs(values), cfg.stick_percentile)), 0.0
        out[:, AXIS_INDEX[axis]] = np.clip((values - centre) / scale, -1.0, 1.0)
        scales[axis], centres[axis] = round(scale, 6), round(centre, 6)
    return out, scales, centres


def calibrate_buttons(
    actions: np.ndarray, button_logits: np.ndarray, rest_quantile: float, min_rise: float
) -> tuple[np.ndarray, dict[str, float], dict[str, int]]:
    """Keep a button pressed only where its logit stands `min_rise` above its rest level in this video.

    actions (T, 21) with buttons thresholded by the parser, button_logits (T, 17). The rest level
    is the `rest_quantile` of each button's logits. Returns the actions, each button's rest level,
    and, per button whose reading changed, how many frames changed.
    """
    out = actions.astype(np.float32, copy=True)
    if not len(actions):
        return out, {}, {}
    rest = np.quantile(button_logits, rest_quantile, axis=0)  # (17,)
    pressed = (actions[:, :N_BUTTONS] > 0.5) & (button_logits - rest > min_rise)
    out[:, :N_BUTTONS] = pressed
    changed = (out[:, :N_BUTTONS] != actions[:, :N_BUTTONS]).sum(axis=0)
    rest_levels = {name: round(float(r), 3) for name, r in zip(BUTTONS, rest)}
    return out, rest_levels, {name: int(n) for name, n in zip(BUTTONS, changed) if n}


def finish_actions(raw: np.ndarray, button_logits: np.ndarray, cfg: ExtractConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """A video's raw parser readings as the stage writes them (buttons calibrated, sticks normalized), and what each step decided, for the record."""
    actions, button_rest, recalibrated = calibrate_buttons(raw, button_logits, cfg.button_rest_quantile, cfg.button_min_rise)
    actions, scales, centres = normalize_sticks(actions, cfg)
    return actions, dict(stick_scale=scales, stick_centre=centres, button_rest_logit=button_rest, button_frames_recalibrated=recalibrated)


def decoded_crops(
    video: Path, transform: np.ndarray, view: SkinView, skin_size: tuple[int, int], batch: int, threads: int
) -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
    """Rectified crops (n, h, w, 3) and stick patches (n, 2, s, s, 3) uint8 of every frame, `batch` at a time.

    Decoding runs in a background thread. Yields (crops, sticks, fps). Raises ValueError naming
    the file if it does not decode to its declared end.
    """
    results: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
    stop = threading.Event()

    def produce() -> None:
        try:
            with av.open(str(video)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                stream.thread_count = threads
                fps = float(stream.average_rate)
                declared = stream.frames
                crops: list[np.ndarray] = []
                sticks: list[np.ndarray] = []
                decoded = 0
                for frame in container.decode(stream):
                    crop, stick = frame_crops(frame.to_ndarray(format="rgb24"), transform, view, skin_size)
                    crops.append(crop)
                    sticks.append(stick)
                    decoded += 1
                    if len(crops) == batch:
                        results.put((np.stack(crops), np.stack(sticks), fps))
                        crops, sticks = [], []
                    if stop.is_set():
                        return
                if crops:
                    results.put((np.stack(crops), np.stack(sticks), fps))
                if declared and decoded < declared:
                    raise ValueError(f"{video}: decoded {decoded} of {declared} declared frames (truncated or corrupt mid-stream)")
                if decoded == 0:
                    raise ValueError(f"{video}: no frame decodes")
            results.put(None)
        except av.error.FFmpegError as exc:
            results.put(ValueError(f"{video}: decoding failed mid-stream: {exc}"))
        except Exception as exc:  # handed to the consumer, which re-raises it in the caller's thread
            results.put(exc)

    worker = threading.Thread(target=produce, name=f"decode-{video.stem}", daemon=True)
    worker.start()
    try:
        while (item := results.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                results.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def parse_video(
    parser: Any, view: SkinView, batches: Iterator[tuple[np.ndarray, np.ndarray, float]]
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Run the parser over consecutive crop batches; (T, 21) actions, (T,) confidence, fps, (T, 17) button logits."""
    actions, confidence, logits = [], [], []
    last: tuple[np.ndarray, np.ndarray] | None = None
    fps = 0.0
    for crops, sticks, fps in batches:
        # Pairs chain across batches: a batch's first frame pairs with the previous batch's last
        # (the video's first frame pairs with itself, as in crops.parser_batch).
        head = (crops[:1], sticks[:1]) if last is None else last
        previous = (np.concatenate([head[0], crops[:-1]]), np.concatenate([head[1], sticks[:-1]]))
        reading = parser.read(parser_inputs(previous, (crops, sticks), view))
        actions.append(np.asarray(reading.actions, np.float32))
        confidence.append(np.asarray(reading.confidence, np.float32))
        logits.append(np.asarray(reading.button_logits, np.float32))
        last = (crops[-1:], sticks[-1:])
    if not actions:
        raise ValueError("no frames to parse")
    return np.concatenate(actions), np.concatenate(confidence), fps, np.concatenate(logits)


def parse_overlay(
    video: Path, transform: np.ndarray, skin: Skin, parser: Any, batch: int, decode_threads: int
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Parse every frame of a video whose overlay `skin` sits at `transform`; what `parse_video` returns."""
    view = skin_view(skin, tuple(parser.cfg.crop_size), parser.cfg.stick_size)
    return parse_video(parser, view, decoded_crops(video, transform, view, skin.size, batch, decode_threads))


# One per worker process: the library, its template features and the parser are loaded once
# (under a lock: a thread runner's workers share them, and inference does not change the parser).
_LIBRARIES: dict[tuple[Path, ...], SkinLibrary] = {}
_PARSERS: dict[tuple[Path, str], Any] = {}
_LOAD_LOCK = threading.Lock()


def _library(skin_dirs: tuple[Path, ...]) -> SkinLibrary:
    with _LOAD_LOCK:
        if skin_dirs not in _LIBRARIES:
            _LIBRARIES[skin_dirs] = load_library(skin_dirs)
        return _LIBRARIES[skin_dirs]


def _parser(parser_dir: Path, sha256: str) -> Any:
    from models.overlay_parser import load_parser

    key = (parser_dir, sha256)
    with _LOAD_LOCK:
        if key not in _PARSERS:
            _PARSERS.clear()
            _PARSERS[key] = load_parser(parser_dir)
        return _PARSERS[key]


def extract_video(job: ExtractJob) -> ExtractOutcome:
    """Localize, parse and write one video; any failure is returned as a `failed` outcome, never raised."""
    started = time.perf_counter()
    source = str(job.source.get("path", job.video))
    try:
        return _extract(job, started, source)
    except Exception as exc:  # one bad video must not stop the others; its reason goes to the report
        reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        for suffix in (".parquet", ".json"):
            (job.out_dir / f"{job.video_id}{suffix}").unlink(missing_ok=True)
        return ExtractOutcome(job.video_id, source, "failed", reason, extract_s=round(time.perf_counter() - started, 3))


def _extract(job: ExtractJob, started: float, source: str) -> ExtractOutcome:
    cfg = job.cfg
    library = _library(job.skin_dirs)
    loc = localize_overlay(job.video, library, cfg.localize)
    record: dict[str, Any] = {
        "video_id": job.video_id,
        "video": str(job.video),
        "source": dict(job.source),
        "localization": loc.to_dict(),
        "versions": {
            "extract": EXTRACT_VERSION,
            "action_schema": ACTION_SCHEMA_VERSION,
            "localize": LOCALIZE_VERSION,
            "localize_config": asdict(cfg.localize),
            "parser_sha256": job.parser_sha256,
        },
    }
    if not loc.found:
        record["extract_s"] = round(time.perf_counter() - started, 3)
        write_json(job.out_dir / f"{job.video_id}.json", record)
        (job.out_dir / f"{job.video_id}.parquet").unlink(missing_ok=True)
        return ExtractOutcome(job.video_id, source, "no_overlay", loc.reason, localize_s=loc.seconds, extract_s=record["extract_s"])
    parser = _parser(job.parser_dir, job.parser_sha256)
    crop_size = tuple(parser.cfg.crop_size)
    raw, confidence, fps, button_logits = parse_overlay(job.video, loc.matrix, library.skins[loc.skin_id], parser, cfg.batch_size, cfg.decode_threads)
    actions, decisions = finish_actions(raw, button_logits, cfg)
    write_action_table(job.out_dir / f"{job.video_id}.parquet", actions, fps, confidence)
    seconds = round(time.perf_counter() - started, 3)
    record.update(frames=len(actions), fps=fps, crop_size=list(crop_size), **decisions, extract_s=seconds)
    write_json(job.out_dir / f"{job.video_id}.json", record)
    recalibrated = len(decisions["button_frames_recalibrated"])
    return ExtractOutcome(job.video_id, source, "extracted", loc.reason, len(actions), loc.seconds, seconds, loc.skin_id, recalibrated)


def start_worker(threads: int, skin_dirs: tuple[Path, ...], cfg: LocalizeConfig) -> None:
    """Set torch's thread count and build this process's template features (once; cached after).

    Each worker builds its own (~2 s) rather than receiving the parent's: the index is ~20 MB,
    which would travel with every video to a process pool or a Dask cluster.
    """
    import torch

    torch.set_num_threads(threads)
    template_index(_library(skin_dirs), cfg)


def run_jobs(jobs: list[ExtractJob], workers: int, threads: int, runner: TaskRunnerConfig = TaskRunnerConfig()) -> list[ExtractOutcome]:
    """Extract every job as mapped Prefect tasks on `runner`, `workers` videos at a time; outcomes in job order."""
    if not jobs:
        return []

    def crashed(job: ExtractJob, exc: BaseException) -> ExtractOutcome:  # the worker died (e.g. killed for memory)
        return ExtractOutcome(job.video_id, str(job.source.get("path", job.video)), "failed", f"worker crashed: {exc!r}")

    def progress(done: int, total: int, outcome: ExtractOutcome) -> None:
        print(f"[extract {done}/{total}] {outcome.status} {outcome.video_id} ({outcome.source}): {outcome.reason}", flush=True)

    setup = functools.partial(start_worker, threads, jobs[0].skin_dirs, jobs[0].cfg.localize)
    # Longest first: the last video to finish then is a short one, and no worker idles long at the end.
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].pixels)
    outcomes = fan_out(extract_video, [jobs[i] for i in order], name="extract", runner=runner, workers=workers,
                       labels=[jobs[i].video_id for i in order], setup=setup, on_error=crashed, progress=progress)
    in_job_order: list[ExtractOutcome] = [None] * len(jobs)  # type: ignore[list-item]
    for i, outcome in zip(order, outcomes):
        in_job_order[i] = outcome
    return in_job_order


def ingested_videos(ingest_dir: Path) -> list[Mapping[str, Any]]:
    """The accepted rows of ingest's report; ValueError if there is no readable report."""
    return list(accepted_videos(read_report(ingest_dir)).values())


def extract_all(
    cfg: ExtractConfig, root: Path, skin_dirs: tuple[Path, ...] = (), runner: TaskRunnerConfig = TaskRunnerConfig()
) -> tuple[list[ExtractOutcome], float]:
    """Extract every accepted video of the ingest report into cfg.out_dir on `runner`; return outcomes and wall seconds."""
    ingest_dir, out_dir, parser_dir = root / cfg.ingest_dir, root / cfg.out_dir, root / cfg.parser_dir
    rows = ingested_videos(ingest_dir)
    weights = parser_dir / PARSER_WEIGHTS
    if not weights.is_file():
        raise ValueError(f"{weights}: overlay parser weights not found (run the parser_train stage first)")
    # A malformed skin fails here, once, rather than in every video.
    template_index(_library(skin_dirs), cfg.localize)
    _clear_generated(out_dir)
    sha256 = file_sha256(weights)
    jobs = []
    for row in rows:
        provenance = {k: row.get(k) for k in ("path", "sha256", "source", "licence", "url")}
        video = ingest_dir / row["output"]
        width, height = row.get("size_out") or (0, 0)
        pixels = int(row.get("frames_out") or 0) * int(width) * int(height)
        jobs.append(ExtractJob(row["video_id"], video, provenance, out_dir, parser_dir, sha256, skin_dirs, cfg, pixels))
    started = time.perf_counter()
    outcomes = run_jobs(jobs, cfg.workers, cfg.threads, runner)
    wall = time.perf_counter() - started
    write_json(out_dir / REPORT_FILE, {"videos": [asdict(o) for o in outcomes], "summary": extract_metrics(outcomes, wall), "config": asdict(cfg)})
    return outcomes, wall


def extract_metrics(outcomes: list[ExtractOutcome], wall_s: float) -> dict[str, float]:
    frames = sum(o.frames for o in outcomes)
    localize = [o.localize_s for o in outcomes if o.status != "failed"]
    return {
        "videos": len(outcomes),
        **{f"videos_{s}": sum(o.status == s for o in outcomes) for s in STATUSES},
        "frames": frames,
        "frames_per_s": round(frames / wall_s, 1) if wall_s > 0 else 0.0,
        "localize_s_mean": round(float(np.mean(localize)), 3) if localize else 0.0,
        "buttons_recalibrated": sum(o.buttons_recalibrated for o in outcomes),
    }


def _clear_generated(folder: Path) -> None:
    """Remove what an earlier run wrote here, so the folder holds exactly this run's outputs."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.suffix in {".parquet", ".json"} and path.is_file():
                path.unlink()


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: extract every accepted video of params['extract'].ingest_dir."""
    from padflow.overlay.scoring import SPLITS, headline_metrics, summarize, collect_scores

    cfg = from_mapping(ExtractConfig, params.get("extract"), "extract")
    skin_dirs = tuple(root / d for d in (params.get("overlay") or {}).get("skin_dirs") or ())
    outcomes, wall = extract_all(cfg, root, skin_dirs, runner_config(params, "extract"))
    metrics = extract_metrics(outcomes, wall)
    out_dir = root / cfg.out_dir
    artifacts = {"extract": out_dir / REPORT_FILE}
    truth_dir = root / cfg.truth_dir
    if truth_dir.is_dir() and any(truth_dir.glob("*.parquet")):
        scores = collect_scores(root, out_dir, truth_dir, root / cfg.ingest_dir)
        reports = {split: summarize(scores, split) for split in SPLITS}
        write_json(out_dir / SCORE_FILE, reports)
        for split, report in reports.items():
            metrics.update(headline_metrics(report, f"{split}_"))
        artifacts["extract/score"] = out_dir / SCORE_FILE
    return StageResult(params={"extract": asdict(cfg)}, metrics=metrics, artifacts=artifacts)
