"""extract: read the actions off every ingested video's controller overlay.

Per video (`extract_video`, a plain function that `fan_out` maps over the videos): localize the
overlay (padflow.overlay.localize), read every frame with the overlay parser, calibrate the
buttons and normalize the sticks (padflow.overlay.readings) — or read every frame by drawing the
found skin in each state of its controls (padflow.overlay.look_reader): `reader` chooses, by
default by the found skin's kind (`reader_for`) — and write

    <out_dir>/<video_id>.parquet     action table (padflow.tables) with per-frame confidence
    <out_dir>/<video_id>.json        localization record: skin, transform, inliers, box, timings,
                                     source video, versions (action schema, parser weights, config),
                                     `unobserved`: the controls the skin does not draw
    <out_dir>/extract_report.json    every video's status (extracted | no_overlay | unknown_skin | failed) + reason

Frames are read from ingest's native-rate rendition (padflow.ingest: the source's own rate up to
ingest.native_max_fps), so a table has a row for every source frame, its `t` the frame's
presentation time (frame / the rendition's fps; docs/overlay.md, "Frame rates"); the gate and
training step through it at the normalized video's rate.

Controls the matched skin does not draw (`skin.observed`), and those it draws in a way no video can show
(padflow.overlay.readable: a press that draws nothing, buttons drawn as one), are *unobserved*: the table lists
them (padflow.tables `padflow.unobserved`, cells neutral, never "not pressed") and so does the record.

A video without an overlay gets its record (with the localizer's reason) but no action table; so
does a video whose overlay no library skin explains (`unknown_skin`: the record and the report
give the overlay's box and the reason, and nothing is read with a look-alike skin's layout); a
video that fails (unreadable, corrupt mid-stream) is recorded as failed and the others finish.
The parser is loaded and checked once, before any video: a bad weights file fails the stage with
the file named. Outputs are written to a folder beside out_dir and swapped in only when the stage
succeeds (padflow.io.replaced_dir); a failed stage, or one where every video failed, leaves the
previous outputs as they were.

When corpus ground truth exists (`truth_dir`), extraction is scored (padflow.overlay.scoring)
and the headline numbers join the stage metrics.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import numpy as np
from pydantic import Field

from padflow import progress as progress_display
from padflow.actions import ACTION_NAMES, ACTION_SCHEMA_VERSION
from padflow.config import config, from_mapping
from padflow.fanout import TaskRunnerConfig, fan_out, runner_config
from padflow.ingest.report import accepted_videos, native_video, read_report
from padflow.io import file_sha256, replaced_dir, write_json
from padflow.overlay.library import SkinLibrary, load_library
from padflow.overlay.localize import LOCALIZE_VERSION, LocalizeConfig, localize_overlay, template_index
from padflow.overlay.look_reader import read_by_looks
from padflow.overlay.readable import readable_controls
from padflow.overlay.readings import ParsedVideo, finish_actions, frame_confidence, parse_overlay
from padflow.overlay.scoring import SPLITS, collect_scores, headline_metrics, summarize
from padflow.stages import StageResult
from padflow.tables import write_action_table

Status = Literal["extracted", "no_overlay", "unknown_skin", "failed"]
Reader = Literal["auto", "parser", "looks"]
STATUSES: tuple[str, ...] = ("extracted", "no_overlay", "unknown_skin", "failed")
EXTRACT_VERSION = 23  # 23: a stick read by its cap is not scaled by the 99th percentile of its offsets (its readings are in the layout's travel); 22: a frame whose stick the cap reads takes the cap's certainty for that stick in its confidence, not the learned head's (readings.frame_confidence); 21: a stick is read where the rest cap matches best (models.overlay_parser.cap_locator) where that match is clear (cap_min_match), re-centred only near 0 (cap_rest_bound); 20: controls whose press the video's encoder erases (padflow.overlay.look_erasure) are unseen too; 19: controls the look reader finds a video cannot show (`unseen`) are unobserved; 18: the look reader reads runs of frames whose picture states that read differently draw alike by the frames around them (padflow.overlay.look_alike); 17: the look reader doubts a stick's click one grid step away only where the frame doubts it at that cell (its confidence); 16: the look reader reads a press shown at up to GAIN_CEILING (0.65) of its drawn change at the share shown; 15: the look reader solves a stick's game under the look the median shows too, and of stick states drawn exactly alike reads the fewest presses; 14: the look reader reads a stick with a group its cap moves over together; 13: buttons a sprite skin draws unreadably (padflow.overlay.readable) are unobserved; 12: calibration adds no presses to more than button_max_added_share of a video; 11: one of the buttons read together shown fainter than the others gets its own gain; 10: a stick is read with any button its click lights, and its faint moves get a gain apart from its clicks; 9: the look reader reads a d-pad or buttons read together fainter than drawn; 8: a button's rest level needs button_min_rest_frames; 7: tables at the source rate; bump when a change here changes the tables written for the same inputs
REPORT_FILE = "extract_report.json"
SCORE_FILE = "extraction_score.json"
PARSER_WEIGHTS = "parser.safetensors"


@config
class ExtractConfig:
    localize: LocalizeConfig = Field(default_factory=LocalizeConfig, description="overlay localization (padflow.overlay.localize)")
    batch_size: Annotated[int, Field(ge=1, description="crop pairs per parser call")] = 64
    threads: Annotated[int, Field(ge=1, description="torch threads per worker (workers x threads <= cores)")] = 1
    decode_threads: Annotated[int, Field(ge=1, description="FFmpeg decoder threads per video")] = 1
    workers: Annotated[int, Field(ge=1, description=(
        "videos extracted in parallel, on the stage's runner (orchestration.stage_runners.extract, else "
        "orchestration.task_runner); 1: in the stage's process"))] = 2
    stick_percentile: Annotated[float, Field(ge=50.0, le=100.0, description=(
        "each moving stick axis that the parser's learned head read is divided by this percentile of its |offset| from "
        "its rest reading over the video (NitroGen: 99), as overlay software scales the drawn travel differently; one "
        "read by its cap (cap_min_match) is in the layout's travel already and is not scaled"))] = 99.0
    stick_rest_bandwidth: Annotated[float, Field(gt=0.0, lt=1.0, description=(
        "axis units; half-width of the window of readings whose densest placement (within their middle half) is an "
        "axis's rest reading in a video: where a released stick returns, however far off centre the parser reads it "
        "on that skin; every axis is re-centred on it (bench/reading_rules.py tunes it)"))] = 0.1
    stick_min_range: Annotated[float, Field(gt=0.0, lt=1.0, description=(
        "axis units; an axis whose offsets from its rest reading stay within this (at stick_percentile) never moved "
        "(parser jitter around rest): it is re-centred, not scaled, so jitter does not become full deflections"))] = 0.5
    stick_rim: Annotated[float, Field(gt=0.0, le=1.0, description=(
        "axis units; a rest reading this far out at an end of the readings' range is a stick held at the rim (released "
        "now and then, or never), not a rest: the axis keeps centre 0 (1: never; bench/reading_rules.py tunes it)"))] = 0.6
    button_min_rise: Annotated[float, Field(ge=0.0, description=(
        "logits; a button's logits over a video split into a low (released) and a high (pressed) group, and its "
        "frames in the high group read pressed only when that group's mean stands this far above the low one's "
        "(some skins' rest looks read half-pressed all video; bench/reading_rules.py tunes it)"))] = 3.0
    button_min_rest_frames: Annotated[int, Field(ge=0, description=(
        "frames; the low group of a button's logits is its rest level only when it holds this many frames: one frame "
        "read far below the rest (a flash, a decoding glitch) would otherwise be the rest and the whole video a press; "
        "with a smaller low group the button keeps the parser's own reading (bench/reading_rules.py tunes it)"))] = 10
    button_max_added_share: Annotated[float, Field(gt=0.0, le=1.0, description=(
        "share of a video's frames; where the two groups would add presses (frames the parser read released) to more "
        "than this share of a video's frames, the button keeps the parser's own reading: a faint pad over a moving game "
        "splits into two groups too, and was read as a button held all video (1: no limit; bench/reading_rules.py "
        "tunes it)"))] = 0.4
    cap_min_match: Annotated[float, Field(ge=0.0, le=1.0, description=(
        "normalized cross-correlation; a stick is read where the rest cap's template matches best in each frame "
        "(models.overlay_parser.cap_locator: needs no training, reads 0 at rest and about +-1 at full travel) when its "
        "median best match over the video reaches this, in the frames whose own match does too (a clicked cap looks "
        "otherwise), else by the parser's learned stick head (a cap coloured like its well, a faint overlay over a "
        "busy game: the match stays low and its place is noise; 1: the learned head always; the middle of the range "
        "that read the tuning corpus alike: docs/benchmarks.md)"))] = 0.6
    cap_rest_bound: Annotated[float, Field(gt=0.0, le=1.0, description=(
        "axis units; a stick read by its cap (cap_min_match) reads 0 at rest by construction, so its rest reading "
        "(stick_rest_bandwidth) re-centres it only within this of 0; a pile-up farther out is a stick held there (a "
        "Freeway crossing) and the axis keeps centre 0 (stick_rim's role for the learned head's readings; chosen on "
        "tuning clips: docs/benchmarks.md)"))] = 0.3
    ingest_dir: Annotated[str, Field(description="ingest's output: ingest_report.json + videos/")] = "data/ingest"
    parser_dir: Annotated[str, Field(description="the overlay parser: parser.safetensors + its config")] = "data/parser"
    reader: Annotated[Reader, Field(description=(
        "how a found overlay is read: 'parser' (the trained overlay parser, then button calibration and stick "
        "normalization), 'looks' (no parser: the found skin drawn in every state of each control, each frame taking "
        "the state that explains it best, padflow.overlay.look_reader), or 'auto': looks for a sprite skin (pictures, "
        "as overlay tools draw them: imported presets, drafts from video), which the parser reads poorly, and the parser "
        "for a parametric one: the drawing it was trained on and the pipeline's thresholds were chosen on, read faster "
        "(docs/overlay.md compares the two)"))] = "auto"
    out_dir: Annotated[str, Field(description="action tables, localization records and the extract report")] = "data/extract"
    truth_dir: Annotated[str, Field(description="corpus ground truth; extraction is scored against it when present")] = "data/corpus_truth"


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
    reader: str | None = None  # "parser" or "looks": what read the table (`reader_for`)
    buttons_recalibrated: int = 0  # buttons whose reading button calibration changed in some frame
    box: list[int] | None = None  # unknown_skin: (x0, y0, x1, y1) of the overlay in frame px


# One per worker process: the library, its template features and the parser are loaded once
# (under a lock: a thread runner's workers share them, and inference does not change the parser).
_LOAD_LOCK = threading.Lock()


def _library(skin_dirs: tuple[Path, ...]) -> SkinLibrary:
    with _LOAD_LOCK:
        return _load_library(skin_dirs)


def _parser(parser_dir: Path, sha256: str) -> Any:
    with _LOAD_LOCK:
        return _load_parser(parser_dir, sha256)


@functools.lru_cache(maxsize=None)
def _load_library(skin_dirs: tuple[Path, ...]) -> SkinLibrary:
    return load_library(skin_dirs)


@functools.lru_cache(maxsize=1)  # one parser at a time; the weights' sha256 tells a retrained one apart
def _load_parser(parser_dir: Path, sha256: str) -> Any:
    # Local: torch stays off the cold path of `padflow score-extraction`, which reads ExtractConfig.
    from models.overlay_parser import load_parser

    return load_parser(parser_dir)


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
    loc = localize_overlay(job.video, library, cfg.localize, declared=job.source.get("skin"))
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
        box = list(loc.box) if loc.unknown_skin and loc.box else None  # unknown_skin: where the overlay is
        return ExtractOutcome(job.video_id, source, loc.outcome, loc.reason, localize_s=loc.seconds, extract_s=record["extract_s"], box=box)
    skin = library.skins[loc.skin_id]
    reader = reader_for(cfg.reader, skin)
    unseen: tuple[str, ...] = ()
    if reader == "looks":
        actions, confidence, fps, unseen = read_by_looks(job.video, loc.matrix, skin, cfg.decode_threads)
        decisions: dict[str, Any] = {"button_frames_recalibrated": {}}
        read_with: dict[str, Any] = {"reader": "looks", "unseen": list(unseen)}  # drawn, but this video cannot show them: no label
    else:
        parser = _parser(job.parser_dir, job.parser_sha256)
        read = read_by_parser(job.video, loc.matrix, skin, parser, cfg)
        actions, confidence, decisions, fps = read.actions, read.confidence, read.decisions, read.parsed.fps
        read_with = {"reader": "parser", "crop_size": list(parser.cfg.crop_size)}
    unobserved = tuple(name for name in ACTION_NAMES if name in {*unobserved_controls(skin), *unseen})
    write_action_table(job.out_dir / f"{job.video_id}.parquet", actions, fps, confidence, unobserved)
    seconds = round(time.perf_counter() - started, 3)
    record.update(frames=len(actions), fps=fps, **read_with, unobserved=list(unobserved), **decisions, extract_s=seconds)
    write_json(job.out_dir / f"{job.video_id}.json", record)
    recalibrated = sum(name not in unobserved for name in decisions["button_frames_recalibrated"])  # an unobserved button's reading is no label
    return ExtractOutcome(job.video_id, source, "extracted", loc.reason, len(actions), loc.seconds, seconds, loc.skin_id, reader, recalibrated)


class ParserRead(NamedTuple):
    """A video as the overlay parser reads it for the stage: the actions (T, 21) and confidence (T,) the table gets, what
    finishing decided (for the record), and the parser's and cap locator's raw readings behind them."""

    actions: np.ndarray
    confidence: np.ndarray
    decisions: dict[str, Any]
    parsed: ParsedVideo


def read_by_parser(video: Path, transform: np.ndarray, skin: Any, parser: Any, cfg: ExtractConfig) -> ParserRead:
    """Read a video whose overlay `skin` sits at `transform` with a loaded `parser` exactly as the stage does: parsed with
    the cap locator (padflow.overlay.readings.parse_overlay), finished (finish_actions) and each frame's confidence
    (frame_confidence). The benches read through this too, so they measure what extract writes."""
    from models.overlay_parser.cap_locator import locate_caps  # local: see _load_parser

    parsed = parse_overlay(video, transform, skin, parser, cfg.batch_size, cfg.decode_threads, locate_caps)
    actions, decisions = finish_actions(parsed.actions, parsed.button_logits, cfg, parsed.caps)
    return ParserRead(actions, frame_confidence(parsed, cfg), decisions, parsed)


def reader_for(reader: Reader, skin: Any) -> Literal["parser", "looks"]:
    """What reads a video whose overlay is `skin` (either kind): `reader`, or for 'auto' the look reader when the skin is a
    sprite skin and the parser when it is parametric (the parser learned padflow's parametric drawing; docs/overlay.md
    gives the figures)."""
    if reader == "auto":
        return "looks" if skin.kind == "sprite" else "parser"
    return reader


def unobserved_controls(skin: Any) -> tuple[str, ...]:
    """The buttons and axes a skin (either kind) does not draw or draws unreadably, in the unified action order: no reading of them exists."""
    readable = readable_controls(skin)
    return tuple(name for name in ACTION_NAMES if name not in readable)


def start_worker(threads: int, skin_dirs: tuple[Path, ...], cfg: LocalizeConfig) -> None:
    """Set torch's thread count and build this process's template features (once; cached after).

    Each worker builds its own (~2 s) rather than receiving the parent's: the index is ~20 MB,
    which would travel with every video to a process pool or a Dask cluster.
    """
    import torch  # local: see _load_parser

    torch.set_num_threads(threads)
    template_index(_library(skin_dirs), cfg)


def run_jobs(jobs: list[ExtractJob], workers: int, threads: int, runner: TaskRunnerConfig = TaskRunnerConfig()) -> list[ExtractOutcome]:
    """Extract every job with `fan_out` on `runner`, `workers` videos at a time; outcomes in job order."""
    if not jobs:
        return []

    def crashed(job: ExtractJob, exc: BaseException) -> ExtractOutcome:  # the worker died (e.g. killed for memory)
        return ExtractOutcome(job.video_id, str(job.source.get("path", job.video)), "failed", f"worker crashed: {exc!r}")

    def progress(done: int, total: int, outcome: ExtractOutcome) -> None:
        progress_display.say(f"[extract {done}/{total}] {outcome.status} {outcome.video_id} ({outcome.source}): {outcome.reason}")

    setup = functools.partial(start_worker, threads, jobs[0].skin_dirs, jobs[0].cfg.localize)
    # Longest first: the last video to finish then is a short one, and no worker idles long at the end.
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].pixels)
    outcomes = fan_out(extract_video, [jobs[i] for i in order], name="extract", runner=runner, workers=workers,
                       labels=[jobs[i].video_id for i in order], setup=setup, on_error=crashed, progress=progress,
                       unit="videos")
    in_job_order: list[ExtractOutcome] = [None] * len(jobs)  # type: ignore[list-item]
    for i, outcome in zip(order, outcomes):
        in_job_order[i] = outcome
    return in_job_order


def ingested_videos(ingest_dir: Path) -> list[Mapping[str, Any]]:
    """The accepted rows of ingest's report; ValueError if there is no readable report."""
    return list(accepted_videos(read_report(ingest_dir)).values())


