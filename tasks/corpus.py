"""corpus: padflow's embedded default video source.

Scripted players play the task suite; frames are recorded at 30 fps, scaled to an upload
resolution, a controller overlay from the skin library shows what the player pressed (with a
random placement, opacity and capture lag), and the result is encoded H.264 like a streamer's
upload. True actions go to a sidecar folder that the pipeline never reads; they only score
extraction.

Outputs (per video `<name>`):
    <raw_dir>/<name>.mp4                  what ingest sees
    <truth_dir>/<name>.parquet            action table of what the overlay shows at each frame
    <truth_dir>/<name>.json               VideoTruth: task, skill, skin, placement, lag, ...
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import Field

from padflow.config import check_range, config, from_mapping
from padflow.fanout import TaskRunnerConfig, fan_out, runner_config
from padflow.io import atomic_path, replaced_dir, write_json
from padflow.overlay.library import HELD_OUT_SKINS, load_library
from padflow.overlay.render import ANCHORS, OverlayLag, Placement, draw_overlay
from padflow.players import SKILLS
from padflow.players.footage import DISPLAY_ASPECT, fit_to_upload, record_gameplay
from padflow.sim import all_tasks
from padflow.stages import StageResult
from padflow.tables import write_action_table
from padflow.video import iter_frames, write_mp4


# The default profile's tasks: one short task per game, 2-3 videos each (evaluate.tasks is the same list).
CORPUS_TASKS = ("boxing_score_10", "seaquest_sink_5", "freeway_cross_once", "road_runner_eat_4_seeds",
                "ms_pacman_eat_30_dots", "pong_hold_15s", "breakout_break_5_bricks", "doom_basic_first_shot",
                "freedoom_map01_first_kill", "crafter_collect_wood")
Pair = tuple[float, float]


@config
class CorpusConfig:
    videos: Annotated[int, Field(ge=1, description="number of videos to make")] = 24
    seconds: Annotated[Pair, Field(
        description="video length range, seconds (uniform per video), within [0.5, 3600]")] = (16.0, 24.0)
    tasks: Annotated[tuple[str, ...], Field(
        description="task ids played round-robin; empty = the whole suite. By default the evaluation tasks, "
                    "2-3 videos each: the policy is validated and evaluated on new episodes of tasks it trained on "
                    "(with one video per task, validation held tasks training never saw)")] = CORPUS_TASKS
    skills: Annotated[tuple[Literal[tuple(SKILLS)], ...], Field(
        min_length=1, description="scripted-player skill presets, drawn per video")] = ("expert", "average", "novice")
    no_overlay_share: Annotated[float, Field(
        ge=0.0, le=1.0, description="share of videos with no overlay (walkthrough-style, no controller drawn)")] = 0.125
    held_out_share: Annotated[float, Field(
        ge=0.0, le=1.0, description="share of overlay videos drawn with held-out skins (scores the parser's "
                                    "generalization)")] = 0.35
    resolutions: Annotated[tuple[tuple[Annotated[int, Field(ge=64)], Annotated[int, Field(ge=64)]], ...], Field(
        min_length=1, description="(width, height) upload sizes in px (at least 64), drawn per video")] = (
        (854, 480), (960, 540), (1280, 720), (640, 480), (1152, 720))
    overlay_width: Annotated[Pair, Field(
        description="overlay width range, fraction of frame width, within [0.08, 0.30]")] = (0.08, 0.30)
    opacity: Annotated[Pair, Field(description="overlay opacity range, within [0.4, 1.0]")] = (0.4, 1.0)
    max_lag_frames: Annotated[int, Field(
        ge=0, le=2, description="capture lag: the overlay shows the action 0..max_lag_frames frames late")] = 2
    crf: Annotated[tuple[int, int], Field(
        description="x264 constant-rate-factor range, 0 <= lo <= hi <= 51 (lower = better quality)")] = (20, 30)
    fps: Annotated[float, Field(gt=0, description="recording frame rate, frames/s")] = 30.0
    preset: Annotated[str, Field(description="x264 speed preset")] = "veryfast"
    workers: Annotated[int, Field(
        ge=1, description="videos made in parallel (fan_out on orchestration.task_runner)")] = 2
    raw_dir: Annotated[str, Field(description="where the videos go: what ingest reads")] = "data/raw"
    truth_dir: Annotated[str, Field(description="ground truth, kept apart from raw_dir")] = "data/corpus_truth"

    def __post_init__(self) -> None:
        check_range("seconds", self.seconds, 0.5, 3600)
        check_range("overlay_width", self.overlay_width, 0.08, 0.30)
        check_range("opacity", self.opacity, 0.4, 1.0)
        check_range("crf", self.crf, 0, 51)


@dataclass(frozen=True)
class VideoPlan:
    """Everything random about one video, drawn up front from the corpus seed."""

    name: str
    task_id: str
    skill: str
    episode_seed: int
    seconds: float
    width: int
    height: int
    crf: int
    skin_id: str | None  # None: no overlay
    held_out: bool
    anchor: str
    overlay_width: float
    opacity: float
    lag: int


@dataclass(frozen=True)
class VideoTruth:
    """The sidecar record of one video: what was played and how the overlay was drawn."""

    plan: VideoPlan
    game: str
    frames: int
    fps: float
    overlay_box: tuple[int, int, int, int] | None  # (x0, y0, x1, y1) in video pixels
    game_box: tuple[int, int, int, int]  # where the game picture sits in the video
    family: str | None
    episodes: int  # episodes played back to back to fill the video
    successes: int


def plan_videos(cfg: CorpusConfig, seed: int, skins: Mapping[str, Any], held_out: set[str]) -> list[VideoPlan]:
    """Draw every video's task, skill, resolution and overlay from one seeded stream."""
    rng = np.random.default_rng([seed, 0xC0])
    task_ids = list(cfg.tasks) or list(all_tasks())
    train_skins = sorted(s for s in skins if s not in held_out)
    test_skins = sorted(s for s in skins if s in held_out)
    if not train_skins or (cfg.held_out_share > 0 and not test_skins):
        raise ValueError("the skin library needs both held-out and training skins")
    n_plain = int(round(cfg.videos * cfg.no_overlay_share))
    plain = set(rng.choice(cfg.videos, size=n_plain, replace=False).tolist()) if n_plain else set()
    plans = []
    for i in range(cfg.videos):
        task_id = task_ids[i % len(task_ids)]
        width, height = cfg.resolutions[int(rng.integers(len(cfg.resolutions)))]
        has_overlay = i not in plain
        use_held_out = has_overlay and bool(rng.random() < cfg.held_out_share)
        pool = test_skins if use_held_out else train_skins
        plans.append(
            VideoPlan(
                name=f"{i:04d}_{task_id}",
                task_id=task_id,
                skill=str(rng.choice(cfg.skills)),
                episode_seed=int(rng.integers(0, 2**31 - 1)),
                seconds=float(rng.uniform(*cfg.seconds)),
                width=int(width),
                height=int(height),
                crf=int(rng.integers(cfg.crf[0], cfg.crf[1] + 1)),
                skin_id=str(rng.choice(pool)) if has_overlay else None,
                held_out=use_held_out,
                anchor=str(rng.choice(ANCHORS)),
                overlay_width=float(rng.uniform(*cfg.overlay_width)),
                opacity=float(rng.uniform(*cfg.opacity)),
                lag=int(rng.integers(0, cfg.max_lag_frames + 1)),
            )
        )
    return plans


