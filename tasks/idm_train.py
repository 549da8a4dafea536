"""idm_train: fit the inverse dynamics model on the gate's accepted overlay-labelled chunks, export its EMA weights.

The wiring of models/idm/: the labelled windows (data.py: chunk index → decoded videos → one
window per kept chunk, split by video), the LightningModule (training.py), Lightning's EMA
callback and the checkpoint conventions both other networks share (models/training.py). The
index's `label_source` column, where it has one, is filtered to `label_sources` (overlay labels:
the IDM never trains on its own pseudo-labels). After training, the EMA IDM labels each
validation video whole (models.idm.processor.label_video, as pseudo_label does) and is scored
against the overlay-extracted labels (models.idm.scoring).

Outputs (out_dir):
    idm.safetensors, idm_config.json   EMA weights + config (models.idm.load_idm)
    split.json                         which videos trained and which validated
    scores.json                        the EMA IDM on its training and validation videos vs their overlay
                                       labels (models.idm.scoring); pseudo_label admits its labels into
                                       training by the validation figures
    checkpoints/last.ckpt, run.json    a rerun with the same config, seed and data resumes from it
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, field
from pathlib import Path
from typing import Annotated, Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from pydantic import Field
from torch.utils.data import DataLoader

from models.idm import IdmConfig, label_video, save_idm
from models.idm.modeling import press_weights
from models.idm.data import WindowDataset, load_labelled_videos, split_by_video
from models.idm.scoring import SCORES_FILE, score_videos
from models.idm.training import IdmModule
from models.training import (
    CHECKPOINT_DIR, LAST_CHECKPOINT, TrainingProgress, fingerprint, last_checkpoint, stage_logger, start_or_resume)
from padflow.config import config, from_mapping
from padflow.io import write_json
from padflow.stages import StageResult
from padflow.tables import data_fingerprint

RUNTIME_ONLY = ("torch_threads",)  # changes neither the model nor its training: a rerun still resumes


@config
class IdmTrainConfig:
    model: Annotated[IdmConfig, Field(description="the IDM's sizes and input (models/idm/configuration.py)")] = field(default_factory=IdmConfig)
    index: Annotated[str, Field(description="the gate's accepted-chunk index; its overlay-labelled chunks train the IDM")] = "data/gate/chunks.parquet"
    label_sources: Annotated[tuple[str, ...], Field(min_length=1, description=(
        "label sources of the index (column label_source) the IDM trains on; overlay: labels read off a controller overlay"))] = ("overlay",)
    max_steps: Annotated[int, Field(ge=1, description="optimizer steps; ~0.07 s each on 2 CPU cores at the default size")] = 1000
    batch_size: Annotated[int, Field(ge=1, description="windows per optimizer step")] = 16
    lr: Annotated[float, Field(gt=0, description="AdamW rate of the stable phase")] = 0.002
    warmup_share: Annotated[float, Field(ge=0, le=1, description="share of max_steps warming up linearly from 0")] = 0.05
    decay_share: Annotated[float, Field(ge=0, le=1, description="share of max_steps decaying linearly to 0 at the end")] = 0.3
    weight_decay: Annotated[float, Field(ge=0, description="AdamW decoupled weight decay")] = 0.01
    max_press_weight: Annotated[float, Field(ge=1, description=(
        "loss weight of a pressed button cell: released / pressed cells of that button in the training videos, "
        "at most this (presses are ~1 % of cells; unweighted, the loss is lowest pressing nothing); 1 = unweighted"))] = 10.0
    ema_decay: Annotated[float, Field(ge=0, lt=1, description=(
        "weight EMA (~50 steps at 0.98); the export and every reported figure use the EMA weights"))] = 0.98
    val_fraction: Annotated[float, Field(gt=0, lt=1, description="share of videos held out for validation (never straddling)")] = 0.25
    val_every_n_epochs: Annotated[int, Field(ge=1, description=(
        "epochs between validations (an epoch is one window per kept frame of the training videos)"))] = 1
    checkpoint_every_n_steps: Annotated[int, Field(ge=1, description="last.ckpt is refreshed every this many optimizer steps")] = 40
    torch_threads: Annotated[int, Field(ge=0, description="CPU threads for torch ops; 0 = torch's default")] = 0
    out_dir: Annotated[str, Field(description="the exported IDM, split.json and checkpoints")] = "data/idm"

    def __post_init__(self) -> None:
        if self.warmup_share + self.decay_share > 1:
            raise ValueError(f"warmup_share + decay_share must be within [0, 1], got {self.warmup_share} + {self.decay_share}")


def train_idm(cfg: IdmTrainConfig, root: Path, seed: int) -> dict[str, Any]:
    """Fit (or resume) the IDM, export its EMA weights; returns metrics, curves and paths."""
    pl.seed_everything(seed, workers=True)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    out_dir = root / cfg.out_dir
    checkpoint_dir = out_dir / CHECKPOINT_DIR
    record = {k: v for k, v in asdict(cfg).items() if k not in RUNTIME_ONLY}
    run_fingerprint = fingerprint({**record, "seed": seed, "data": data_fingerprint(root / cfg.index, root)})
    resume, resumed_from = start_or_resume(checkpoint_dir, run_fingerprint, {"config": asdict(cfg), "seed": seed})

    videos, skipped = load_labelled_videos(root / cfg.index, root, cfg.model.image_size, cfg.model.window, cfg.label_sources)
    train, val = split_by_video(videos, cfg.val_fraction, seed)
    split = {"train": [v.video_id for v in train], "val": [v.video_id for v in val], "skipped_tables": skipped}
    write_json(out_dir / "split.json", split)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(WindowDataset(train, cfg.model.window), batch_size=cfg.batch_size, shuffle=True, generator=generator)
    val_loader = DataLoader(WindowDataset(val, cfg.model.window, per_chunk=True), batch_size=cfg.batch_size) if val else None

    weights = None
    if cfg.max_press_weight > 1:
        labels = np.concatenate([v.actions for v in train])
        seen = np.concatenate([np.broadcast_to(v.observed, v.actions.shape) for v in train])
        weights = press_weights(labels, seen, cfg.max_press_weight)
    module = IdmModule(cfg.model, cfg, weights)
    logger = stage_logger()
    trainer = pl.Trainer(
        max_steps=cfg.max_steps, max_epochs=-1, accelerator="cpu", devices=1, deterministic=True,
        callbacks=[EMAWeightAveraging(decay=cfg.ema_decay), last_checkpoint(checkpoint_dir, every_n_train_steps=cfg.checkpoint_every_n_steps),
                   TrainingProgress("idm_train")],
        logger=logger if logger else False, check_val_every_n_epoch=cfg.val_every_n_epochs, log_every_n_steps=10,
        limit_val_batches=1.0 if val_loader else 0, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, default_root_dir=out_dir,
    )
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=resume, weights_only=True)
    trainer.save_checkpoint(checkpoint_dir / LAST_CHECKPOINT, weights_only=False)
    # After fit the module holds the EMA weights (EMAWeightAveraging swaps them in at the end).
    save_idm(module.idm, out_dir)
    scored = {"train": train, "val": val}
    scores: dict[str, Any] = {}
    metrics: dict[str, float] = {
        "global_step": int(trainer.global_step), "resumed_from_step": resumed_from,
        "train_videos": len(train), "val_videos": len(val), "skipped_tables": len(skipped),
        "train_windows": len(train_loader.dataset), "parameters": sum(p.numel() for p in module.idm.parameters()),
        "final_train_loss": round(float(np.mean(module.train_losses[-10:])), 6) if module.train_losses else math.nan,
    }
    for name, group in scored.items():
        if not group:
            continue
        # Each video labelled whole, exactly as pseudo_label labels an overlay-free video.
        s = score_videos((label_video(module.idm, v.frames)[0], v.actions, v.observed) for v in group)
        scores[name] = s
        metrics.update({f"{name}_button_accuracy": s["button_accuracy"], f"{name}_button_f1": s["button_f1"] or 0.0,
                        f"{name}_baseline_button_accuracy": s["baseline_button_accuracy"]})
        if s["stick_r2"] is not None:
            metrics[f"{name}_stick_r2"] = s["stick_r2"]
    write_json(out_dir / SCORES_FILE, {"versus": "overlay labels", "videos": {k: len(v) for k, v in scored.items()}, **scores})
    return {"metrics": metrics, "curves": {"train_loss": module.train_losses}, "out_dir": out_dir}


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: train the IDM on data/gate/chunks.parquet, export data/idm."""
    cfg = from_mapping(IdmTrainConfig, params.get("idm_train"), "idm_train")
    seed = int(params.get("seed", 0))
    result = train_idm(cfg, root, seed)
    out_dir = result["out_dir"]
    return StageResult(
        params={"idm_train": asdict(cfg), "seed": seed},
        metrics=result["metrics"],
        artifacts={"idm_train": out_dir / "split.json", "idm_train/model": out_dir / "idm_config.json"},
        curves=result["curves"],
    )
