"""Training the overlay parser with Lightning, as the policy is trained: the LightningModule (AdamW with
warmup + cosine decay, per-epoch validation curves), the render-set data, and `fit_parser`, the fit
tasks/parser_train.py runs (the trainer, the stage's MLflow logger, resumable checkpoints:
models/training.py). All of what turns renders into weights is here and below, so the shipped parser's
fingerprint hashes these files (models/overlay_parser/asset.py), not the stage's wiring.

Data: a padflow.overlay.synth.RenderSet holds rendered clips; a training pair is two consecutive
frames of a clip. Each epoch visits the pairs in a seeded shuffled order, in whole batches (the
last partial batch is dropped); the order of epoch e depends only on (seed, e), so a resumed run
sees the batches an uninterrupted one would. Validation reads the first `curve_samples` pairs of
each validation set in order and scores them (`score`): the per-epoch curves.

Controls a pair's skin does not draw (its SkinView's `observed`, padflow.overlay.crops) show
nothing, so their labels are no labels: the loss leaves them out (`parser_loss(..., observed)`) and
`score` counts observed controls only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import lightning.pytorch as pl
import numpy as np
import torch

from models.overlay_parser.configuration import ParserConfig
from models.overlay_parser.modeling import OverlayParser, parser_loss
from models.overlay_parser.processor import as_tensors, decode_outputs
from models.training import CHECKPOINT_DIR, TrainingHistory, TrainingProgress, fingerprint, last_checkpoint, stage_logger, start_or_resume
from padflow.actions import ACTION_DIM, AXES, N_BUTTONS
from padflow.overlay.crops import ParserBatch
from padflow.overlay.synth import RenderSet, render_digest

PREDICT_BATCH = 256  # pairs per forward pass during validation
ORDER_STREAM = 0x5A  # the shuffling stream's key beside the seed: np.random.default_rng([seed, ORDER_STREAM])
CURVE_METRICS = ("button_frame_accuracy", "stick_r2")  # what each validation adds to the curves, per set
LOG_EVERY_N_STEPS = 10  # optimizer steps between the training losses Lightning logs to MLflow


class ParserTrainingSettings(Protocol):
    """What ParserModule and RenderDataModule read of the stage's config (tasks/parser_train.py ParserTrainConfig)."""

    model: ParserConfig
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_steps: int
    curve_samples: int


def warmup_cosine_factor(step: int, warmup: int, total: int) -> float:
    """Learning-rate multiplier at optimizer step `step`: linear warmup over `warmup` steps, then a cosine to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def score(pred: np.ndarray, truth: np.ndarray, observed: np.ndarray | None = None) -> dict[str, float]:
    """Button accuracy (per button-frame and whole-frame), button F1, stick R² per axis and mean, stick MAE; (N, 21) each.

    Button F1 pools the pressed button-frames of every scored button (NaN when nothing is pressed or read pressed).

    `observed` (N, 21) bool scores only the controls each pair's skin draws (None: all). An axis no
    pair observes has no R² (NaN, left out of the mean).
    """
    seen = np.ones(pred.shape, bool) if observed is None else np.asarray(observed, bool)
    correct = pred[:, :N_BUTTONS] == truth[:, :N_BUTTONS]
    scored = seen[:, :N_BUTTONS]
    out = {"button_accuracy": float(correct[scored].mean()) if scored.any() else float("nan"),
           "button_frame_accuracy": float((correct | ~scored).all(axis=1).mean())}  # fmt: skip
    pressed, read = truth[:, :N_BUTTONS][scored] > 0.5, pred[:, :N_BUTTONS][scored] > 0.5
    tp, fp, fn = int((pressed & read).sum()), int((~pressed & read).sum()), int((pressed & ~read).sum())
    out["button_f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    r2 = []
    for k, axis in enumerate(AXES):
        rows = seen[:, N_BUTTONS + k]
        p, t = pred[rows, N_BUTTONS + k], truth[rows, N_BUTTONS + k]
        value = 1.0 - float(((p - t) ** 2).sum()) / max(float(((t - t.mean()) ** 2).sum()), 1e-12) if rows.any() else float("nan")
        out[f"stick_r2_{axis.lower()}"] = value
        r2.append(value)
    out["stick_r2"] = float(np.nanmean(r2)) if not np.isnan(r2).all() else float("nan")
    axes = seen[:, N_BUTTONS:]
    out["stick_mae"] = float(np.abs(pred[:, N_BUTTONS:] - truth[:, N_BUTTONS:])[axes].mean()) if axes.any() else float("nan")
    return out


def pair_observed(renders: RenderSet, index: np.ndarray) -> np.ndarray:
    """(B, 21) bool: the controls each pair's skin draws (pairs are clip-major)."""
    clip = np.asarray(index) // (renders.crops.shape[1] - 1)
    by_skin = {skin: np.asarray(getattr(view, "observed", np.ones(ACTION_DIM, bool)), bool) for skin, view in renders.views.items()}
    return np.stack([by_skin[renders.skin_ids[c]] for c in clip]) if len(clip) else np.ones((0, ACTION_DIM), bool)


