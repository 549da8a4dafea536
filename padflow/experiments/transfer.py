"""transfer: does pre-training on other games help on a game the policy has never seen?

Hold out one game. Pre-train on the accepted chunks of every other game; then, on the held-out
game's chunks and with the same fixed budget of optimizer steps, fine-tune the pre-trained policy
and train a policy from scratch. Both are rolled out in the held-out game's tasks on the same
seeds; the relative improvement of fine-tuning over scratch is reported per task and on average,
at each data budget of `data_fractions` (the first share of every held-out video's chunks) and for
each fine-tuning mode of `trainable` (one pre-training serves them all). The pre-trained policy is
also rolled out as is (zero-shot).

Not a nightly stage: `padflow transfer [--game G]` runs it, logging everything under one MLflow
run (tag padflow.stage=transfer). Training uses the train stage's data module and Lightning module
(models/policy/data.py, training.py) with the train section's model and optimizer settings; only
the steps, the chunks and the initial weights differ between the runs. The fine-tuned arm starts
from the pre-trained policy through train.init_from and trains what its mode of transfer.trainable
says (models/policy/finetune.py) at its rate of transfer.finetune_lr (the recipe's rates,
docs/nitrogen.md); pre-training and scratch train every weight from a random init at train.lr. Each run is evaluated with the evaluate stage's `evaluate` (tasks/evaluate.py).

Outputs (out_dir):
    indexes/            the chunk index of every training run
    <run>/policy/       each run's EMA policy (pretrain, finetune_<mode>_f<fraction>, scratch_f<fraction>)
    eval/<run>/         each run's simulator evaluation (tasks/evaluate.py)
    transfer.parquet    per (fraction, mode, task) and on average: zero-shot, scratch and fine-tuned rates, difference and
                        relative improvement, each with its 95% interval (padflow.stats: Jeffreys posterior per task)
    transfer.md         the same as Markdown
    summary.json        one object (the CLI's --json)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, field, replace
from pathlib import Path
from typing import Annotated, Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from pydantic import BeforeValidator, Field

from models.card import index_provenance
from models.policy import save_policy
from models.policy.data import ChunkDataModule
from models.policy.finetune import Trainable
from models.policy.training import PolicyModule, policy_ema, resolve_precision
from padflow import tracking
from padflow.config import config, from_mapping
from padflow.fanout import TaskRunnerConfig, runner_config
from padflow.io import atomic_path, write_json, write_text
from padflow.players.policy import POLICY
from padflow.players.report import task_counts
from padflow.sim.registry import all_tasks, get_task
from padflow.stats import difference_interval, relative_interval
from padflow.tables import read_chunk_index
from tasks.evaluate import EvaluateConfig, evaluate
from tasks.train import POLICY_DIR, TrainConfig, write_policy_card

log = logging.getLogger(__name__)

UNKNOWN_GAME = "unknown"
MIN_VIDEOS = 2  # training holds out at least one video for validation
TABLE_FILE = "transfer.parquet"
MARKDOWN_FILE = "transfer.md"
SUMMARY_FILE = "summary.json"
PRETRAIN = "pretrain"
SCRATCH = "scratch"  # trained from random init on the held-out game's chunks


def _one_or_more(value: Any) -> Any:
    """A bare mode as a one-mode tuple (a list becomes a tuple: strict validation takes no list for a tuple here)."""
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list) else value


@config
class TransferConfig:
    game: Annotated[str, Field(
        description="the held-out game (a task suite `game`, e.g. doom, pong, crafter): pre-train on the other "
                    "games, fine-tune / train from scratch on this one")] = "doom"
    index: Annotated[str, Field(description="the gate's accepted-chunk index, with a `game` column")] = "data/gate/chunks.parquet"
    pretrain_steps: Annotated[int, Field(ge=1, description="optimizer steps of pre-training on the other games")] = 300
    finetune_steps: Annotated[int, Field(
        ge=1, description="optimizer steps: the fixed budget of both fine-tuning and training from scratch")] = 100
    trainable: Annotated[tuple[Trainable, ...], BeforeValidator(_one_or_more), Field(min_length=1, description=(
        "fine-tuning modes, one fine-tuned arm each (train.trainable's modes: all | freeze_vision | "
        "freeze_vision_mixer | lora; one mode or a list); scratch always trains all"))] = ("all",)
    finetune_lr: Annotated[dict[Trainable, Annotated[float, Field(gt=0)]], Field(description=(
        "peak learning rate of the fine-tuned arm of each mode (the recipe's starting points, docs/nitrogen.md: "
        "all 1e-5–1e-4, lora 1e-4–5e-4); a mode not listed trains at train.lr, as scratch does"))] = field(default_factory=dict)
    data_fractions: Annotated[tuple[Annotated[float, Field(gt=0, le=1)], ...], Field(
        min_length=1, description="shares in (0, 1] of each held-out video's chunks used for fine-tuning / scratch")] = (1.0, 0.25)
    episodes: Annotated[int, Field(ge=1, description="seeded episodes per held-out task and policy")] = 10
    tasks: Annotated[tuple[str, ...], Field(
        description="held-out tasks to evaluate; empty = every task of the game")] = ()
    workers: Annotated[int, Field(ge=1, description="evaluation jobs in parallel (evaluate.workers of each rollout)")] = 2
    out_dir: Annotated[str, Field(description="where the indexes, policies, evaluations and tables go")] = "data/transfer"

    def __post_init__(self) -> None:
        games = sorted({t.game for t in all_tasks().values()})
        if self.game not in games:
            raise ValueError(f"game {self.game!r} has no tasks in the suite; games: {', '.join(games)}")
        wrong = [t for t in self.tasks if get_task(t).game != self.game]
        if wrong:
            raise ValueError(f"tasks {wrong} are not tasks of the held-out game {self.game!r}")
        if len(set(self.trainable)) < len(self.trainable):
            raise ValueError(f"trainable lists a mode twice: {list(self.trainable)}")

    def task_ids(self) -> list[str]:
        return list(self.tasks) or [t.id for t in all_tasks().values() if t.game == self.game]


def fraction_label(fraction: float) -> str:
    return f"f{fraction:g}"


def finetune_run(mode: str, fraction: float) -> str:
    return f"finetune_{mode}_{fraction_label(fraction)}"


def split_index(index: Any, game: str, path: Path) -> tuple[Any, Any]:
    """(other games' chunks, held-out game's chunks); a ValueError says what the index lacks."""
    games = index["game"].astype(str)
    counts = games.value_counts().to_dict()
    if game not in counts:
        hint = ""
        if counts.get(UNKNOWN_GAME):
            hint = (f"; {counts[UNKNOWN_GAME]} chunks have game {UNKNOWN_GAME!r}: the gate copies the game from the "
                    "ingest manifest, so give each video its game there")
        raise ValueError(f"{path}: no chunks of the held-out game {game!r} (chunks per game: {counts}){hint}")
    held, others = index[games == game], index[(games != game) & (games != UNKNOWN_GAME)]
    for name, part in ((f"held-out game {game!r}", held), ("the other games", others)):
        videos = part["video_id"].nunique()
        if videos < MIN_VIDEOS:
            raise ValueError(f"{path}: {name} has {videos} video(s); training needs at least {MIN_VIDEOS} "
                             "(one is held out for validation)")
    return others.reset_index(drop=True), held.reset_index(drop=True)


def budget_index(held: Any, fraction: float) -> Any:
    """The first `fraction` of every held-out video's chunks (at least one), in time order."""
    parts = []
    for _, chunks in held.groupby("video_id", sort=True):
        chunks = chunks.sort_values("start_frame")
        parts.append(chunks.head(max(1, math.ceil(fraction * len(chunks)))))
    return pd.concat(parts, ignore_index=True)


