"""evaluate: roll the trained policy out in every simulator task, next to the baselines.

Each task is played for the same seeded episodes (seed, seed + 1, ...) by the policy and by the
baseline players (random, no-op, scripted expert). The policy sees each frame through the same
preprocessing as training (models/preprocess.py; in the simulator the whole frame is the game
picture and there is no overlay), samples a 16-step action chunk and executes its first
`replan_every` actions before it looks again. Stepping is frame-synchronous: the env only
advances when the player has answered, so a slow policy never loses frames.

The policy is also run at each Euler step count of `euler_steps_compare` on the same seeds, so
the speed/quality trade of fewer denoising steps is measured (rates and ms per chunk).

Outputs (out_dir):
    rates.parquet      long table: level (task/game/category/dim/overall), group, player,
                       successes, episodes, rate, Wilson 95% interval
    rates.md           the same as Markdown tables, with failed tasks and their reasons
    summary.json       one object: per task id, category, dim and each player's rate (the CLI's --json)
    plots/             bar charts: players per category and 2D/3D, and per task
    rollouts/          MP4 + GIF of the first `videos_per_task` policy episodes of each task, the
                       chosen actions drawn as a controller overlay

A task that crashes (an engine error, a player error) is recorded as failed with its reason and
left out of every aggregate for every player, so category and dim rates compare players on the
same tasks; the other tasks finish.
"""

from __future__ import annotations

import functools
import logging
import math
import queue
import shutil
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from padflow.actions import noop
from padflow.config import from_mapping
from padflow.fanout import TaskRunnerConfig, fan_out, runner_config
from padflow.io import atomic_path, save_figure, write_json, write_text
from padflow.overlay.library import BUILTIN_SKIN_DIR
from padflow.players import PLAYER_KINDS, make_player
from padflow.sim.registry import all_tasks, get_task, make_env
from padflow.sim.report import wilson_interval
from padflow.sim.rollout import EpisodeResult, run_episode
from padflow.sim.task import CATEGORIES, DIMS
from padflow.stages import StageResult

log = logging.getLogger(__name__)

POLICY = "policy"  # player name of the policy at the headline Euler step count
LEVELS = ("task", "game", "category", "dim", "overall")
OVERALL = "all"  # the group name of the overall level
TABLE_FILE = "rates.parquet"
MARKDOWN_FILE = "rates.md"
SUMMARY_FILE = "summary.json"
PLOTS_DIR = "plots"
ROLLOUT_DIR = "rollouts"
# The simulator frame is the game picture itself: no game box to crop and no overlay to mask.
SIM_GAME_BOX = None
SIM_OVERLAY_BOX = None
SIM_MASK_POLICY = "none"
VIDEO_QUEUE_FRAMES = 64  # frames buffered between an episode and its MP4 encoder thread
OVERLAY_ANCHOR = "bottom-right"
OVERLAY_OPACITY = 0.9
PLAYER_COLOURS = {"policy": "#2f5597", "scripted": "#70ad47", "random": "#ffc000", "noop": "#a5a5a5"}
COMPARE_COLOUR = "#9dc3e6"  # policy at another Euler step count


