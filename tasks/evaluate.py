"""evaluate: roll the trained policy out in every simulator task, next to the baselines.

Each task is played for the same seeded episodes (seed, seed + 1, ...) by the policy and by the
baseline players: random, no-op, scripted expert; `prior`, chunks of the game's training actions
replayed whatever the frame shows (padflow/players/prior.py, read from the gate's chunk index
`index` and its action tables); and `blind`, the train stage's blind arm (the same network and
training with every frame replaced by a constant, `blind_checkpoint`), played exactly as the policy.

Training blacks out the overlay box of every frame; a simulator frame has neither an overlay nor a
black box. `sim_mask: training_boxes` closes that gap at evaluation: each episode blacks out one
box drawn from the training chunks' overlay boxes (as a share of their game picture), in every
frame the policy sees (`padflow evaluate --sim-mask training_boxes`; docs/results-evaluation.md
compares the two on the same seeds).

Tasks come in two splits reported apart: `tasks`, the ones the corpus played (the policy saw their
videos), and `held_out_tasks`, other tasks of the same games that no training video shows. The policy sees each frame through the same
preprocessing as training (models/policy/processor.py; in the simulator the whole frame is the game
picture and there is no overlay), samples a 16-step action chunk and executes its first
`replan_every` actions before it looks again (padflow/players/policy.py). Stepping is
frame-synchronous: the env only advances when the player has answered, so a slow policy never
loses frames.

The policy is also run at each Euler step count of `euler_steps_compare` on the same seeds, so
the speed/quality trade of fewer denoising steps is measured (rates and ms per chunk).

Outputs (out_dir):
    rates.parquet      long table: split (trained/held_out), level (task/game/category/dim/overall), group,
                       player, successes, episodes, rate, Wilson 95% interval
    rates.md           the same as Markdown tables, with failed tasks and their reasons
    summary.json       one object: per task id, split, category, dim and each player's rate (the CLI's --json);
                       the trained split's aggregates at the top, the held-out split's under `held_out`
    plots/             bar charts: players per category and 2D/3D, and per task
    rollouts/          MP4 + GIF of the first `videos_per_task` policy episodes of each task, the
                       chosen actions drawn as a controller overlay

A task that crashes (an engine error, a player error) is recorded as failed with its reason and
left out of every aggregate for every player, so category and dim rates compare players on the
same tasks; the other tasks finish. The tables, Markdown and plots are padflow/players/report.py's.

The stage shell then records the policy's `policy.overall` rate on its `padflow-policy` model version
(registered by train; registered here if it is not) and moves the `champion` alias to it when it beats
the champion's (padflow/registry.py); the per-task rates are the run's MLflow table `evaluate/rates.json`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from models.policy import CONFIG_FILE, load_policy, prepare_frames, training_mask_boxes
from padflow import progress as progress_display
from padflow.config import config, from_mapping
from padflow.fanout import TaskRunnerConfig, fan_out, runner_config
from padflow.io import atomic_path, replaced_dir, write_json, write_text
from padflow.overlay.library import BUILTIN_SKIN_DIR
from padflow.overlay.render import MAX_WIDTH_FRAC, MIN_WIDTH_FRAC, Placement, draw_overlay
from padflow.overlay.skin import Skin, load_skin
from padflow.players import PLAYER_KINDS, make_player
from padflow.players.policy import POLICY, PolicyPlayer
from padflow.players.prior import PRIOR, game_chunks, prior_player
from padflow.players.recording import RolloutRecorder, record_episode
from padflow.players.report import (
    HELD_OUT, OVERALL, TRAINED, difference_metrics, differences, differences_markdown, failed_tasks, group_summaries,
    markdown_report, plot_rates, rate_metrics, rate_rows, task_summaries)
from padflow.players.rollout import EpisodeResult, run_episode
from padflow.sim.registry import all_tasks, get_task, make_env
from padflow.stages import ModelExport, StageResult
from padflow.tables import read_chunk_index

log = logging.getLogger(__name__)

TABLE_FILE = "rates.parquet"
MARKDOWN_FILE = "rates.md"
SUMMARY_FILE = "summary.json"
PLOTS_DIR = "plots"
ROLLOUT_DIR = "rollouts"
POLICY_MODEL = "padflow-policy"  # registered model name (models/pyfunc.py wraps it)
# The simulator frame is the game picture itself: no game box to crop and no overlay to mask.
SIM_GAME_BOX = None
SIM_OVERLAY_BOX = None
SIM_MASK_POLICY = "none"
SimMask = Literal["none", "training_boxes"]
OVERLAY_ANCHOR = "bottom-right"
OVERLAY_OPACITY = 0.9
# The default profile's tasks: one short task per game (params.yaml's corpus.tasks, the same list).
EVALUATE_TASKS = ("boxing_score_10", "seaquest_sink_5", "freeway_cross_once", "road_runner_eat_4_seeds",
                  "ms_pacman_eat_30_dots", "pong_hold_15s", "breakout_break_5_bricks", "doom_basic_first_shot",
                  "freedoom_map01_first_kill", "crafter_collect_wood")
# Held out by default: short tasks of three trained games (one per engine) that the corpus never plays.
HELD_OUT_TASKS = ("freeway_cross_three", "doom_predict_position_hit", "crafter_place_table")
BLIND = "blind"  # the blind arm of the train stage, played like the policy
BASELINES = (BLIND, PRIOR, *PLAYER_KINDS)  # blind needs its checkpoint, the prior the chunk index; the others only the task


@config
class EvaluateConfig:
    checkpoint: Annotated[str, Field(
        description="policy folder (models.policy.save_policy): the train stage's EMA export")] = "data/train/policy"
    tasks: Annotated[tuple[str, ...], Field(
        description="trained task ids to evaluate (the corpus's tasks: the policy saw videos of them), in suite order; "
                    "empty = every suite task not in held_out_tasks. By default one short task per game")] = EVALUATE_TASKS
    held_out_tasks: Annotated[tuple[str, ...], Field(
        description="task ids of trained games that the corpus does not play, reported apart from `tasks` (does the "
                    "policy generalize to a new goal in a game it knows?); empty = none. Each costs an episode per "
                    "player and seed like a trained task")] = HELD_OUT_TASKS
    episodes: Annotated[int, Field(
        ge=1, description="seeded episodes per task and player (the same seeds for the policy and every baseline)")] = 3
    seed: Annotated[int | None, Field(
        description="seed of episode 0 (episode i: seed + i); null = the top-level seed")] = None
    replan_every: Annotated[int, Field(
        ge=1, description="actions played from each sampled chunk before sampling again (<= the chunk length; "
                          "16 = the whole chunk)")] = 16
    euler_steps: Annotated[int, Field(ge=1, description="denoising steps of the headline `policy` player")] = 16
    euler_steps_compare: Annotated[tuple[Annotated[int, Field(ge=1)], ...], Field(
        description="also run the policy at these Euler step counts on the same seeds (speed/quality trade); "
                    "each count costs as many episodes as the policy")] = ()
    baselines: Annotated[tuple[Literal[BASELINES], ...], Field(
        description="baseline players run on the same seeds; `blind` is the train stage's blind arm (from "
                    "`blind_checkpoint`); `prior` replays chunks of the game's training actions (from `index`) whatever "
                    "the frame shows")] = BASELINES
    blind_checkpoint: Annotated[str, Field(
        description="the blind arm's policy folder (train.blind_arm exports it); read only when `blind` is a baseline")] = "data/train/blind"
    index: Annotated[str, Field(
        description="chunk index (the gate's accepted chunks and their action tables) the prior baseline replays and "
                    "`sim_mask: training_boxes` draws its boxes from; read only when one of them needs it")] = "data/gate/chunks.parquet"
    sim_mask: Annotated[SimMask, Field(description=(
        "what the policy sees of a simulator frame: none = the whole picture | training_boxes = with one black box per "
        "episode, drawn from the overlay boxes training blacked out (where, and how big, within the game picture)"))] = "none"
    workers: Annotated[int, Field(
        ge=1, description="jobs in parallel (fan_out on orchestration.task_runner), each worker loading the "
                          "policy once; 1 = in the stage's process")] = 2
    torch_threads: Annotated[int, Field(
        ge=0, description="torch CPU threads per worker process (more contend with the other workers); 0 = torch's default")] = 1
    device: Annotated[str, Field(description="torch device of the policy in every worker")] = "cpu"
    videos_per_task: Annotated[int, Field(
        ge=0, description="rollout MP4 + GIF of the policy's first episodes (the first seeds) per task")] = 1
    video_skin: Annotated[str, Field(description="built-in controller skin drawing the policy's chosen actions")] = "xbox-01"
    video_min_width: Annotated[int, Field(
        ge=1, description="px; game frames are upscaled by a whole factor to at least this width")] = 480
    overlay_width_frac: Annotated[float, Field(
        ge=MIN_WIDTH_FRAC, le=MAX_WIDTH_FRAC,
        description="overlay width in rollout videos, as a share of the (upscaled) frame width")] = 0.3
    gif_width: Annotated[int, Field(ge=1, description=(
        "px, width of the rollout GIF; 320 keeps the drawn controller and the caption legible"))] = 320
    gif_fps: Annotated[float, Field(gt=0, le=50, description="frames/s of the rollout GIF")] = 8.0
    gif_max_seconds: Annotated[float, Field(
        gt=0, description="seconds; the GIF shows the episode's start, up to this long")] = 10.0
    out_dir: Annotated[str, Field(description="where the tables, plots and rollouts go")] = "data/evaluate"

    def __post_init__(self) -> None:
        for name in ("tasks", "held_out_tasks"):
            ids = getattr(self, name)
            if len(set(ids)) != len(ids):
                raise ValueError(f"{name}: listed twice: {sorted({t for t in ids if ids.count(t) > 1})}")
        both = sorted(set(self.tasks) & set(self.held_out_tasks))
        if both:
            raise ValueError(f"held_out_tasks: {both} also in tasks; a task is either trained on or held out")

    def splits(self) -> dict[str, str]:
        """Selected task id → TRAINED or HELD_OUT, in suite order; an unknown id is a ValueError naming it."""
        for task_id in (*self.tasks, *self.held_out_tasks):
            get_task(task_id)
        held_out = set(self.held_out_tasks)
        return {t: HELD_OUT if t in held_out else TRAINED for t in all_tasks()
                if t in held_out or (t in self.tasks if self.tasks else True)}

    def task_ids(self) -> list[str]:
        """The selected task ids (both splits) in suite order; an unknown id is a ValueError naming it."""
        return list(self.splits())

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


def load_checked_policy(folder: Path, replan_every: int, device: str = "cpu"):
    """The policy in `folder`, or a ValueError naming the folder and what does not fit."""
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


class PolicySampler:
    """The policy and its frame processor as the players' ChunkSampler: a frame in, an action chunk out.

    mask_boxes: (N, 4) boxes as shares of the picture (x0, y0, x1, y1), NaN rows for "nothing masked"; each episode
    draws one (seeded by the episode) and blacks it out in every frame, as training did with the overlay."""

    def __init__(self, model: Any, euler_steps: int, mask_boxes: np.ndarray | None = None):
        self.model = model
        self.euler_steps = euler_steps
        self.device = next(model.parameters()).device
        self.generator = torch.Generator(self.device)
        self.mask_boxes = mask_boxes
        self.mask: np.ndarray | None = None  # this episode's box, shares of the picture

    def reset(self, seed: int) -> None:
        self.generator.manual_seed(seed)
        if self.mask_boxes is not None:
            box = self.mask_boxes[np.random.default_rng(seed).integers(len(self.mask_boxes))]
            self.mask = None if np.isnan(box).any() else box

    def sample_chunk(self, frame: np.ndarray) -> np.ndarray:
        overlay_box, mask_policy = SIM_OVERLAY_BOX, SIM_MASK_POLICY
        if self.mask is not None:
            h, w = frame.shape[:2]
            overlay_box = tuple(int(round(v)) for v in self.mask * (w, h, w, h))
            mask_policy = "black"
        inputs = prepare_frames(frame, SIM_GAME_BOX, overlay_box, mask_policy, self.model.cfg.image_size)
        chunk = self.model.sample(inputs.to(self.device), steps=self.euler_steps, generator=self.generator)
        return chunk[0].float().cpu().numpy()


def policy_player(model: Any, euler_steps: int, replan_every: int, name: str = POLICY,
                  mask_boxes: np.ndarray | None = None) -> PolicyPlayer:
    return PolicyPlayer(PolicySampler(model, euler_steps, mask_boxes), replan_every, name)


def _draw_action(frame: np.ndarray, action: np.ndarray, skin: Skin, placement: Placement) -> np.ndarray:
    return draw_overlay(frame, skin, action, placement, inplace=True)[0]


def rollout_recorder(stem: Path, fps: float, cfg: EvaluateConfig, caption: str = "") -> RolloutRecorder:
    """A recorder to `stem`.mp4 / .gif drawing the chosen actions with the config's built-in skin."""
    layout = BUILTIN_SKIN_DIR / f"{cfg.video_skin}.json"
    if not layout.is_file():
        raise ValueError(f"video_skin: no built-in skin {cfg.video_skin!r} ({layout} is missing)")
    placement = Placement(anchor=OVERLAY_ANCHOR, width_frac=cfg.overlay_width_frac, opacity=OVERLAY_OPACITY)
    draw = functools.partial(_draw_action, skin=load_skin(layout), placement=placement)
    return RolloutRecorder(stem.with_suffix(".mp4"), stem.with_suffix(".gif"), fps, draw, min_width=cfg.video_min_width,
                           gif_width=cfg.gif_width, gif_fps=cfg.gif_fps, gif_max_seconds=cfg.gif_max_seconds,
                           caption=caption)


