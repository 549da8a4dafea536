"""parser_train: train the overlay parser on synthetic renders of the skin library.

Training renders come from the skins that are not held out; two validation sets are rendered
with other seeds, one from the training skins and one from the held-out skins the parser never
sees, so the held-out numbers measure generalization to new controller designs.

Outputs (under out_dir):
    parser.safetensors, parser_config.json   what extract loads (models.overlay_parser.load_parser)
    renders/<split>.npz                      the rendered crops and labels (padflow.overlay.synth)
    report/confusion.png, report/loss.png    held-out per-button confusion matrices, loss curve
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# OpenMP threads that spin while waiting burn the CPU other processes need (10x slower steps on
# a shared 2-core machine); must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.overlay_parser import CONFIG_FILE, WEIGHTS_FILE, OverlayParser, ParserConfig, as_tensors, parser_loss, save_parser  # noqa: E402
from padflow.actions import AXES, BUTTONS, N_BUTTONS  # noqa: E402
from padflow.config import from_mapping  # noqa: E402
from padflow.io import save_figure  # noqa: E402
from padflow.overlay.library import HELD_OUT_SKINS, load_library  # noqa: E402
from padflow.overlay.synth import RenderSet, SynthConfig, collect_backgrounds, render_split, save_shard  # noqa: E402
from padflow.stages import StageResult  # noqa: E402

SPLITS = ("train", "val_train_skins", "val_held_out")
PREDICT_BATCH = 256  # pairs per forward pass during validation
FIGURE_DPI = 110  # confusion matrices hold 17 small panels: a little sharper than the default


@dataclass(frozen=True)
class ParserTrainConfig:
    train_samples: int = 24_000  # training pairs (rendered as clips of synth.frames_per_clip frames)
    val_samples: int = 2_000  # pairs in each validation set
    curve_samples: int = 500  # pairs of each validation set scored after every epoch for the curves (the final figures use all)
    epochs: int = 4  # passes over the training pairs
    batch_size: int = 64  # pairs per step
    # NitroGen trains with lr 1e-4 for many GPU-hours; a few CPU-minutes need a larger peak rate,
    # reached after a short warmup and decayed by a cosine to zero.
    lr: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 0.1  # AdamW decoupled weight decay (NitroGen's value)
    warmup_steps: int = 100  # linear warmup from 0 to lr
    threads: int = 2  # torch intra-op threads (fixed, for reproducible timings and results)
    render_workers: int = 2  # processes rendering clips
    background_tasks: tuple[str, ...] = (
        "pong_score_point", "ms_pacman_eat_30_dots", "freeway_cross_once", "boxing_score_10",
        "doom_basic_first_shot", "doom_defend_center_kill5", "crafter_collect_wood",
    )  # fmt: skip  # games whose frames sit behind the overlay
    background_frames: int = 48  # kept frames per background task
    background_stride: int = 3  # keep every n-th engine frame
    model: ParserConfig = field(default_factory=ParserConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    out_dir: str = "data/parser"

    def __post_init__(self) -> None:
        for name in ("train_samples", "val_samples", "curve_samples", "epochs", "batch_size", "threads", "render_workers", "background_frames", "background_stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: {getattr(self, name)} must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_steps < 0:
            raise ValueError(f"lr must be > 0 and weight_decay, warmup_steps >= 0; got {self.lr}, {self.weight_decay}, {self.warmup_steps}")
        if not self.background_tasks:
            raise ValueError("background_tasks: at least one task is needed for background frames")
        if self.model.crop_size != self.synth.crop_size:
            raise ValueError(f"synth.crop_size {self.synth.crop_size} must equal model.crop_size {self.model.crop_size}")
        if self.model.stick_size != self.synth.stick_size:
            raise ValueError(f"synth.stick_size {self.synth.stick_size} must equal model.stick_size {self.model.stick_size}")

    def clips(self, samples: int) -> int:
        return math.ceil(samples / (self.synth.frames_per_clip - 1))


def render_sets(cfg: ParserTrainConfig, seed: int, root: Path, skin_dirs: tuple[str, ...]) -> tuple[dict[str, RenderSet], dict[str, str]]:
    """The three render sets (training skins only in `train`) and each skin's family."""
    library = load_library([root / d for d in skin_dirs])
    train_skins = {i: library.skins[i] for i in library.training_ids()}
    held_out = {i: s for i, s in library.skins.items() if i in HELD_OUT_SKINS}
    backgrounds = collect_backgrounds(cfg.background_tasks, cfg.background_frames, cfg.background_stride, seed)
    sets = {
        "train": render_split(train_skins, cfg.clips(cfg.train_samples), backgrounds, cfg.synth, seed, "train", cfg.render_workers),
        "val_train_skins": render_split(train_skins, cfg.clips(cfg.val_samples), backgrounds, cfg.synth, seed, "val_train_skins", cfg.render_workers),
        "val_held_out": render_split(held_out, cfg.clips(cfg.val_samples), backgrounds, cfg.synth, seed, "val_held_out", cfg.render_workers),
    }
    return sets, {i: s.family for i, s in library.skins.items()}