@dataclass(frozen=True)
class EvaluateConfig:
    checkpoint: str = "data/train/policy"  # policy folder (models.policy.save_policy); the train stage's export
    tasks: tuple[str, ...] = ()  # task ids; empty = the whole suite
    episodes: int = 10  # seeded episodes per task and player
    seed: int | None = None  # seed of episode 0 (episode i: seed + i); None = params.yaml's top-level seed
    replan_every: int = 16  # actions executed from each sampled chunk before sampling again (<= chunk length)
    euler_steps: int = 16  # denoising steps of the headline policy player
    euler_steps_compare: tuple[int, ...] = (16, 4)  # step counts also run on the same seeds (speed/quality trade)
    baselines: tuple[str, ...] = ("random", "noop", "scripted")
    workers: int = 2  # jobs in parallel: workers of orchestration.task_runner, each loading the policy once (1 = in the stage's process)
    torch_threads: int = 1  # torch CPU threads per process (more contend with the other workers)
    device: str = "cpu"  # torch device of the policy in every worker
    videos_per_task: int = 1  # policy episodes recorded per task (the first seeds)
    video_skin: str = "xbox-01"  # built-in controller skin drawing the chosen actions
    video_min_width: int = 480  # px; game frames are upscaled by a whole factor to at least this width
    overlay_width_frac: float = 0.3  # overlay width as a share of the (upscaled) frame width
    gif_width: int = 160  # px
    gif_fps: float = 8.0
    gif_max_seconds: float = 10.0  # the GIF shows the episode's start, up to this long
    out_dir: str = "data/evaluate"

    def __post_init__(self) -> None:
        for name in ("episodes", "replan_every", "euler_steps", "workers", "video_min_width", "gif_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.videos_per_task < 0 or self.torch_threads < 0:
            raise ValueError(f"videos_per_task and torch_threads must be >= 0, got {self.videos_per_task}, {self.torch_threads}")
        if any(n < 1 for n in self.euler_steps_compare):
            raise ValueError(f"euler_steps_compare must hold step counts >= 1, got {list(self.euler_steps_compare)}")
        unknown = [b for b in self.baselines if b not in PLAYER_KINDS]
        if unknown:
            raise ValueError(f"baselines: {unknown} not among {list(PLAYER_KINDS)}")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"tasks: listed twice: {sorted({t for t in self.tasks if self.tasks.count(t) > 1})}")
        from padflow.overlay.render import Placement

        try:
            Placement(anchor=OVERLAY_ANCHOR, width_frac=self.overlay_width_frac, opacity=OVERLAY_OPACITY)
        except ValueError as exc:
            raise ValueError(f"overlay_width_frac: {exc}") from None
        if not 0 < self.gif_fps <= 50 or self.gif_max_seconds <= 0:
            raise ValueError(f"gif_fps must be in (0, 50] and gif_max_seconds > 0, got {self.gif_fps}, {self.gif_max_seconds}")

    def task_ids(self) -> list[str]:
        """The selected task ids in suite order; an unknown id is a ValueError naming it."""
        for task_id in self.tasks:
            get_task(task_id)
        return [t for t in all_tasks() if not self.tasks or t in self.tasks]

    def policy_players(self) -> dict[str, int]:
        """Policy player name → Euler steps: the headline first, then each other compared count."""
        players = {POLICY: self.euler_steps}
        for steps in self.euler_steps_compare:
            if steps != self.euler_steps:
                players[policy_name(steps)] = steps
        return players

    def players(self) -> list[str]:
        return [*self.policy_players(), *self.baselines]


def policy_name(euler_steps: int) -> str:
    return f"{POLICY}_euler{euler_steps}"


# --- checkpoint ---------------------------------------------------------------------------------


def load_checked_policy(folder: Path, replan_every: int, device: str = "cpu"):
    """The policy in `folder`, or a ValueError naming the folder and what does not fit."""
    from models.policy import load_policy

    if not folder.is_dir():
        raise ValueError(
            f"checkpoint {folder}: folder not found; run the train stage (it exports its EMA policy there) "
            "or point evaluate.checkpoint / --checkpoint at a policy folder"
        )
    try:
        model = load_policy(folder, device=device)
    except ValueError as exc:
        raise ValueError(f"checkpoint {folder}: incompatible policy: {exc}") from None
    horizon = model.cfg.action_horizon
    if replan_every > horizon:
        raise ValueError(f"checkpoint {folder}: predicts {horizon}-step chunks, but replan_every is {replan_every}")
    return model


