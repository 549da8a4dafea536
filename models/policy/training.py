"""Training the policy with Lightning: the LightningModule (AdamW, warmup-stable-decay schedule, the
validation figures) and the EMA callback (policy_ema) that tasks/train.py wires to the chunk data and the checkpoints.

Validation scores the weights Lightning validates with (the EMA weights, under
policy_ema): the flow loss at fixed noise, and on K sampled chunks per validation chunk
the button F1 (presses of each sample counted) and the stick MSE (of the samples' mean), each
beside the 'predict the training mean action' baseline. A batch's `observed` mask (B, 21)
(padflow.tables: controls the overlay did not show) masks the loss, and the figures count observed
cells only: an unobserved control is neither a press nor a release.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from lightning.pytorch.callbacks import WeightAveraging
from torch.optim.swa_utils import get_ema_multi_avg_fn

from models.policy.configuration import PolicyConfig
from models.policy.finetune import Trainable, merged_policy, set_trainable, start_from
from models.policy.modeling import FlowMatchingPolicy
from models.policy.processor import Augmentation, augment, to_model_input
from models.training import TrainingHistory
from padflow.actions import AXIS_SLICE, BUTTON_SLICE


class PolicyTrainingSettings(Protocol):
    """What PolicyModule reads of the train stage's config (tasks/train.py TrainConfig)."""

    max_steps: int
    lr: float
    warmup_share: float
    decay_share: float
    min_lr_ratio: float
    weight_decay: float
    betas: tuple[float, float]
    sample_steps: int
    val_chunk_samples: int
    augmentation: Augmentation
    model: str  # the train.models entry, named in errors
    trainable: Trainable
    lora_rank: int
    lora_alpha: float


class PrecisionSettings(Protocol):
    precision: str  # auto | 32-true | bf16-mixed | 16-mixed
    accelerator: str


def policy_ema(decay: float) -> WeightAveraging:
    """The EMA of the policy's weights, updated after every optimizer step: Lightning's WeightAveraging with torch's
    lerp EMA over parameters only.

    Lightning's EMAWeightAveraging does the same with a fixed update, decay·ema + (1 - decay)·w, over buffers too.
    That update rounds a weight that never moves off itself by an ulp now and then; lerp leaves it exact,
    so a frozen part of a fine-tune (finetune.py) exports bit for bit what it started from. And the
    policy's buffers are constants, while averaging SigLIP's integer position_ids truncates them (at
    decay 0.9999, 46 of 256 ids come out one lower from the first update on).
    """
    return WeightAveraging(use_buffers=False, multi_avg_fn=get_ema_multi_avg_fn(decay))


def wsd_lr_factor(step: int, total: int, warmup_share: float, decay_share: float, min_ratio: float) -> float:
    """Warmup-stable-decay multiplier of the base learning rate at optimizer step `step`."""
    warmup = round(total * warmup_share)
    decay = round(total * decay_share)
    if step < warmup:
        return (step + 1) / warmup
    decay_start = total - decay
    if step < decay_start:
        return 1.0
    done = min((step - decay_start + 1) / max(decay, 1), 1.0)
    return 1.0 - (1.0 - min_ratio) * done


def button_f1(tp: float, fp: float, fn: float) -> float:
    """F1 of pressed buttons over all (chunk, timestep, button) cells; 0 when nothing is pressed or predicted."""
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


