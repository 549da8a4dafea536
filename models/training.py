"""What both networks' Lightning training shares: the stage's MLflow logger, checkpoints that a rerun
resumes only when they belong to the same config and data, and the loss history kept inside them.

Layout under a stage's out_dir:

    checkpoints/last.ckpt   Lightning checkpoint; a rerun with the same fingerprint resumes from it
    checkpoints/run.json    the fingerprint (and config) the checkpoint belongs to

A fingerprint is a hash of what a checkpoint must share with the run that would resume it: the
config (less its runtime-only knobs), the seed and the data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import mlflow
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger

from padflow import progress
from padflow.io import write_json

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
RUN_RECORD = "run.json"
HISTORY_KEY = "padflow_history"  # where a checkpoint keeps the per-step losses and validation points


def fingerprint(record: Mapping[str, Any]) -> str:
    """16 hex digits of the sha256 of a JSON-able record (keys sorted, so order does not matter)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resumable_checkpoint(checkpoint_dir: Path, fingerprint: str) -> tuple[Path | None, int]:
    """(last.ckpt, its global step) when it belongs to this config and data (`fingerprint`), else (None, 0) after removing it.

    Lightning writes checkpoints through an fsspec transaction (temp file, then rename), so a
    killed run leaves the previous last.ckpt whole; one that still fails to load is discarded.
    """
    last, record = checkpoint_dir / LAST_CHECKPOINT, checkpoint_dir / RUN_RECORD
    if not last.is_file():
        return None, 0
    recorded = json.loads(record.read_text()).get("fingerprint") if record.is_file() else None
    if recorded == fingerprint:
        try:
            return last, int(torch.load(last, map_location="cpu", weights_only=True)["global_step"])
        except (RuntimeError, OSError, KeyError, EOFError, IndexError, pickle.UnpicklingError) as exc:  # torch.load's errors on a damaged file
            log.warning("%s is unreadable (%s); starting afresh", last, exc)
    else:
        log.warning("%s belongs to another config (%s, now %s); starting afresh", last, recorded, fingerprint)
    shutil.rmtree(checkpoint_dir)
    return None, 0


def start_or_resume(checkpoint_dir: Path, fingerprint: str, record: Mapping[str, Any]) -> tuple[Path | None, int]:
    """resumable_checkpoint, then write run.json (fingerprint + `record`) for the checkpoints this run writes."""
    resume, step = resumable_checkpoint(checkpoint_dir, fingerprint)
    write_json(checkpoint_dir / RUN_RECORD, {"fingerprint": fingerprint, **record})
    return resume, step


def last_checkpoint(checkpoint_dir: Path, *, every_n_train_steps: int | None = None, every_n_epochs: int | None = None):
    """Lightning's ModelCheckpoint keeping only checkpoints/last.ckpt, refreshed every n steps or epochs."""
    return ModelCheckpoint(dirpath=checkpoint_dir, save_last=True, save_top_k=0,
                           every_n_train_steps=every_n_train_steps, every_n_epochs=every_n_epochs)


def stage_logger():
    """Lightning's MLFlowLogger on the stage's open MLflow run (None outside a stage run)."""
    class StageRunLogger(MLFlowLogger):
        """Leaves the run open at the end: the stage shell owns it and logs the stage's results into it."""

        def finalize(self, status: str = "success") -> None:
            pass

    run = mlflow.active_run()
    if run is None:
        return None
    return StageRunLogger(run_id=run.info.run_id, tracking_uri=mlflow.get_tracking_uri(), log_model=False)


class TrainingHistory(pl.LightningModule):
    """A LightningModule that keeps every step's training loss and each validation's figures, in its checkpoints too.

    A resumed run's curves are therefore whole: `train_losses` (one per optimizer step) and
    `val_history` (one dict per validation, with its `step`) continue where the checkpoint left them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.train_losses: list[float] = []
        self.val_history: list[dict[str, float]] = []

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[HISTORY_KEY] = {"train_losses": self.train_losses, "val": self.val_history}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        history = checkpoint.get(HISTORY_KEY, {})
        self.train_losses = list(history.get("train_losses", []))
        self.val_history = list(history.get("val", []))


class TrainingProgress(pl.Callback):
    """Optimizer steps shown through padflow.progress (a bar on a terminal, a line every few seconds
    in a log); Lightning's own bar stays off: off a terminal it writes a line per refresh."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.shown: progress.Bar | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = trainer.max_steps if trainer.max_steps > 0 else None
        batches = trainer.num_training_batches
        if total is None and trainer.max_epochs and batches != float("inf"):
            total = int(trainer.max_epochs * batches) // max(trainer.accumulate_grad_batches, 1)
        self.shown = progress.bar(self.description, total=total, unit="steps").__enter__()
        self.shown.advance(trainer.global_step)  # a resumed run starts where its checkpoint left off

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.shown is not None and trainer.global_step > self.shown.done:
            self.shown.advance(trainer.global_step - self.shown.done, note=f"epoch {trainer.current_epoch + 1}")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close(None)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._close(type(exception))

    def _close(self, kind: type[BaseException] | None) -> None:
        if self.shown is not None:
            self.shown.__exit__(kind, None, None)
            self.shown = None