class PolicyPlayer:
    """The policy at the gamepad: samples a chunk from the current frame, plays its first `replan_every` actions."""

    def __init__(self, model: Any, euler_steps: int, replan_every: int, name: str = POLICY):
        import torch

        self.name = name
        self.model = model
        self.euler_steps = euler_steps
        self.replan_every = replan_every
        self.device = next(model.parameters()).device
        self.generator = torch.Generator(self.device)
        self.chunk: np.ndarray | None = None
        self.position = 0
        self.calls = 0  # chunks sampled, over every episode
        self.seconds = 0.0  # wall time spent sampling them

    def reset(self, seed: int) -> None:
        self.generator.manual_seed(seed)
        self.chunk, self.position = None, 0

    def act(self, frame: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        from models.preprocess import prepare_frames

        if self.chunk is None or self.position >= self.replan_every:
            started = time.perf_counter()
            inputs = prepare_frames(frame, SIM_GAME_BOX, SIM_OVERLAY_BOX, SIM_MASK_POLICY, self.model.cfg.image_size)
            chunk = self.model.sample(inputs.to(self.device), steps=self.euler_steps, generator=self.generator)
            self.chunk, self.position = chunk[0].float().cpu().numpy(), 0
            self.seconds += time.perf_counter() - started
            self.calls += 1
        action = self.chunk[self.position]
        self.position += 1
        return action


# --- rollout videos -----------------------------------------------------------------------------


class RolloutRecorder:
    """Streams one episode to an MP4 (encoder thread, bounded buffer) and keeps a short GIF of its start."""

    def __init__(self, mp4: Path, gif: Path, fps: float, cfg: EvaluateConfig):
        from padflow.overlay.render import Placement
        from padflow.overlay.skin import load_skin

        layout = BUILTIN_SKIN_DIR / f"{cfg.video_skin}.json"
        if not layout.is_file():
            raise ValueError(f"video_skin: no built-in skin {cfg.video_skin!r} ({layout} is missing)")
        self.skin = load_skin(layout)
        self.placement = Placement(anchor=OVERLAY_ANCHOR, width_frac=cfg.overlay_width_frac, opacity=OVERLAY_OPACITY)
        self.mp4, self.gif, self.fps, self.cfg = mp4, gif, fps, cfg
        self.gif_every = max(1, round(fps / cfg.gif_fps))
        self.gif_max_frames = max(1, int(cfg.gif_max_seconds * cfg.gif_fps))
        self.gif_frames: list[np.ndarray] = []
        self.shown = 0
        self.last_action = noop()
        self.frames: queue.Queue = queue.Queue(maxsize=VIDEO_QUEUE_FRAMES)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._encode, daemon=True)
        self.thread.start()

    def _encode(self) -> None:
        from padflow.video import write_mp4

        try:
            write_mp4(self.mp4, self._queued(), self.fps)
        except BaseException as exc:  # handed to the episode's thread in close()
            self.error = exc
            while self.frames.get() is not None:  # drain, so the producer never blocks
                pass

    def _queued(self) -> Iterable[np.ndarray]:
        while (frame := self.frames.get()) is not None:
            yield frame

    def __call__(self, frame: np.ndarray, action: np.ndarray) -> None:
        import cv2

        from padflow.overlay.render import draw_overlay

        scale = math.ceil(self.cfg.video_min_width / frame.shape[1])
        big = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1) if scale > 1 else frame.copy()
        shown, _ = draw_overlay(big, self.skin, action, self.placement, inplace=True)
        self.frames.put(shown)
        if self.shown % self.gif_every == 0 and len(self.gif_frames) < self.gif_max_frames:
            height = round(shown.shape[0] * self.cfg.gif_width / shown.shape[1])
            self.gif_frames.append(cv2.resize(shown, (self.cfg.gif_width, height), interpolation=cv2.INTER_AREA))
        self.shown += 1
        self.last_action = action

    def close(self) -> list[Path]:
        """Finish both files; returns their paths."""
        from PIL import Image

        self.frames.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        images = [Image.fromarray(f) for f in self.gif_frames]
        with atomic_path(self.gif) as tmp:
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                           duration=round(1000 / self.cfg.gif_fps), optimize=True)
        return [self.mp4, self.gif]

    def abort(self) -> None:
        """Stop the encoder and drop the episode's video (the episode did not finish)."""
        self.frames.put(None)
        self.thread.join()
        self.mp4.unlink(missing_ok=True)


def recorded_episode(env: Any, player: Any, seed: int, stem: Path, cfg: EvaluateConfig) -> tuple[EpisodeResult, list[Path]]:
    """One episode with its MP4 + GIF written to `stem`.mp4 / .gif."""
    recorder = RolloutRecorder(stem.with_suffix(".mp4"), stem.with_suffix(".gif"), env.fps, cfg)
    try:
        result = run_episode(env, player, seed, on_frame=recorder)
        recorder(env.render(), recorder.last_action)  # the frame the episode ended on
    except BaseException:
        recorder.abort()
        raise
    return result, recorder.close()


# --- jobs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One player on one task over some seeds; the unit a worker process runs."""

    task_id: str
    player: str  # a policy player name (POLICY, policy_euler4, ...) or a baseline kind
    seeds: tuple[int, ...]
    euler_steps: int | None = None  # policy players only
    record: int = 0  # how many of the first seeds to record as rollout videos