def write_index(frame: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def fit(cfg: TrainConfig, root: Path, seed: int) -> dict[str, Any]:
    """Train a policy on cfg.index for cfg.max_steps (from cfg.init_from's weights when set); export its EMA weights.

    The same Lightning setup as tasks/train.py (data module, module, EMA, precision, clipping),
    without its resume and checkpoint files: every transfer run starts from its stated weights.
    """
    pl.seed_everything(seed, workers=True)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    data = ChunkDataModule(cfg, root, seed)
    data.setup("fit")
    module = PolicyModule(cfg.policy_config(), cfg, data.train_mean_action(), init=cfg.init_path(root))
    on_cpu = cfg.accelerator == "cpu" or (cfg.accelerator == "auto" and not torch.cuda.is_available())
    trainer = pl.Trainer(
        max_steps=cfg.max_steps, max_epochs=-1, accelerator=cfg.accelerator, devices=cfg.devices,
        num_nodes=cfg.num_nodes, strategy=cfg.strategy, precision=resolve_precision(cfg),
        gradient_clip_val=cfg.grad_clip, deterministic=True if on_cpu else "warn",
        callbacks=[policy_ema(cfg.ema_decay)], logger=False, enable_checkpointing=False,
        check_val_every_n_epoch=cfg.val_every_n_epochs, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, default_root_dir=root / cfg.out_dir,
    )
    trainer.fit(module, datamodule=data)
    final = trainer.validate(module, datamodule=data, verbose=False)[0]
    policy_dir = save_policy(module.export_policy(), root / cfg.out_dir / POLICY_DIR)
    write_policy_card(policy_dir, cfg, seed, {k.replace("/", "_"): round(float(v), 6) for k, v in final.items()},
                      index_provenance(root / cfg.index, root))
    return {
        "policy_dir": policy_dir,
        "train_losses": list(module.train_losses),
        "val_loss": float(final.get("val/loss", math.nan)),
        "train_chunks": data.split["train_chunks"],
    }


def compare_arms(finetune: list[tuple[int, int]], scratch: list[tuple[int, int]]) -> dict[str, float | None]:
    """Fine-tuned vs scratch over the same tasks' (successes, episodes): mean rates, difference and relative improvement
    ((finetune - scratch) / scratch: None when scratch is 0), each difference with its 95% interval (padflow.stats)."""
    diff, d_low, d_high = difference_interval(finetune, scratch)
    rel, r_low, r_high = relative_interval(finetune, scratch)
    return {"scratch": float(np.mean([s / n for s, n in scratch])), "finetune": float(np.mean([s / n for s, n in finetune])),
            "difference": diff, "difference_low": d_low, "difference_high": d_high,
            "relative_improvement": rel, "relative_low": r_low, "relative_high": r_high}


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v * 100:+.0f}%" if pct else f"{v:.2f}"