class PolicyModule(TrainingHistory):
    """FlowMatchingPolicy + AdamW/WSD; validation reports flow loss, button F1 and stick MSE of sampled chunks.

    init: a policy folder whose weights it starts from (finetune.start_from); cfg.trainable says what trains."""

    def __init__(self, policy_cfg: PolicyConfig, cfg: PolicyTrainingSettings, mean_action: np.ndarray, init: Path | None = None):
        super().__init__()
        self.policy = FlowMatchingPolicy(policy_cfg)
        if init is not None:
            start_from(self.policy, init, cfg.model)
        set_trainable(self.policy, cfg.trainable, cfg.lora_rank, cfg.lora_alpha)
        self.cfg = cfg
        self.register_buffer("mean_action", torch.as_tensor(mean_action, dtype=torch.float32), persistent=False)  # (21,)
        self._val_sums: dict[str, float] = {}

    def _frames(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        """uint8 (B, S, S, 3) → (B, 3, S, S) in [-1, 1], augmented when training."""
        frames = to_model_input(images)
        return augment(frames, self.cfg.augmentation) if training else frames

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.policy.loss({"frames": self._frames(batch["images"], True), "actions": batch["actions"], "observed": _observed(batch)})
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["actions"]))
        self.train_losses.append(float(loss.detach()))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sums = dict.fromkeys(("loss", "n", "tp", "fp", "fn", "stick_se", "stick_n", "base_tp", "base_fp",
                                        "base_fn", "base_stick_se"), 0.0)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        frames, labels, observed = self._frames(batch["images"], False), batch["actions"], _observed(batch)
        b = len(labels)
        seen = observed[:, None, :].expand_as(labels)  # (B, H, 21): cells that are labels
        # Fixed noise and times per batch, so validation moves only when the weights do; the
        # forked RNG leaves the training stream as it was.
        with torch.random.fork_rng(devices=[frames.device] if frames.device.type == "cuda" else []):
            torch.manual_seed(batch_idx)
            loss = self.policy.loss({"frames": frames, "actions": labels, "observed": observed})
            # (K, B, H, 21). Buttons are scored on every sampled chunk (the presses the policy would
            # make, counted over K draws: one draw of rare presses is mostly luck); sticks on the
            # mean of the K chunks (the policy's expected stick, what MSE rewards).
            chunks = torch.stack([self.policy.sample(frames, steps=self.cfg.sample_steps) for _ in range(self.cfg.val_chunk_samples)])
        base = self.mean_action.expand_as(labels)
        truth = labels[..., BUTTON_SLICE] > 0.5
        scored, scored_axes = seen[..., BUTTON_SLICE], seen[..., AXIS_SLICE]
        s = self._val_sums
        s["loss"] += float(loss) * b
        s["n"] += b
        k = len(chunks)
        for prefix, pressed, weight in (("", chunks[..., BUTTON_SLICE] > 0.5, 1.0 / k), ("base_", base[..., BUTTON_SLICE] > 0.5, 1.0)):
            s[prefix + "tp"] += weight * float((pressed & truth & scored).sum())
            s[prefix + "fp"] += weight * float((pressed & ~truth & scored).sum())
            s[prefix + "fn"] += weight * float((~pressed & truth & scored).sum())
        for prefix, sticks in (("", chunks[..., AXIS_SLICE].mean(0)), ("base_", base[..., AXIS_SLICE])):
            s[prefix + "stick_se"] += float((((sticks - labels[..., AXIS_SLICE]) ** 2) * scored_axes).sum())
        s["stick_n"] += float(scored_axes.sum())

    def on_validation_epoch_end(self) -> None:
        keys = sorted(self._val_sums)
        totals = torch.tensor([self._val_sums[k] for k in keys], dtype=torch.float64, device=self.device)
        s = dict(zip(keys, self.trainer.strategy.reduce(totals, reduce_op="sum").tolist()))  # over all devices
        if not s.get("n"):
            return
        stick_n = s["stick_n"] or float("nan")  # no observed stick in validation: no stick figure
        metrics = {
            "val/loss": s["loss"] / s["n"],
            "val/button_f1": button_f1(s["tp"], s["fp"], s["fn"]),
            "val/stick_mse": s["stick_se"] / stick_n,
            "val/baseline_button_f1": button_f1(s["base_tp"], s["base_fp"], s["base_fn"]),
            "val/baseline_stick_mse": s["base_stick_se"] / stick_n,
        }
        self.log_dict(metrics)
        if not self.trainer.sanity_checking:
            self.val_history.append({"step": float(self.global_step), **metrics})

    def export_policy(self) -> FlowMatchingPolicy:
        """The policy to save: LoRA adapters merged into their weights (finetune.merged_policy)."""
        return merged_policy(self.policy)

    def configure_optimizers(self):
        cfg = self.cfg
        trained = [p for p in self.policy.parameters() if p.requires_grad]  # frozen weights get no optimizer state
        optimizer = torch.optim.AdamW(trained, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

        def factor(step: int) -> float:
            return wsd_lr_factor(step, cfg.max_steps, cfg.warmup_share, cfg.decay_share, cfg.min_lr_ratio)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _observed(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The batch's (B, 21) observed mask; every control observed when the batch has none."""
    if "observed" in batch:
        return batch["observed"].bool()
    labels = batch["actions"]
    return torch.ones((labels.shape[0], labels.shape[-1]), dtype=torch.bool, device=labels.device)


def resolve_precision(cfg: PrecisionSettings) -> str:
    """Lightning precision: `auto` = bf16-mixed on a GPU that has bf16, else 32-true."""
    if cfg.precision != "auto":
        return cfg.precision
    cuda = cfg.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if cuda and torch.cuda.is_bf16_supported() else "32-true"