def recorded_episode(env: Any, player: Any, seed: int, stem: Path, cfg: EvaluateConfig) -> tuple[EpisodeResult, list[Path]]:
    """One episode with its MP4 + GIF written to `stem`.mp4 / .gif."""
    return record_episode(env, player, seed, rollout_recorder(stem, env.fps, cfg, caption=f"{env.task.id}   seed {seed}"))


@dataclass(frozen=True)
class Job:
    """One player on one task over some seeds; the unit a worker runs."""

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


_WORKER: dict[str, Any] = {}  # per worker: the evaluate config, the policy (loaded once) and the prior's chunks


def init_worker(cfg: EvaluateConfig, checkpoint: Path | None, priors: Mapping[str, np.ndarray] | None = None,
                blind: Path | None = None, mask_boxes: np.ndarray | None = None) -> None:
    """Set up a worker: torch threads, the policy (None when only baselines run), game → the prior's chunks, the blind
    arm, the policy's evaluation mask boxes (sim_mask)."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    _WORKER["cfg"] = cfg
    _WORKER["model"] = None if checkpoint is None else load_checked_policy(checkpoint, cfg.replan_every, cfg.device)
    _WORKER["blind"] = None if blind is None else load_checked_policy(blind, cfg.replan_every, cfg.device)
    _WORKER["priors"] = dict(priors or {})
    _WORKER["mask_boxes"] = mask_boxes


def run_job(job: Job, rollout_dir: Path) -> JobOutcome:
    """Play a job's episodes in this process; an exception ends the job and becomes its error."""
    cfg: EvaluateConfig = _WORKER["cfg"]
    outcome = JobOutcome(job)
    env = player = None
    try:
        env = make_env(job.task_id)
        if job.player == PRIOR:
            player = prior_player(_WORKER["priors"][env.task.game], cfg.replan_every)
        elif job.player == BLIND:
            player = policy_player(_WORKER["blind"], cfg.euler_steps, cfg.replan_every, BLIND)
        elif job.euler_steps is None:
            player = make_player(job.player, env.task, env.fps)
        else:
            player = policy_player(_WORKER["model"], job.euler_steps, cfg.replan_every, job.player, _WORKER.get("mask_boxes"))
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
    if isinstance(player, PolicyPlayer) and job.euler_steps is not None:
        outcome.policy_calls, outcome.policy_seconds = player.calls, player.seconds
    return outcome