def extract_all(
    cfg: ExtractConfig, root: Path, skin_dirs: tuple[Path, ...] = (), runner: TaskRunnerConfig = TaskRunnerConfig(),
    out_dir: Path | None = None,
) -> tuple[list[ExtractOutcome], float]:
    """Extract every accepted video of the ingest report into `out_dir` (default cfg.out_dir, cleared
    first) on `runner`; return outcomes and wall seconds. `stage` passes an empty folder it swaps in."""
    ingest_dir, parser_dir = root / cfg.ingest_dir, root / cfg.parser_dir
    rows = ingested_videos(ingest_dir)
    weights = parser_dir / PARSER_WEIGHTS
    if not weights.is_file():
        raise ValueError(f"{weights}: overlay parser weights not found (run the parser_train stage first)")
    sha256 = file_sha256(weights)
    # The parser (its weights checked against their record) and a malformed skin fail here, once,
    # naming the file, before any video: not as the same failure in every video.
    _parser(parser_dir, sha256)
    template_index(_library(skin_dirs), cfg.localize)
    if out_dir is None:
        out_dir = root / cfg.out_dir
        _clear_generated(out_dir)
    jobs = []
    for row in rows:
        provenance = {k: row.get(k) for k in ("path", "sha256", "source", "licence", "url", "skin")}  # skin: the manifest's declaration
        # Labels at the source rate: the native-rate rendition (a 60 fps source's every frame).
        output, _, frames = native_video(row)
        video = ingest_dir / output
        width, height = row.get("size_out") or (0, 0)
        pixels = frames * int(width) * int(height)
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
        "videos_read_by_looks": sum(o.reader == "looks" for o in outcomes),
    }