@dataclass
class JobOutcome:
    job: Job
    results: list[EpisodeResult] = field(default_factory=list)
    error: str | None = None  # "ExceptionType: message" when the job crashed
    policy_calls: int = 0  # chunks the policy sampled
    policy_seconds: float = 0.0  # wall time spent sampling them
    videos: list[str] = field(default_factory=list)


_WORKER: dict[str, Any] = {}  # per process: the evaluate config and the policy, loaded once


def init_worker(cfg: EvaluateConfig, checkpoint: Path | None) -> None:
    """Set up a worker process: torch threads, and the policy (None when only baselines run)."""
    import torch

    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    _WORKER["cfg"] = cfg
    _WORKER["model"] = None if checkpoint is None else load_checked_policy(checkpoint, cfg.replan_every, cfg.device)


def run_job(job: Job, rollout_dir: Path) -> JobOutcome:
    """Play a job's episodes in this process; an exception ends the job and becomes its error."""
    cfg: EvaluateConfig = _WORKER["cfg"]
    outcome = JobOutcome(job)
    env = player = None
    try:
        env = make_env(job.task_id)
        if job.euler_steps is None:
            player = make_player(job.player, env.task, env.fps)
        else:
            player = PolicyPlayer(_WORKER["model"], job.euler_steps, cfg.replan_every, job.player)
        for i, seed in enumerate(job.seeds):
            if i < job.record:
                result, videos = recorded_episode(env, player, seed, rollout_dir / f"{job.task_id}_seed{seed}", cfg)
                outcome.videos += [str(v) for v in videos]
            else:
                result = run_episode(env, player, seed)
            outcome.results.append(result)
    except Exception as exc:  # a crashing task is recorded; the other tasks go on
        outcome.error = f"{type(exc).__name__}: {exc}"
        log.warning("evaluate: %s / %s crashed\n%s", job.task_id, job.player, traceback.format_exc())
    finally:
        if env is not None:
            try:
                env.close()
            except Exception as exc:  # the episodes are done; a failing close is only worth a line
                log.warning("evaluate: closing %s failed: %s", job.task_id, exc)
    if isinstance(player, PolicyPlayer):
        outcome.policy_calls, outcome.policy_seconds = player.calls, player.seconds
    return outcome


def play_jobs(
    jobs: Sequence[Job],
    cfg: EvaluateConfig,
    checkpoint: Path | None,
    rollout_dir: Path,
    progress: Callable[[int, int, JobOutcome], None] | None = None,
    runner: TaskRunnerConfig = TaskRunnerConfig(),
) -> list[JobOutcome]:
    """Run jobs as mapped Prefect tasks on `runner`, `cfg.workers` at a time; outcomes in job order."""

    def died(job: Job, exc: BaseException) -> JobOutcome:  # run_job records its own errors: only a dead worker gets here
        return JobOutcome(job, error=f"worker process died: {exc}")

    return fan_out(functools.partial(run_job, rollout_dir=rollout_dir), list(jobs), name="evaluate", runner=runner,
                   workers=cfg.workers, labels=[f"{job.task_id}/{job.player}" for job in jobs],
                   setup=functools.partial(init_worker, cfg, checkpoint), on_error=died, progress=progress)


# --- rates --------------------------------------------------------------------------------------


def failed_tasks(outcomes: Iterable[JobOutcome]) -> dict[str, str]:
    """task id → reason, for every task on which some player's job crashed."""
    failed: dict[str, str] = {}
    for o in outcomes:
        if o.error is not None:
            reason = f"{o.job.player}: {o.error}"
            failed[o.job.task_id] = f"{failed[o.job.task_id]}; {reason}" if o.job.task_id in failed else reason
    return failed