def _interval(row: Mapping[str, Any], key: str, pct: bool = False) -> str:
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    return "" if low is None else f" [{_fmt(low, pct)}, {_fmt(high, pct)}]"


def transfer(cfg: TransferConfig, train_cfg: TrainConfig, root: Path, seed: int,
             runner: TaskRunnerConfig = TaskRunnerConfig()) -> dict[str, Any]:
    """Run the whole experiment (evaluations fanned out on `runner`); returns metrics, curves, the summary and the output folder."""
    out = root / cfg.out_dir
    index_path = root / cfg.index
    others, held = split_index(read_chunk_index(index_path), cfg.game, index_path)
    task_ids = cfg.task_ids()

    def train_run(name: str, chunks: Any, steps: int, init: Path | None = None, mode: Trainable = "all") -> dict[str, Any]:
        index_file = write_index(chunks, out / "indexes" / f"{name}.parquet")
        run_cfg = replace(train_cfg, index=str(index_file), max_steps=steps, out_dir=str(out / name),
                          frame_cache_dir=str(out / "frame_cache"), init_from=None if init is None else str(init),
                          trainable=mode, lr=cfg.finetune_lr.get(mode, train_cfg.lr) if init is not None else train_cfg.lr)
        log.info("transfer: training %s on %d chunks for %d steps at lr %g", name, len(chunks), steps, run_cfg.lr)
        return fit(run_cfg, root, seed)

    def rollout(name: str, policy_dir: Path) -> dict[str, tuple[int, int]]:
        """task → (successes, episodes); a task whose rollout failed is missing."""
        eval_cfg = EvaluateConfig(checkpoint=str(policy_dir), tasks=tuple(task_ids), held_out_tasks=(), episodes=cfg.episodes, baselines=(),
                                  euler_steps_compare=(), workers=cfg.workers, videos_per_task=0,
                                  out_dir=str(out / "eval" / name))
        counts = task_counts(evaluate(eval_cfg, root, seed, runner=runner)["summary"]["tasks"], POLICY)
        return {t: (s, n) for t, (_split, s, n) in counts.items()}

    runs: dict[str, dict[str, Any]] = {PRETRAIN: train_run(PRETRAIN, others, cfg.pretrain_steps)}
    counts: dict[str, dict[str, tuple[int, int]]] = {PRETRAIN: rollout(PRETRAIN, runs[PRETRAIN]["policy_dir"])}
    zero = counts[PRETRAIN]
    rows, averages = [], []
    for fraction in cfg.data_fractions:
        chunks = budget_index(held, fraction)
        label = fraction_label(fraction)
        scratch = f"{SCRATCH}_{label}"
        runs[scratch] = train_run(scratch, chunks, cfg.finetune_steps)
        counts[scratch] = sc = rollout(scratch, runs[scratch]["policy_dir"])
        for mode in cfg.trainable:
            name = finetune_run(mode, fraction)
            runs[name] = train_run(name, chunks, cfg.finetune_steps, runs[PRETRAIN]["policy_dir"], mode)
            counts[name] = ft = rollout(name, runs[name]["policy_dir"])
            played = [t for t in task_ids if t in ft and t in sc]  # a task whose rollout failed in either arm is left out
            for task_id in played:
                rows.append({"fraction": fraction, "trainable": mode, "task": task_id, "chunks": len(chunks),
                             "zero_shot": zero[task_id][0] / zero[task_id][1] if task_id in zero else None,
                             **compare_arms([ft[task_id]], [sc[task_id]])})
            if played:
                zero_rates = [zero[t][0] / zero[t][1] for t in played if t in zero]
                averages.append({"fraction": fraction, "trainable": mode, "task": "average", "chunks": len(chunks),
                                 "zero_shot": float(np.mean(zero_rates)) if zero_rates else None,
                                 **compare_arms([ft[t] for t in played], [sc[t] for t in played])})
    table = pd.DataFrame(rows + averages)
    with atomic_path(out / TABLE_FILE) as tmp:
        table.to_parquet(tmp, index=False)
    lines = [
        f"# Transfer to the held-out game `{cfg.game}`", "",
        f"Pre-trained {cfg.pretrain_steps} steps on {len(others)} chunks of {others['game'].nunique()} other game(s); "
        f"fine-tuned (modes: {', '.join(f'{m} at lr {cfg.finetune_lr.get(m, train_cfg.lr):g}' for m in cfg.trainable)}) "
        f"and trained from scratch (lr {train_cfg.lr:g}) for {cfg.finetune_steps} steps each; {cfg.episodes} seeded episodes "
        "per task. Relative improvement = (fine-tuned − scratch) / scratch (— when scratch is 0). [95% intervals: Jeffreys "
        "posterior per task, padflow/stats.py; an average's is over these tasks.]", "",
        "| data | chunks | mode | task | zero-shot | scratch | fine-tuned | difference | relative |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows + averages:
        lines.append(f"| {r['fraction']:g} | {r['chunks']} | {r['trainable']} | {r['task']} | {_fmt(r['zero_shot'])} | {_fmt(r['scratch'])} | "
                     f"{_fmt(r['finetune'])} | {_fmt(r['difference'])}{_interval(r, 'difference')} | "
                     f"{_fmt(r['relative_improvement'], pct=True)}{_interval(r, 'relative', pct=True)} |")
    write_text(out / MARKDOWN_FILE, "\n".join(lines) + "\n")

    metrics: dict[str, float] = {}
    for r in rows + averages:
        prefix = f"{fraction_label(r['fraction'])}.{r['trainable']}.{'average' if r['task'] == 'average' else 'task.' + r['task']}"
        for key in ("zero_shot", "scratch", "finetune", "difference", "difference_low", "difference_high",
                    "relative_improvement", "relative_low", "relative_high"):
            if r[key] is not None:
                metrics[f"{prefix}.{key}"] = round(float(r[key]), 4)
    for name, run in runs.items():
        metrics[f"{name}.val_loss"] = round(run["val_loss"], 6)
        metrics[f"{name}.train_chunks"] = run["train_chunks"]
    summary = {"game": cfg.game, "tasks": task_ids, "rows": rows, "averages": averages,
               "runs": {n: {"val_loss": r["val_loss"], "train_chunks": r["train_chunks"], "policy": str(r["policy_dir"])}
                        for n, r in runs.items()}}
    write_json(out / SUMMARY_FILE, summary)
    curves = {f"{name}.train_loss": run["train_losses"] for name, run in runs.items()}
    return {"metrics": metrics, "curves": curves, "summary": summary, "out_dir": out}


def run(params: Mapping[str, Any], root: Path, game: str | None = None) -> dict[str, Any]:
    """The experiment under one MLflow run (tag padflow.stage=transfer); `game` overrides the config's."""
    section = dict(params.get("transfer") or {})
    if game is not None:
        section = {**section, "game": game, "tasks": []}
    cfg = from_mapping(TransferConfig, section, "transfer")
    train_cfg = from_mapping(TrainConfig, params.get("train"), "train")
    seed = int(params.get("seed", 0))
    tracking.check_tracking(tracking.tracking_uri(root))
    with tracking.stage_run(root, "transfer", tags={"padflow.profile": str(params.get("profile", "")),
                                                    "padflow.held_out_game": cfg.game}):
        result = transfer(cfg, train_cfg, root, seed, runner_config(params, "evaluate"))
        out = result["out_dir"]
        tracking.log_stage(
            {"transfer": asdict(cfg), "train": asdict(train_cfg), "seed": seed},
            result["metrics"],
            {"transfer": out / MARKDOWN_FILE, "transfer/tables": out / TABLE_FILE, "transfer/summary": out / SUMMARY_FILE},
            result["curves"],
        )
    return result