def train(cfg: ParserTrainConfig, train_set: RenderSet, seed: int, on_epoch=None) -> tuple[OverlayParser, list[float], float]:
    """AdamW over shuffled pairs with warmup + cosine decay; returns the model, loss per step and samples/s."""
    torch.manual_seed(seed)
    model = OverlayParser(cfg.model)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]  # norms and biases are not decayed
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    steps_per_epoch = max(1, train_set.pairs // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs

    def rate(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    order = np.random.default_rng([seed, 0x5A])
    losses: list[float] = []
    trained_s = 0.0
    for epoch in range(cfg.epochs):
        model.train()
        permutation = order.permutation(train_set.pairs)
        started = time.perf_counter()
        for step in range(steps_per_epoch):
            pairs, labels = train_set.pair_batch(permutation[step * cfg.batch_size : (step + 1) * cfg.batch_size])
            loss, _ = parser_loss(model(as_tensors(pairs)), torch.from_numpy(labels), cfg.model.grid)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        trained_s += time.perf_counter() - started
        print(f"parser_train: epoch {epoch + 1}/{cfg.epochs} loss {np.mean(losses[-steps_per_epoch:]):.4f}", flush=True)
        if on_epoch is not None:
            on_epoch(model)
    return model, losses, steps_per_epoch * cfg.epochs * cfg.batch_size / max(trained_s, 1e-9)


def predict_set(model: OverlayParser, renders: RenderSet, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted actions, confidences and true actions for the first `limit` pairs (all if None) of a render set."""
    preds, confs, truths = [], [], []
    n = renders.pairs if limit is None else min(limit, renders.pairs)
    for start in range(0, n, PREDICT_BATCH):
        pairs, labels = renders.pair_batch(np.arange(start, min(start + PREDICT_BATCH, n)))
        actions, confidence = model.predict(pairs)
        preds.append(actions)
        confs.append(confidence)
        truths.append(labels)
    return np.concatenate(preds), np.concatenate(confs), np.concatenate(truths)


def score(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Button accuracy (per button-frame and whole-frame), stick R² per axis and mean, stick MAE."""
    correct = pred[:, :N_BUTTONS] == truth[:, :N_BUTTONS]
    out = {"button_accuracy": float(correct.mean()), "button_frame_accuracy": float(correct.all(axis=1).mean())}
    r2 = []
    for k, axis in enumerate(AXES):
        p, t = pred[:, N_BUTTONS + k], truth[:, N_BUTTONS + k]
        value = 1.0 - float(((p - t) ** 2).sum()) / max(float(((t - t.mean()) ** 2).sum()), 1e-12)
        out[f"stick_r2_{axis.lower()}"] = value
        r2.append(value)
    out["stick_r2"] = float(np.mean(r2))
    out["stick_mae"] = float(np.abs(pred[:, N_BUTTONS:] - truth[:, N_BUTTONS:]).mean())
    return out


def pair_skins(renders: RenderSet) -> np.ndarray:
    """Skin id of every pair (pairs are clip-major)."""
    return np.repeat(np.array(renders.skin_ids), renders.crops.shape[1] - 1)


def confusion_figure(pred: np.ndarray, truth: np.ndarray, path: Path, title: str) -> Path:
    """A 2x2 confusion matrix per button (rows: true released/pressed, columns: predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 6
    rows = math.ceil(N_BUTTONS / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows))
    for k, ax in enumerate(axes.flat):
        if k >= N_BUTTONS:
            ax.axis("off")
            continue
        m = np.array([[np.sum((truth[:, k] == a) & (pred[:, k] == b)) for b in (0, 1)] for a in (0, 1)])
        ax.imshow(m / np.maximum(m.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        for a in (0, 1):
            for b in (0, 1):
                ax.text(b, a, str(m[a, b]), ha="center", va="center", fontsize=8)
        ax.set_title(BUTTONS[k], fontsize=8)
        ax.set_xticks([0, 1], ["off", "on"], fontsize=7)
        ax.set_yticks([0, 1], ["off", "on"], fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=FIGURE_DPI)


def loss_figure(losses: list[float], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, lw=0.6, alpha=0.5, label="step")
    window = max(1, len(losses) // 50)
    ax.plot(np.convolve(losses, np.ones(window) / window, mode="valid"), lw=1.5, label=f"mean of {window}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=FIGURE_DPI)



def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: render, train, validate on training and held-out skins, save the parser."""
    cfg = from_mapping(ParserTrainConfig, params.get("parser_train"), "parser_train")
    seed = int(params.get("seed", 0))
    skin_dirs = tuple((params.get("overlay") or {}).get("skin_dirs") or ())
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    out_dir = root / cfg.out_dir

    sets, families = render_sets(cfg, seed, root, skin_dirs)
    for split, renders in sets.items():
        save_shard(renders, out_dir / "renders" / f"{split}.npz")
    curves: dict[str, list[float]] = {f"{split}_{m}": [] for split in SPLITS[1:] for m in ("button_frame_accuracy", "stick_r2")}

    def on_epoch(model: OverlayParser) -> None:
        for split in SPLITS[1:]:
            pred, _, truth = predict_set(model, sets[split], cfg.curve_samples)
            scores = score(pred, truth)
            for m in ("button_frame_accuracy", "stick_r2"):
                curves[f"{split}_{m}"].append(scores[m])

    model, losses, samples_per_s = train(cfg, sets["train"], seed, on_epoch)
    save_parser(model, out_dir)

    metrics: dict[str, float] = {
        "train_samples_per_s": round(samples_per_s, 1),
        "renders_per_s": round(float(np.mean([s.renders_per_s for s in sets.values()])), 1),
        "train_pairs": sets["train"].pairs,
        "final_loss": float(np.mean(losses[-20:])),
    }
    report = out_dir / "report"
    for split in SPLITS[1:]:
        pred, conf, truth = predict_set(model, sets[split])
        metrics.update({f"{split}_{k}": round(v, 5) for k, v in score(pred, truth).items()})
        metrics[f"{split}_mean_confidence"] = round(float(conf.mean()), 5)
        skins = pair_skins(sets[split])
        for family in sorted({families[s] for s in skins}):
            rows = np.array([families[s] == family for s in skins])
            metrics[f"{split}_{family}_button_frame_accuracy"] = round(score(pred[rows], truth[rows])["button_frame_accuracy"], 5)
        if split == "val_held_out":
            confusion_figure(pred, truth, report / "confusion.png", "held-out skins: per-button confusion (rows true, columns predicted)")
    loss_figure(losses, report / "loss.png")
    return StageResult(
        params={"parser_train": asdict(cfg), "seed": seed},
        metrics=metrics,
        artifacts={"parser": out_dir / WEIGHTS_FILE, "parser_config": out_dir / CONFIG_FILE, "parser_report": report},
        curves={"train_loss": losses, **curves},
    )