def rate_rows(outcomes: Sequence[JobOutcome], players: Sequence[str], task_ids: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (level, group, player): successes, episodes, rate and Wilson 95% interval.

    Task rows hold whatever episodes finished; the other levels leave failed tasks out entirely.
    """
    failed = failed_tasks(outcomes)
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    tasks = {t: get_task(t) for t in task_ids}
    for o in outcomes:
        task = tasks[o.job.task_id]
        groups = [("task", task.id)]
        if task.id not in failed:
            groups += [("game", task.game), ("category", task.category), ("dim", task.dim), ("overall", OVERALL)]
        for r in o.results:
            for level, group in groups:
                c = counts[(level, group, o.job.player)]
                c[0] += int(r.success)
                c[1] += 1
    order = {
        "task": list(task_ids),
        "game": list(dict.fromkeys(t.game for t in tasks.values())),
        "category": [c for c in CATEGORIES if any(t.category == c for t in tasks.values())],
        "dim": [d for d in DIMS if any(t.dim == d for t in tasks.values())],
        "overall": [OVERALL],
    }
    rows = []
    for level in LEVELS:
        for group in order[level]:
            for player in players:
                s, n = counts.get((level, group, player), (0, 0))
                lo, hi = wilson_interval(s, n)
                rows.append({
                    "level": level, "group": group, "player": player, "successes": s, "episodes": n,
                    "rate": s / n if n else None, "ci_low": round(lo, 4) if n else None, "ci_high": round(hi, 4) if n else None,
                    "failed": level == "task" and group in failed,
                })
    return rows


def rate_metrics(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """`<player>.<level>.<group>` (and `<player>.overall`) → rate, for MLflow's run comparison."""
    metrics = {}
    for r in rows:
        if r["rate"] is None:
            continue
        name = f"{r['player']}.overall" if r["level"] == "overall" else f"{r['player']}.{r['level']}.{r['group']}"
        metrics[name] = round(float(r["rate"]), 4)
    return metrics


def _cell(row: Mapping[str, Any] | None) -> str:
    if row is None or row["rate"] is None:
        return "—"
    return f"{row['rate']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def markdown_report(rows: Sequence[Mapping[str, Any]], players: Sequence[str], failed: Mapping[str, str],
                    euler: Sequence[Mapping[str, Any]], header: str) -> str:
    """Per-category, per-dim, per-game, overall and per-task tables (rate [Wilson 95%]), then the Euler comparison."""
    index = {(r["level"], r["group"], r["player"]): r for r in rows}
    out = [header, ""]
    titles = {"category": "Per category", "dim": "Per 2D/3D", "game": "Per game", "overall": "Overall", "task": "Per task"}
    for level in ("category", "dim", "game", "overall", "task"):
        groups = list(dict.fromkeys(r["group"] for r in rows if r["level"] == level))
        out += [f"## {titles[level]}", "", f"| {level} | n | " + " | ".join(players) + " |", "|" + "---|" * (len(players) + 2)]
        for g in groups:
            n = max(index[(level, g, p)]["episodes"] for p in players)
            name = f"{g} (failed)" if level == "task" and g in failed else g
            out.append(f"| {name} | {n} | " + " | ".join(_cell(index.get((level, g, p))) for p in players) + " |")
        out.append("")
    out += ["## Euler steps (same seeds)", "", "| player | Euler steps | overall | ms per chunk |", "|---|---|---|---|"]
    for e in euler:
        out.append(f"| {e['player']} | {e['euler_steps']} | {_cell(index.get(('overall', OVERALL, e['player'])))} | "
                   f"{e['ms_per_chunk']:.1f} |")
    out.append("")
    if failed:
        out += ["## Failed tasks (left out of every aggregate)", ""] + [f"- `{t}`: {why}" for t, why in failed.items()] + [""]
    return "\n".join(out)