def play_jobs(
    jobs: Sequence[Job],
    cfg: EvaluateConfig,
    checkpoint: Path | None,
    rollout_dir: Path,
    progress: Callable[[int, int, JobOutcome], None] | None = None,
    runner: TaskRunnerConfig = TaskRunnerConfig(),
    priors: Mapping[str, np.ndarray] | None = None,
    blind: Path | None = None,
    mask_boxes: np.ndarray | None = None,
) -> list[JobOutcome]:
    """Run jobs with fan_out on `runner`, `cfg.workers` at a time; outcomes in job order."""

    def died(job: Job, exc: BaseException) -> JobOutcome:  # run_job records its own errors: only a dead worker gets here
        return JobOutcome(job, error=f"worker process died: {exc}")

    return fan_out(functools.partial(run_job, rollout_dir=rollout_dir), list(jobs), name="evaluate", runner=runner,
                   workers=cfg.workers, labels=[f"{job.task_id}/{job.player}" for job in jobs],
                   setup=functools.partial(init_worker, cfg, checkpoint, priors, blind, mask_boxes), on_error=died, progress=progress,
                   unit="task × player jobs")


def build_jobs(cfg: EvaluateConfig, task_ids: Sequence[str], seeds: tuple[int, ...], prior_games: Iterable[str] = ()) -> list[Job]:
    """Policy and blind jobs first (they take longest), each task's headline policy job recording its videos; a
    prior job only for tasks of `prior_games` (the games with training chunks)."""
    networks = {**cfg.policy_players(), **({BLIND: cfg.euler_steps} if BLIND in cfg.baselines else {})}
    jobs = [
        Job(t, name, seeds, euler_steps=steps, record=min(cfg.videos_per_task, len(seeds)) if name == POLICY else 0)
        for name, steps in networks.items()
        for t in task_ids
    ]
    games = set(prior_games)
    return jobs + [Job(t, kind, seeds) for kind in cfg.baselines for t in task_ids
                   if kind != BLIND and (kind != PRIOR or get_task(t).game in games)]