def make_video(plan: VideoPlan, cfg: CorpusConfig, root: Path, skin_dirs: tuple[str, ...]) -> VideoTruth:
    """Play, draw the overlay, encode; write the video and its truth sidecar."""
    raw_frames, actions, episodes, successes = record_gameplay(
        plan.task_id, plan.skill, plan.episode_seed, plan.seconds, cfg.fps
    )
    skin = placement = None
    if plan.skin_id is not None:
        skin = load_library([root / d for d in skin_dirs]).skins[plan.skin_id]
        placement = Placement(anchor=plan.anchor, width_frac=plan.overlay_width, opacity=plan.opacity)
    # Capture lag: the overlay at frame i shows the action held at frame i - lag (neutral before).
    shown = OverlayLag(plan.lag).shown_actions(actions)
    box = None
    game_box = (0, 0, plan.width, plan.height)
    aspect = DISPLAY_ASPECT.get(all_tasks()[plan.task_id].engine)

    def frames():
        nonlocal box, game_box
        for i, frame in enumerate(raw_frames):
            out, game_box = fit_to_upload(frame, plan.width, plan.height, aspect)
            if skin is not None:
                out, box = draw_overlay(out, skin, shown[i], placement, inplace=True)
            yield out

    video = root / cfg.raw_dir / f"{plan.name}.mp4"
    n = write_mp4(video, frames(), cfg.fps, crf=plan.crf, preset=cfg.preset)
    # Ground truth is what the overlay *shows*, lag included.
    truth_dir = root / cfg.truth_dir
    write_action_table(truth_dir / f"{plan.name}.parquet", shown[:n], cfg.fps)
    task = all_tasks()[plan.task_id]
    truth = VideoTruth(
        plan=plan,
        game=task.game,
        frames=n,
        fps=cfg.fps,
        overlay_box=tuple(int(v) for v in box) if box is not None else None,
        game_box=tuple(int(v) for v in game_box),
        family=skin.family if skin is not None else None,
        episodes=episodes,
        successes=successes,
    )
    write_json(truth_dir / f"{plan.name}.json", asdict(truth))
    return truth