def predict_set(model: OverlayParser, renders: RenderSet, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted actions, confidences and true actions for the first `limit` pairs (all if None) of a render set.

    Score them with `score(pred, truth, pair_observed(renders, np.arange(len(pred))))`.
    """
    preds, confs, truths = [], [], []
    n = renders.pairs if limit is None else min(limit, renders.pairs)
    for start in range(0, n, PREDICT_BATCH):
        pairs, labels = renders.pair_batch(np.arange(start, min(start + PREDICT_BATCH, n)))
        actions, confidence = model.predict(pairs)
        preds.append(actions)
        confs.append(confidence)
        truths.append(labels)
    return np.concatenate(preds), np.concatenate(confs), np.concatenate(truths)


def pair_skins(renders: RenderSet) -> np.ndarray:
    """Skin id of every pair (pairs are clip-major)."""
    return np.repeat(np.array(renders.skin_ids), renders.crops.shape[1] - 1)


class PairBatches(torch.utils.data.Sampler):
    """Batches of pair indices: seeded shuffled whole batches per epoch (`seed` given), else the first `limit` pairs in order."""

    def __init__(self, pairs: int, batch_size: int, seed: int | None = None, limit: int | None = None):
        self.pairs, self.batch_size, self.seed = pairs, batch_size, seed
        self.limit = pairs if limit is None else min(limit, pairs)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of each epoch (a resumed run starts at the checkpoint's)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self.seed is None:
            return math.ceil(self.limit / self.batch_size)
        return max(1, self.pairs // self.batch_size)

    def __iter__(self) -> Iterator[np.ndarray]:
        b = self.batch_size
        if self.seed is None:
            for start in range(0, self.limit, b):
                yield np.arange(start, min(start + b, self.limit))
            return
        rng = np.random.default_rng([self.seed, ORDER_STREAM])
        for _ in range(self.epoch):  # the orders of the earlier epochs, drawn from the one stream
            rng.permutation(self.pairs)
        order = rng.permutation(self.pairs)
        for step in range(len(self)):
            yield order[step * b : (step + 1) * b]


class RenderPairs(torch.utils.data.Dataset):
    """A render set indexed by a batch of pair indices → (ParserBatch of tensors, true actions (B, 21), observed (B, 21) bool)."""

    def __init__(self, renders: RenderSet):
        self.renders = renders

    def __len__(self) -> int:
        return self.renders.pairs

    def __getitem__(self, indices: np.ndarray) -> tuple[ParserBatch, torch.Tensor, torch.Tensor]:
        pairs, labels = self.renders.pair_batch(indices)
        return as_tensors(pairs), torch.from_numpy(labels), torch.from_numpy(pair_observed(self.renders, indices))


def _as_is(batch):
    return batch  # the dataset already returns whole batches of tensors


class RenderDataModule(pl.LightningDataModule):
    """The training render set in shuffled batches; the first curve_samples pairs of each validation set."""

    def __init__(self, cfg: ParserTrainingSettings, train: RenderSet, val: Mapping[str, RenderSet], seed: int):
        super().__init__()
        self.cfg, self.train_set, self.val_sets, self.seed = cfg, train, dict(val), seed

    def _loader(self, renders: RenderSet, sampler: PairBatches) -> torch.utils.data.DataLoader:
        # Its own generator: making an iterator draws a base seed, which must not move torch's global stream (dropout).
        return torch.utils.data.DataLoader(RenderPairs(renders), batch_size=None, sampler=sampler, collate_fn=_as_is,
                                           generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.train_set, PairBatches(self.train_set.pairs, self.cfg.batch_size, seed=self.seed))

    def val_dataloader(self) -> list[torch.utils.data.DataLoader]:
        return [self._loader(r, PairBatches(r.pairs, PREDICT_BATCH, limit=self.cfg.curve_samples)) for r in self.val_sets.values()]


class ParserModule(TrainingHistory):
    """OverlayParser + AdamW (norms and biases not decayed) with warmup + cosine decay; validation adds curve points.

    A fresh parser of cfg.model, or `start_from` (fine-tuning a trained one: models/overlay_parser/adapt.py);
    the cosine reaches 0 after `total_steps` (default: every epoch's steps); `label` starts its epoch lines.
    """

    def __init__(self, cfg: ParserTrainingSettings, steps_per_epoch: int, val_names: Sequence[str], *,
                 start_from: OverlayParser | None = None, total_steps: int | None = None, label: str = "parser_train"):
        super().__init__()
        self.parser = OverlayParser(cfg.model) if start_from is None else start_from
        self.cfg, self.steps_per_epoch, self.val_names = cfg, steps_per_epoch, tuple(val_names)
        self.total_steps = steps_per_epoch * cfg.epochs if total_steps is None else total_steps
        self.label = label
        self.trained_s = 0.0  # wall seconds inside this run's training epochs (validation excluded)
        self.trained_steps = 0  # optimizer steps this run took (not those a resumed checkpoint had)
        self._epoch_started = self._last_batch_end = 0.0
        self._val: dict[int, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {}

    def training_step(self, batch: tuple[ParserBatch, torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pairs, labels, observed = batch
        loss, _ = parser_loss(self.parser(pairs), labels, self.cfg.model.grid, observed)
        self.log("train/loss", loss, batch_size=len(labels))
        self.train_losses.append(loss.item())
        self.trained_steps += 1
        return loss

    def on_train_epoch_start(self) -> None:
        self._epoch_started = self._last_batch_end = time.perf_counter()

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self._last_batch_end = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        self.trained_s += self._last_batch_end - self._epoch_started
        mean = np.mean(self.train_losses[-self.steps_per_epoch :])
        print(f"{self.label}: epoch {self.current_epoch + 1}/{self.cfg.epochs} loss {mean:.4f}", flush=True)

    def on_validation_epoch_start(self) -> None:
        self._val = {}

    def validation_step(self, batch: tuple[ParserBatch, torch.Tensor, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        pairs, labels, observed = batch
        reading = decode_outputs(self.parser(pairs), self.cfg.model.grid)
        preds, truths, seen = self._val.setdefault(dataloader_idx, ([], [], []))
        preds.append(reading.actions)
        truths.append(labels.cpu().numpy())
        seen.append(observed.cpu().numpy())

    def on_validation_epoch_end(self) -> None:
        point: dict[str, float] = {}
        for k, (preds, truths, seen) in sorted(self._val.items()):
            scores = score(np.concatenate(preds), np.concatenate(truths), np.concatenate(seen))
            point.update({f"{self.val_names[k]}_{m}": scores[m] for m in CURVE_METRICS})
        self.log_dict({f"val/{name}": value for name, value in point.items()}, add_dataloader_idx=False)
        if not self.trainer.sanity_checking:
            self.val_history.append({"step": float(self.global_step), **point})

    def curves(self) -> dict[str, list[float]]:
        """Each validation set's curve metrics, one point per validation (epoch)."""
        names = [f"{split}_{m}" for split in self.val_names for m in CURVE_METRICS]
        return {name: [point[name] for point in self.val_history] for name in names}

    def configure_optimizers(self):
        cfg = self.cfg
        decay = [p for p in self.parser.parameters() if p.ndim > 1]
        no_decay = [p for p in self.parser.parameters() if p.ndim <= 1]  # norms and biases are not decayed
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine_factor(step, cfg.warmup_steps, self.total_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def fit_parser(cfg: ParserTrainingSettings, sets: Mapping[str, RenderSet], val_names: Sequence[str], seed: int, out_dir: Path,
               record: Mapping[str, Any], label: str = "parser_train") -> tuple[ParserModule, int]:
    """Fit (or resume) the parser on sets["train"], validating on sets[val_names] after every epoch; returns the module and the step resumed from.

    `record` is the config less its runtime-only knobs: with the seed and the renders' digests it is the
    fingerprint a checkpoint under out_dir/checkpoints must match to be resumed (models/training.py).
    Same trajectory as a plain loop: torch seeded before the parser is built, the pairs' order
    from its own seeded stream, one AdamW step and one scheduler step per batch.
    """
    pl.seed_everything(seed, workers=True)
    checkpoint_dir = out_dir / CHECKPOINT_DIR
    renders = {split: render_digest(r) for split, r in sets.items()}
    resume, resumed_from = start_or_resume(checkpoint_dir, fingerprint({**record, "seed": seed, "renders": renders}),
                                           {"config": asdict(cfg), "seed": seed})  # type: ignore[call-overload]
    data = RenderDataModule(cfg, sets["train"], {split: sets[split] for split in val_names}, seed)
    module = ParserModule(cfg, steps_per_epoch=max(1, sets["train"].pairs // cfg.batch_size), val_names=val_names, label=label)
    logger = stage_logger()
    trainer = pl.Trainer(
        max_epochs=cfg.epochs, accelerator="cpu", devices=1, precision="32-true", deterministic=True,
        callbacks=[last_checkpoint(checkpoint_dir, every_n_epochs=1), TrainingProgress(label)], logger=logger if logger else False,
        log_every_n_steps=LOG_EVERY_N_STEPS, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, default_root_dir=out_dir,
    )
    trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    return module, resumed_from