def load_index(cfg: EvaluateConfig, root: Path, needed_by: str) -> pd.DataFrame:
    path = root / cfg.index
    if not path.is_file():
        raise ValueError(f"index {path}: no chunk index for {needed_by}; run the gate stage or point evaluate.index at one")
    return read_chunk_index(path)


def load_priors(cfg: EvaluateConfig, root: Path, task_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """game → the prior baseline's chunks, for the selected tasks' games that have chunks in `cfg.index`
    ({} when `prior` is not a baseline); a missing or unreadable index is a ValueError naming it."""
    if PRIOR not in cfg.baselines:
        return {}
    index = load_index(cfg, root, "the prior baseline (or drop `prior` from evaluate.baselines)")
    return dict(game_chunks(index, root, {get_task(t).game for t in task_ids}))


def load_mask_boxes(cfg: EvaluateConfig, root: Path) -> np.ndarray | None:
    """The evaluation mask boxes of `sim_mask: training_boxes` (None for `none`), from the chunk index."""
    if cfg.sim_mask == "none":
        return None
    index = load_index(cfg, root, "sim_mask training_boxes (or set evaluate.sim_mask none)")
    return training_mask_boxes(index["overlay_box"], index["game_box"])


def blind_policy(cfg: EvaluateConfig, root: Path) -> Path | None:
    """The blind arm's folder when `blind` is a baseline (None otherwise); a missing or unfit one is a ValueError naming it."""
    if BLIND not in cfg.baselines:
        return None
    folder = (root / cfg.blind_checkpoint).resolve()
    if not folder.is_dir():
        raise ValueError(f"blind_checkpoint {folder}: folder not found; train with train.blind_arm true (it exports the "
                         "blind arm there), point evaluate.blind_checkpoint at one, or drop `blind` from evaluate.baselines")
    if not (folder / CONFIG_FILE).is_file():
        raise ValueError(f"blind_checkpoint {folder}: holds no policy ({CONFIG_FILE} missing; a train stage run with "
                         "train.blind_arm false leaves only a note there); train with train.blind_arm true, or drop "
                         "`blind` from evaluate.baselines")
    model = load_checked_policy(folder, cfg.replan_every)
    if model.cfg.frame_input != "blind":
        raise ValueError(f"blind_checkpoint {folder}: this policy sees the frame (frame_input {model.cfg.frame_input!r}); "
                         "the blind baseline must be a blind arm")
    return folder


def evaluate(
    cfg: EvaluateConfig,
    root: Path,
    seed: int,
    progress: Callable[[int, int, JobOutcome], None] | None = None,
    runner: TaskRunnerConfig = TaskRunnerConfig(),
) -> dict[str, Any]:
    """Play every selected task with the policy and the baselines; write the tables, plots and rollouts.

    They are written to a folder beside cfg.out_dir that replaces it only when all of it was
    written: a failed run leaves the previous evaluation as it was."""
    task_ids = cfg.task_ids()
    checkpoint = (root / cfg.checkpoint).resolve()
    load_checked_policy(checkpoint, cfg.replan_every)  # a bad checkpoint fails here, before any episode
    blind = blind_policy(cfg, root)
    if cfg.videos_per_task and not (BUILTIN_SKIN_DIR / f"{cfg.video_skin}.json").is_file():
        raise ValueError(f"video_skin: no built-in skin {cfg.video_skin!r} in {BUILTIN_SKIN_DIR}")
    priors = load_priors(cfg, root, task_ids)  # so does a missing chunk index
    mask_boxes = load_mask_boxes(cfg, root)
    final_dir = root / cfg.out_dir
    with replaced_dir(final_dir) as work_dir:
        result = _evaluate_into(work_dir, cfg, task_ids, checkpoint, seed, progress, runner, priors, blind, mask_boxes)
    result["plots"] = [final_dir / Path(p).relative_to(work_dir) for p in result["plots"]]
    return {**result, "out_dir": final_dir, "rollouts": final_dir / ROLLOUT_DIR}


def _evaluate_into(
    out_dir: Path,
    cfg: EvaluateConfig,
    task_ids: Sequence[str],
    checkpoint: Path,
    seed: int,
    progress: Callable[[int, int, JobOutcome], None] | None,
    runner: TaskRunnerConfig,
    priors: Mapping[str, np.ndarray],
    blind: Path | None = None,
    mask_boxes: np.ndarray | None = None,
) -> dict[str, Any]:
    first = cfg.seed if cfg.seed is not None else seed
    seeds = tuple(range(first, first + cfg.episodes))
    rollout_dir = out_dir / ROLLOUT_DIR
    rollout_dir.mkdir(parents=True)

    started = time.perf_counter()
    outcomes = play_jobs(build_jobs(cfg, task_ids, seeds, priors), cfg, checkpoint, rollout_dir, progress, runner, priors, blind,
                         mask_boxes)
    wall = time.perf_counter() - started
    players = cfg.players()
    splits = cfg.splits()
    failed = failed_tasks((o.job.task_id, o.job.player, o.error) for o in outcomes)
    # A game with no training chunks has no prior to replay: its tasks' prior cells stay empty ("—"), with the reason.
    no_prior = {t: f"no chunks of game {get_task(t).game!r} in {cfg.index}" for t in task_ids
                if PRIOR in cfg.baselines and get_task(t).game not in priors}
    rows = rate_rows((r for o in outcomes for r in o.results), players, task_ids, failed, splits)
    euler = []
    for name, steps in cfg.policy_players().items():
        calls = sum(o.policy_calls for o in outcomes if o.job.player == name)
        seconds = sum(o.policy_seconds for o in outcomes if o.job.player == name)
        euler.append({"player": name, "euler_steps": steps, "chunks": calls,
                      "ms_per_chunk": round(1000 * seconds / calls, 2) if calls else math.nan})
    overall = group_summaries(rows, "overall").get(OVERALL, {})
    held_out_overall = group_summaries(rows, "overall", HELD_OUT).get(OVERALL, {})
    for e in euler:
        e["overall"] = overall.get(e["player"], {}).get("rate")
        e["held_out_overall"] = held_out_overall.get(e["player"], {}).get("rate")

    table = pd.DataFrame(rows)
    with atomic_path(out_dir / TABLE_FILE) as tmp:
        table.to_parquet(tmp, index=False)
    header = (f"# Simulator evaluation\n\ncheckpoint `{cfg.checkpoint}`, {cfg.episodes} seeded episodes per task and player "
              f"(seeds {seeds[0]}..{seeds[-1]}), replanning every {cfg.replan_every} steps; `{POLICY}` samples with "
              f"{cfg.euler_steps} Euler steps. Cells: completion rate [Wilson 95% interval].")
    if cfg.sim_mask != "none":
        header += ("\n\nThe policy players saw each episode with one black box drawn from the training chunks' overlay "
                   "boxes (`sim_mask: training_boxes`).")
    if no_prior:
        header += "\n\n`prior` has no chunks to replay (cells —) on: " + "; ".join(f"`{t}` ({why})" for t, why in no_prior.items())
    diffs = differences(rows, POLICY, [b for b in cfg.baselines if b in players])
    write_text(out_dir / MARKDOWN_FILE, markdown_report(rows, players, failed, euler, header) + differences_markdown(diffs))
    plots = plot_rates(rows, players, out_dir / PLOTS_DIR)
    summary = {
        "checkpoint": str(cfg.checkpoint),
        "episodes_per_task": cfg.episodes,
        "seeds": list(seeds),
        "replan_every": cfg.replan_every,
        "sim_mask": cfg.sim_mask,
        "players": players,
        "tasks": task_summaries(rows, players, failed),
        "splits": {split: [t for t, s in splits.items() if s == split] for split in (TRAINED, HELD_OUT)},
        "categories": group_summaries(rows, "category"),
        "dims": group_summaries(rows, "dim"),
        "games": group_summaries(rows, "game"),
        "overall": overall,
        "held_out": {"categories": group_summaries(rows, "category", HELD_OUT), "dims": group_summaries(rows, "dim", HELD_OUT),
                     "games": group_summaries(rows, "game", HELD_OUT), "overall": held_out_overall},
        "euler": euler,
        "differences": diffs,
        "failed": [{"id": t, "reason": why} for t, why in failed.items()],
        "no_prior": [{"id": t, "reason": why} for t, why in no_prior.items()],
        "videos": sorted(Path(v).relative_to(out_dir).as_posix() for o in outcomes for v in o.videos),  # within out_dir
        "wall_s": round(wall, 2),
    }
    write_json(out_dir / SUMMARY_FILE, summary)
    metrics = rate_metrics(rows)
    metrics.update({f"{e['player']}.ms_per_chunk": e["ms_per_chunk"] for e in euler if e["chunks"]})
    metrics.update(difference_metrics(diffs))
    episodes = sum(len(o.results) for o in outcomes)
    metrics.update({"tasks": len(task_ids), "held_out_tasks": sum(s == HELD_OUT for s in splits.values()),
                    "failed_tasks": len(failed), "episodes": episodes,
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
        # dvc.yaml's "completion rate by task" plot: a table per player (DVC draws one panel per file).
        plots={f"rates_{p}": [{"task": t["id"], "rate": t[p]} for t in result["summary"]["tasks"]]
               for p in result["summary"]["players"]},
        tables={"evaluate/rates.json": out_dir / TABLE_FILE},
        models=[registered_policy(cfg, root, seed, result["metrics"])],
    )


def registered_policy(cfg: EvaluateConfig, root: Path, seed: int, metrics: Mapping[str, float]) -> ModelExport:
    """The evaluated policy for run_stage to register (once per weights: train already did) with its success rate,
    which moves padflow-policy's `champion` alias when it beats the champion's; a simulator frame is the input example."""
    env = make_env(cfg.task_ids()[0])
    try:
        frame, _ = env.reset(seed=seed)
    finally:
        env.close()
    rate = metrics.get(f"{POLICY}.overall")
    return ModelExport(POLICY_MODEL, (root / cfg.checkpoint).resolve(), np.asarray(frame),
                       score=None if rate is None else (f"{POLICY}.overall", float(rate)))


def log_progress(done: int, total: int, outcome: JobOutcome) -> None:
    job = outcome.job
    if outcome.error:
        status = f"FAILED ({outcome.error})"
    else:
        status = f"{sum(r.success for r in outcome.results)}/{len(outcome.results)} completed"
    progress_display.say(f"[evaluate {done}/{total}] {job.task_id} / {job.player}: {status}")
