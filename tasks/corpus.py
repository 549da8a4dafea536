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

import json
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from padflow.config import check_range, from_mapping
from padflow.io import write_json
from padflow.players import SKILLS, make_player
from padflow.sim import all_tasks, make_env
from padflow.sim.rollout import player_seed
from padflow.stages import StageResult
from padflow.tables import write_action_table
from padflow.video import write_mp4


@dataclass(frozen=True)
class CorpusConfig:
    videos: int  # number of videos to make
    seconds: tuple[float, float]  # video length range, seconds (uniform per video)
    tasks: tuple[str, ...]  # task ids played round-robin; empty = the whole suite
    skills: tuple[str, ...]  # scripted-player skill presets, drawn per video
    no_overlay_share: float  # share of videos with no overlay (walkthrough-style)
    held_out_share: float  # share of overlay videos drawn with held-out skins
    resolutions: tuple[tuple[int, int], ...]  # (width, height) upload sizes, drawn per video
    overlay_width: tuple[float, float]  # overlay width as a fraction of frame width
    opacity: tuple[float, float]  # overlay opacity range
    max_lag_frames: int  # the overlay shows the action 0..max_lag frames late
    crf: tuple[int, int]  # x264 constant-rate-factor range (lower = better quality)
    fps: float = 30.0  # recording frame rate, frames/s
    preset: str = "veryfast"  # x264 speed preset
    workers: int = 2  # processes making videos in parallel
    raw_dir: str = "data/raw"  # what ingest reads
    truth_dir: str = "data/corpus_truth"  # ground truth, kept apart from raw_dir

    def __post_init__(self) -> None:
        if self.videos < 1:
            raise ValueError(f"videos must be >= 1, got {self.videos}")
        check_range("seconds", self.seconds, 0.5, 3600)
        check_range("overlay_width", self.overlay_width, 0.08, 0.30)
        check_range("opacity", self.opacity, 0.4, 1.0)
        check_range("no_overlay_share", (self.no_overlay_share, self.no_overlay_share), 0.0, 1.0)
        check_range("held_out_share", (self.held_out_share, self.held_out_share), 0.0, 1.0)
        if not 0 <= self.max_lag_frames <= 2:
            raise ValueError(f"max_lag_frames must be in 0..2, got {self.max_lag_frames}")
        if not self.resolutions or any(w < 64 or h < 64 for w, h in self.resolutions):
            raise ValueError(f"resolutions must be (width, height) pairs of at least 64 px, got {self.resolutions}")
        if not 0 <= self.crf[0] <= self.crf[1] <= 51:
            raise ValueError(f"crf must be 0 <= lo <= hi <= 51, got {self.crf}")
        unknown = [s for s in self.skills if s not in SKILLS]
        if not self.skills or unknown:
            raise ValueError(f"skills must be a non-empty list of {list(SKILLS)}, got {list(self.skills)}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


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
    from padflow.overlay.render import ANCHORS

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


def record_gameplay(task_id: str, skill: str, seed: int, seconds: float, fps: float) -> tuple[list[np.ndarray], np.ndarray, int, int]:
    """Play episodes back to back until `seconds` of video at `fps` are filled.

    Returns (frames, actions (T, 21), episodes, successes); frame i is what the screen showed
    while action i was held. Engines at another rate are resampled to `fps` by nearest time.
    """
    env = make_env(task_id)
    player = make_player("scripted", env.task, env.fps, skill)
    n_out = int(round(seconds * fps))
    frames: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    episodes = successes = 0
    try:
        while len(frames) < n_out * env.fps / fps:
            episode_seed = seed + episodes
            frame, info = env.reset(seed=episode_seed)
            player.reset(player_seed(episode_seed))
            episodes += 1
            done = False
            while not done and len(frames) < n_out * env.fps / fps:
                action = player.act(frame, info)
                frames.append(frame)
                actions.append(action)
                frame, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            successes += int(info["success"])
    finally:
        env.close()
    # Nearest engine frame for each output frame time (identity when the engine runs at fps).
    pick = np.minimum(np.round(np.arange(n_out) * env.fps / fps).astype(int), len(frames) - 1)
    return [frames[i] for i in pick], np.stack(actions)[pick], episodes, successes


# How wide a game's picture is shown, per engine, when it differs from its pixel grid: the 2600
# draws 160x210 pixels that a TV shows at 4:3.
DISPLAY_ASPECT: dict[str, float] = {"atari": 4 / 3}


def fit_to_upload(
    frame: np.ndarray, width: int, height: int, aspect: float | None = None
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Scale a game frame into a (height, width) upload frame at its display aspect, black bars around.

    The game box is recorded so training can crop the game picture exactly as the simulator shows it.
    """
    h, w = frame.shape[:2]
    aspect = aspect or w / h
    nh = int(round(min(height, width / aspect)))
    nw = int(round(nh * aspect))
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out = np.zeros((height, width, 3), dtype=np.uint8)
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, (x0, y0, x0 + nw, y0 + nh)


def make_video(plan: VideoPlan, cfg: CorpusConfig, root: Path, skin_dirs: tuple[str, ...]) -> VideoTruth:
    """Play, draw the overlay, encode; write the video and its truth sidecar."""
    from padflow.overlay.library import load_library
    from padflow.overlay.render import OverlayLag, Placement, draw_overlay

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


def build_corpus(cfg: CorpusConfig, seed: int, root: Path, skin_dirs: tuple[str, ...]) -> tuple[list[VideoTruth], float]:
    """Make every planned video (in parallel processes); return the truths and wall seconds."""
    from padflow.overlay.library import HELD_OUT_SKINS, load_library

    skins = load_library([root / d for d in skin_dirs]).skins
    plans = plan_videos(cfg, seed, skins, set(HELD_OUT_SKINS))
    for folder in (cfg.raw_dir, cfg.truth_dir):
        _clear_generated(root / folder)
    started = time.perf_counter()
    if cfg.workers == 1:
        truths = [make_video(p, cfg, root, skin_dirs) for p in plans]
    else:
        with ProcessPoolExecutor(max_workers=cfg.workers) as pool:
            truths = list(pool.map(make_video, plans, [cfg] * len(plans), [root] * len(plans), [skin_dirs] * len(plans)))
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
    from padflow.io import atomic_path
    from padflow.video import read_frames

    picked = [t for t in truths if t.plan.skin_id is not None][:tiles]
    cells = []
    for t in picked:
        middle = t.frames // 2
        for i, frame in enumerate(read_frames(root / cfg.raw_dir / f"{t.plan.name}.mp4")):
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
    truths, wall_s = build_corpus(cfg, int(params.get("seed", 0)), root, skin_dirs)
    manifest = root / cfg.truth_dir / "corpus_manifest.json"
    write_json(manifest, {"videos": [asdict(t) for t in truths]})
    write_ingest_manifest(root / cfg.raw_dir / INGEST_MANIFEST, truths)
    sheet = contact_sheet(root, cfg, truths, root / "data" / "reports" / "corpus" / "contact_sheet.png")
    return StageResult(
        params={"corpus": asdict(cfg), "seed": params.get("seed", 0)},
        metrics=corpus_metrics(truths, wall_s),
        artifacts={"corpus": sheet, "corpus/manifest": manifest},
    )


def load_truth(truth_dir: Path, name: str) -> dict[str, Any]:
    """The sidecar record of one corpus video, as written by make_video."""
    return json.loads((truth_dir / f"{name}.json").read_text())