def _clear_generated(folder: Path) -> None:
    """Remove what an earlier run wrote here, so the folder holds exactly this run's outputs."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.suffix in {".parquet", ".json"} and path.is_file():
                path.unlink()


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: extract every accepted video of params['extract'].ingest_dir."""
    cfg = from_mapping(ExtractConfig, params.get("extract"), "extract")
    skin_dirs = tuple(root / d for d in (params.get("overlay") or {}).get("skin_dirs") or ())
    out_dir = root / cfg.out_dir
    artifacts = {"extract": out_dir / REPORT_FILE}
    truth_dir = root / cfg.truth_dir
    # Written beside cfg.out_dir and swapped in only when everything below succeeded: a failed
    # run leaves the previous tables as they were.
    with replaced_dir(out_dir) as work_dir:
        outcomes, wall = extract_all(cfg, root, skin_dirs, runner_config(params, "extract"), work_dir)
        failed = [o for o in outcomes if o.status == "failed"]
        if failed and len(failed) == len(outcomes):
            raise ValueError(f"extract: all {len(outcomes)} videos failed (first, {failed[0].video_id}: {failed[0].reason}); "
                             f"the previous outputs in {out_dir} are kept")
        metrics = extract_metrics(outcomes, wall)
        if truth_dir.is_dir() and any(truth_dir.glob("*.parquet")):
            scores = collect_scores(root, work_dir, truth_dir, root / cfg.ingest_dir)
            reports = {split: summarize(scores, split) for split in SPLITS}
            write_json(work_dir / SCORE_FILE, reports)
            for split, report in reports.items():
                metrics.update(headline_metrics(report, f"{split}_"))
            artifacts["extract/score"] = out_dir / SCORE_FILE
    return StageResult(params={"extract": asdict(cfg)}, metrics=metrics, artifacts=artifacts)