def task_summaries(rows: Sequence[Mapping[str, Any]], players: Sequence[str], failed: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per task: id, game, category, dim, each player's rate and interval, and why it failed (if it did)."""
    index = {(r["group"], r["player"]): r for r in rows if r["level"] == "task"}
    out = []
    for task_id in dict.fromkeys(r["group"] for r in rows if r["level"] == "task"):
        task = get_task(task_id)
        item: dict[str, Any] = {"id": task.id, "game": task.game, "category": task.category, "dim": task.dim,
                                "status": "failed" if task_id in failed else "ok", "error": failed.get(task_id)}
        for p in players:
            r = index[(task_id, p)]
            item[p] = r["rate"]
            item[f"{p}_ci"] = None if r["rate"] is None else [r["ci_low"], r["ci_high"]]
            item[f"{p}_episodes"] = r["episodes"]
        out.append(item)
    return out


def group_summaries(rows: Sequence[Mapping[str, Any]], level: str) -> dict[str, dict[str, Any]]:
    """group → player → {rate, ci, successes, episodes} for one level."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["level"] == level:
            ci = None if r["rate"] is None else [r["ci_low"], r["ci_high"]]
            out.setdefault(r["group"], {})[r["player"]] = {"rate": r["rate"], "ci": ci, "successes": r["successes"],
                                                          "episodes": r["episodes"]}
    return out


# --- plots --------------------------------------------------------------------------------------


def _colour(player: str) -> str:
    return PLAYER_COLOURS.get(player, COMPARE_COLOUR)


def _bars(ax: Any, rows: Sequence[Mapping[str, Any]], level: str, players: Sequence[str]) -> None:
    groups = list(dict.fromkeys(r["group"] for r in rows if r["level"] == level))
    index = {(r["group"], r["player"]): r for r in rows if r["level"] == level}
    width = 0.8 / len(players)
    for k, p in enumerate(players):
        xs = np.arange(len(groups)) + (k - (len(players) - 1) / 2) * width
        rates = [index[(g, p)]["rate"] or 0.0 for g in groups]
        lows = [max(0.0, rate - (index[(g, p)]["ci_low"] or 0.0)) for g, rate in zip(groups, rates)]
        highs = [max(0.0, (index[(g, p)]["ci_high"] or 0.0) - rate) for g, rate in zip(groups, rates)]
        ax.bar(xs, rates, width, yerr=[lows, highs], capsize=2, color=_colour(p), label=p,
               error_kw={"elinewidth": 0.7, "ecolor": "#404040"})
    ax.set_xticks(np.arange(len(groups)), groups, rotation=60 if level == "task" else 0,
                  ha="right" if level == "task" else "center", fontsize=7 if level == "task" else 9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("completion rate")
    ax.grid(axis="y", alpha=0.3)


def plot_rates(rows: Sequence[Mapping[str, Any]], players: Sequence[str], out_dir: Path) -> list[Path]:
    """Bar charts with Wilson 95% error bars: players per category and per dim; players per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    for ax, level, title in ((axes[0], "category", "per category"), (axes[1], "dim", "per 2D/3D")):
        _bars(ax, rows, level, players)
        ax.set_title(title)
    axes[0].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    paths.append(save_figure(fig, out_dir / "rates_by_category.png"))
    n_tasks = len({r["group"] for r in rows if r["level"] == "task"})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * n_tasks * len(players) / 2), 4.5), dpi=100)
    _bars(ax, rows, "task", players)
    ax.set_title("per task")
    ax.legend(fontsize=8, ncol=len(players))
    fig.tight_layout()
    paths.append(save_figure(fig, out_dir / "rates_by_task.png"))
    return paths


# --- the stage ----------------------------------------------------------------------------------


def build_jobs(cfg: EvaluateConfig, task_ids: Sequence[str], seeds: tuple[int, ...]) -> list[Job]:
    """Policy jobs first (they take longest), each task's headline policy job recording its videos."""
    jobs = [
        Job(t, name, seeds, euler_steps=steps, record=min(cfg.videos_per_task, len(seeds)) if name == POLICY else 0)
        for name, steps in cfg.policy_players().items()
        for t in task_ids
    ]
    return jobs + [Job(t, kind, seeds) for kind in cfg.baselines for t in task_ids]


