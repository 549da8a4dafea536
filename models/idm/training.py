"""Training the IDM with Lightning: AdamW with the policy's warmup-stable-decay schedule, validation
figures of models.idm.scoring on the validation videos' windows (tasks/idm_train.py wires it to the
data, the EMA callback and the checkpoints of models/training.py)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from models.idm.configuration import IdmConfig
from models.idm.modeling import InverseDynamicsModel, idm_loss
from models.idm.scoring import ActionScore
from models.policy.training import wsd_lr_factor
from models.training import TrainingHistory


class IdmTrainingSettings(Protocol):
    """What IdmModule reads of the idm_train stage's config (tasks/idm_train.py IdmTrainConfig)."""

    max_steps: int
    lr: float
    warmup_share: float
    decay_share: float
    weight_decay: float


class IdmModule(TrainingHistory):
    """InverseDynamicsModel + AdamW/WSD; validation logs the loss, button accuracy and F1, mean stick R²."""

    def __init__(self, idm_cfg: IdmConfig, cfg: IdmTrainingSettings, press_weight: np.ndarray | None = None):
        super().__init__()
        self.idm = InverseDynamicsModel(idm_cfg)
        self.cfg = cfg
        # (17,) loss weight of a pressed cell (modeling.press_weights); None = unweighted
        self.register_buffer("press_weight", None if press_weight is None else torch.as_tensor(press_weight), persistent=False)
        self._val = ActionScore()
        self._val_loss: list[float] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits, axes = self.idm(batch["frames"])
        loss = idm_loss(logits, axes, batch["actions"], batch["observed"].bool(), self.press_weight)
        self.log("train/loss", loss, batch_size=len(batch["actions"]))
        self.train_losses.append(float(loss.detach()))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val, self._val_loss = ActionScore(), []

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits, axes = self.idm(batch["frames"])
        observed = batch["observed"].bool()
        self._val_loss.append(float(idm_loss(logits, axes, batch["actions"], observed, self.press_weight)))
        pred = torch.cat([torch.sigmoid(logits), axes], -1).flatten(0, 1).cpu().numpy()  # (B·W, 21)
        truth = batch["actions"].flatten(0, 1).cpu().numpy()
        # One mask per batch: the windows of a batch may come from videos with different masks.
        seen = observed.all(0).cpu().numpy()
        self._val.add(pred, truth, seen)

    def on_validation_epoch_end(self) -> None:
        if not self._val_loss:
            return
        s = self._val.summary()
        metrics = {"val/loss": float(np.mean(self._val_loss)), "val/button_accuracy": s["button_accuracy"] or 0.0,
                   "val/button_f1": s["button_f1"] or 0.0, "val/stick_r2": s["stick_r2"] if s["stick_r2"] is not None else float("nan")}
        self.log_dict(metrics)
        if not self.trainer.sanity_checking:
            self.val_history.append({"step": float(self.global_step), **metrics})

    def configure_optimizers(self):
        cfg = self.cfg
        optimizer = torch.optim.AdamW(self.idm.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

        def factor(step: int) -> float:
            return wsd_lr_factor(step, cfg.max_steps, cfg.warmup_share, cfg.decay_share, 0.0)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