def build_corpus(cfg: CorpusConfig, seed: int, root: Path, skin_dirs: tuple[str, ...],
                 runner: TaskRunnerConfig = TaskRunnerConfig()) -> tuple[list[VideoTruth], float]:
    """Make every planned video (`cfg.workers` at a time on `runner`); return the truths and wall seconds."""
    skins = load_library([root / d for d in skin_dirs]).skins
    plans = plan_videos(cfg, seed, skins, set(HELD_OUT_SKINS))
    for folder in (cfg.raw_dir, cfg.truth_dir):
        _clear_generated(root / folder)
    started = time.perf_counter()
    truths = fan_out(functools.partial(make_video, cfg=cfg, root=root, skin_dirs=skin_dirs), plans, name="corpus",
                     runner=runner, workers=cfg.workers, labels=[p.name for p in plans], unit="videos")
    return truths, time.perf_counter() - started


def _clear_generated(folder: Path) -> None:
    """Remove what an earlier corpus run wrote here (only .mp4/.parquet/.json), so the folder is exactly this run's."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.suffix in {".mp4", ".parquet", ".json"} and path.is_file():
                path.unlink()


def corpus_metrics(truths: list[VideoTruth], wall_s: float) -> dict[str, float]:
    frames = sum(t.frames for t in truths)
    overlay = [t for t in truths if t.plan.skin_id is not None]
    return {
        "videos": len(truths),
        "minutes": round(sum(t.frames / t.fps for t in truths) / 60, 3),
        "frames": frames,
        "share_no_overlay": round(1 - len(overlay) / len(truths), 4),
        "share_held_out": round(sum(t.plan.held_out for t in overlay) / max(1, len(overlay)), 4),
        "families": len({t.family for t in overlay}),
        "games": len({t.game for t in truths}),
        "frames_per_s": round(frames / wall_s, 1),
    }


def contact_sheet(root: Path, cfg: CorpusConfig, truths: list[VideoTruth], path: Path, tiles: int = 12) -> Path:
    """A grid of one frame from each of the first overlay videos, to eyeball the corpus."""
    picked = [t for t in truths if t.plan.skin_id is not None][:tiles]
    cells = []
    for t in picked:
        middle = t.frames // 2
        for i, frame in enumerate(iter_frames(root / cfg.raw_dir / f"{t.plan.name}.mp4")):
            if i == middle:
                cells.append(cv2.resize(frame, (426, 240), interpolation=cv2.INTER_AREA))
                break
    while len(cells) % 4:
        cells.append(np.zeros((240, 426, 3), np.uint8))
    rows = [np.hstack(cells[i : i + 4]) for i in range(0, len(cells), 4)]
    sheet = np.vstack(rows) if rows else np.zeros((240, 426 * 4, 3), np.uint8)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp.with_suffix(".png")), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        tmp.with_suffix(".png").replace(tmp)
    return path


CORPUS_MANIFEST = "corpus_manifest.json"  # beside the truth records: every video's VideoTruth
INGEST_MANIFEST = "manifest.json"  # beside the videos: ingest reads it for source, licence and game
CORPUS_SOURCE = "padflow corpus (scripted play of ale-py, vizdoom, crafter)"
CORPUS_LICENCE = "generated by padflow; game licences: ale-py ROMs, Freedoom (BSD), Crafter (MIT)"


def write_ingest_manifest(path: Path, truths: list[VideoTruth]) -> Path:
    """The corpus as an ingest manifest, so provenance and the game title travel with every video."""
    return write_json(path, {
        "defaults": {"source": CORPUS_SOURCE, "licence": CORPUS_LICENCE},
        "videos": [{"path": f"{t.plan.name}.mp4", "game": t.game} for t in truths],
    })


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: build the corpus described by params['corpus']."""
    cfg = from_mapping(CorpusConfig, params.get("corpus"), "corpus")
    skin_dirs = tuple((params.get("overlay") or {}).get("skin_dirs") or ())
    raw_dir, truth_dir = root / cfg.raw_dir, root / cfg.truth_dir
    # Both folders are made beside the previous ones and swapped in only when the whole corpus is:
    # a run that fails leaves the previous corpus as it was.
    with replaced_dir(raw_dir) as new_raw, replaced_dir(truth_dir) as new_truth:
        work = replace(cfg, raw_dir=str(new_raw), truth_dir=str(new_truth))
        truths, wall_s = build_corpus(work, int(params.get("seed", 0)), root, skin_dirs, runner_config(params, "corpus"))
        write_json(new_truth / CORPUS_MANIFEST, {"videos": [asdict(t) for t in truths]})
        write_ingest_manifest(new_raw / INGEST_MANIFEST, truths)
        sheet = contact_sheet(root, work, truths, root / "data" / "reports" / "corpus" / "contact_sheet.png")
    manifest = truth_dir / CORPUS_MANIFEST
    return StageResult(
        params={"corpus": asdict(cfg), "seed": params.get("seed", 0)},
        metrics=corpus_metrics(truths, wall_s),
        artifacts={"corpus": sheet, "corpus/manifest": manifest},
    )


def load_truth(truth_dir: Path, name: str) -> dict[str, Any]:
    """The sidecar record of one corpus video, as written by make_video."""
    return json.loads((truth_dir / f"{name}.json").read_text())