def evaluate(
    cfg: EvaluateConfig,
    root: Path,
    seed: int,
    progress: Callable[[int, int, JobOutcome], None] | None = None,
    runner: TaskRunnerConfig = TaskRunnerConfig(),
) -> dict[str, Any]:
    """Play every selected task with the policy and the baselines; write the tables, plots and rollouts."""
    import pandas as pd

    task_ids = cfg.task_ids()
    checkpoint = (root / cfg.checkpoint).resolve()
    load_checked_policy(checkpoint, cfg.replan_every)  # a bad checkpoint fails here, before any episode
    if cfg.videos_per_task and not (BUILTIN_SKIN_DIR / f"{cfg.video_skin}.json").is_file():
        raise ValueError(f"video_skin: no built-in skin {cfg.video_skin!r} in {BUILTIN_SKIN_DIR}")
    first = cfg.seed if cfg.seed is not None else seed
    seeds = tuple(range(first, first + cfg.episodes))
    out_dir = root / cfg.out_dir
    rollout_dir = out_dir / ROLLOUT_DIR
    shutil.rmtree(rollout_dir, ignore_errors=True)  # videos of an earlier run would mix with these
    rollout_dir.mkdir(parents=True)

    started = time.perf_counter()
    outcomes = play_jobs(build_jobs(cfg, task_ids, seeds), cfg, checkpoint, rollout_dir, progress, runner)
    wall = time.perf_counter() - started
    players = cfg.players()
    rows = rate_rows(outcomes, players, task_ids)
    failed = failed_tasks(outcomes)
    euler = []
    for name, steps in cfg.policy_players().items():
        calls = sum(o.policy_calls for o in outcomes if o.job.player == name)
        seconds = sum(o.policy_seconds for o in outcomes if o.job.player == name)
        euler.append({"player": name, "euler_steps": steps, "chunks": calls,
                      "ms_per_chunk": round(1000 * seconds / calls, 2) if calls else math.nan})
    overall = group_summaries(rows, "overall").get(OVERALL, {})
    for e in euler:
        e["overall"] = overall.get(e["player"], {}).get("rate")

    table = pd.DataFrame(rows)
    with atomic_path(out_dir / TABLE_FILE) as tmp:
        table.to_parquet(tmp, index=False)
    header = (f"# Simulator evaluation\n\ncheckpoint `{cfg.checkpoint}`, {cfg.episodes} seeded episodes per task and player "
              f"(seeds {seeds[0]}..{seeds[-1]}), replanning every {cfg.replan_every} steps; `{POLICY}` samples with "
              f"{cfg.euler_steps} Euler steps. Cells: completion rate [Wilson 95% interval].")
    write_text(out_dir / MARKDOWN_FILE, markdown_report(rows, players, failed, euler, header))
    plots = plot_rates(rows, players, out_dir / PLOTS_DIR)
    summary = {
        "checkpoint": str(cfg.checkpoint),
        "episodes_per_task": cfg.episodes,
        "seeds": list(seeds),
        "replan_every": cfg.replan_every,
        "players": players,
        "tasks": task_summaries(rows, players, failed),
        "categories": group_summaries(rows, "category"),
        "dims": group_summaries(rows, "dim"),
        "games": group_summaries(rows, "game"),
        "overall": overall,
        "euler": euler,
        "failed": [{"id": t, "reason": why} for t, why in failed.items()],
        "videos": sorted(v for o in outcomes for v in o.videos),
        "wall_s": round(wall, 2),
    }
    write_json(out_dir / SUMMARY_FILE, summary)
    metrics = rate_metrics(rows)
    metrics.update({f"{e['player']}.ms_per_chunk": e["ms_per_chunk"] for e in euler if e["chunks"]})
    episodes = sum(len(o.results) for o in outcomes)
    metrics.update({"tasks": len(task_ids), "failed_tasks": len(failed), "episodes": episodes,
                    "episodes_per_s": round(episodes / wall, 3) if wall > 0 else math.nan})
    return {"metrics": metrics, "summary": summary, "out_dir": out_dir, "plots": plots, "rollouts": rollout_dir}


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: evaluate the train stage's policy on the task suite, next to the baselines."""
    cfg = from_mapping(EvaluateConfig, params.get("evaluate"), "evaluate")
    seed = int(params.get("seed", 0))
    result = evaluate(cfg, root, seed, progress=log_progress, runner=runner_config(params, "evaluate"))
    out_dir = result["out_dir"]
    return StageResult(
        params={"evaluate": asdict(cfg), "seed": seed},
        metrics=result["metrics"],
        artifacts={
            "rollouts": result["rollouts"],
            "evaluate/plots": out_dir / PLOTS_DIR,
            "evaluate": out_dir / MARKDOWN_FILE,
            "evaluate/tables": out_dir / TABLE_FILE,
            "evaluate/summary": out_dir / SUMMARY_FILE,
        },
    )


def log_progress(done: int, total: int, outcome: JobOutcome) -> None:
    job = outcome.job
    if outcome.error:
        status = f"FAILED ({outcome.error})"
    else:
        status = f"{sum(r.success for r in outcome.results)}/{len(outcome.results)} completed"
    print(f"[evaluate {done}/{total}] {job.task_id} / {job.player}: {status}", flush=True)
