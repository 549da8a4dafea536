"""The fine-tuning recipe on the `tiny` geometry: start from a saved policy, train a few CPU steps in each mode
(with EMA, as the train stage does), and check what moved, what the export is, and what is refused."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import DataLoader

from models.policy import Augmentation, FlowMatchingPolicy, PolicyConfig, load_policy, policy_profile, save_policy
from models.policy.finetune import lora_targets, trainable_count
from models.policy.training import PolicyModule, policy_ema
from padflow.actions import ACTION_DIM

MODELS = yaml.safe_load((Path(__file__).resolve().parents[3] / "params.yaml").read_text())["train"]["models"]
TINY = policy_profile(MODELS, "tiny")
STEPS = 3
BATCH = 4


@dataclass(frozen=True)
class Settings:
    """The train stage's settings PolicyModule reads (models/policy/training.py PolicyTrainingSettings)."""

    trainable: str = "all"
    model: str = "tiny"
    lora_rank: int = 4
    lora_alpha: float = 4.0
    max_steps: int = STEPS
    lr: float = 1e-2
    warmup_share: float = 0.0
    decay_share: float = 0.0
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.001
    betas: tuple[float, float] = (0.9, 0.95)
    sample_steps: int = 2
    val_chunk_samples: int = 1
    augmentation: Augmentation = field(default_factory=Augmentation)


def batches() -> list[dict[str, torch.Tensor]]:
    rng = np.random.default_rng(0)
    actions = np.zeros((STEPS * BATCH, TINY.action_horizon, ACTION_DIM), np.float32)
    actions[..., :17] = rng.random(actions[..., :17].shape) < 0.3
    actions[..., 17:] = rng.uniform(-1, 1, actions[..., 17:].shape)
    images = rng.integers(0, 255, (STEPS * BATCH, TINY.image_size, TINY.image_size, 3), dtype=np.uint8)
    return [{"images": torch.from_numpy(images[i : i + BATCH]), "actions": torch.from_numpy(actions[i : i + BATCH])}
            for i in range(0, STEPS * BATCH, BATCH)]


@pytest.fixture(scope="module")
def init_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    return save_policy(FlowMatchingPolicy(TINY), tmp_path_factory.mktemp("init") / "policy")


def fine_tune(init: Path, trainable: str, policy_cfg: PolicyConfig = TINY) -> PolicyModule:
    """STEPS optimizer steps from `init` with EMA, as tasks/train.py runs them; the module then holds the EMA weights."""
    pl.seed_everything(0)
    module = PolicyModule(policy_cfg, Settings(trainable=trainable), np.zeros(ACTION_DIM, np.float32), init=init)
    trainer = pl.Trainer(max_steps=STEPS, accelerator="cpu", deterministic=True, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[policy_ema(0.98)])
    trainer.fit(module, train_dataloaders=DataLoader(batches(), batch_size=None))
    return module


def changed_tensors(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    assert before.keys() == after.keys()
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("trainable", ["all", "freeze_vision", "freeze_vision_mixer", "lora"])
def test_each_mode_changes_only_what_it_trains_and_exports_a_plain_policy(init_dir: Path, tmp_path: Path, trainable: str):
    start = load_policy(init_dir).state_dict()
    module = fine_tune(init_dir, trainable)
    optimized = sum(p.numel() for group in module.configure_optimizers()["optimizer"].param_groups for p in group["params"])
    assert optimized == trainable_count(module.policy)
    assert (optimized == sum(p.numel() for p in module.policy.parameters())) == (trainable == "all")

    exported = load_policy(save_policy(module.export_policy(), tmp_path / "export"))
    assert type(exported) is FlowMatchingPolicy and exported.cfg == TINY
    changed = changed_tensors(start, exported.state_dict())
    floats = {k for k, v in start.items() if v.is_floating_point()}
    context = ("vision.", "vision_proj.", "mixer.", "mixer_norm.")
    expected = {
        "all": floats,
        "freeze_vision": {k for k in floats if not k.startswith("vision.")},
        "freeze_vision_mixer": {k for k in floats if not k.startswith(context)},
        "lora": {f"{name}.weight" for name in lora_targets(FlowMatchingPolicy(TINY))},
    }[trainable]
    assert changed == expected


def test_lora_export_acts_as_the_trained_adapters_do(init_dir: Path):
    module = fine_tune(init_dir, "lora")
    frames = torch.rand(2, 3, TINY.image_size, TINY.image_size) * 2 - 1
    noise = torch.randn(2, TINY.action_horizon, TINY.action_dim)
    with torch.no_grad():
        adapted = module.policy.eval().denoise(frames, noise, steps=2)
        merged = module.export_policy().eval().denoise(frames, noise, steps=2)
    assert torch.allclose(adapted, merged, atol=1e-5)
    targets = lora_targets(FlowMatchingPolicy(TINY))
    assert any(t.startswith("vision.") for t in targets) and any(t.startswith("mixer.") for t in targets)
    assert any(t.startswith("dit.") for t in targets)


def test_an_init_of_another_architecture_is_refused_naming_the_field(tmp_path: Path):
    wider = save_policy(FlowMatchingPolicy(replace(TINY, dit_width=48, dit_heads=2)), tmp_path / "wider")
    with pytest.raises(ValueError, match=r"train.init_from: .*wider.*train.models.tiny \(dit_width: 48 vs 32"):
        PolicyModule(TINY, Settings(), np.zeros(ACTION_DIM, np.float32), init=wider)
    with pytest.raises(ValueError, match=r"train.init_from: .*nowhere/policy_config.json: missing"):
        PolicyModule(TINY, Settings(), np.zeros(ACTION_DIM, np.float32), init=tmp_path / "nowhere")


def test_the_blind_arm_starts_from_the_same_init(init_dir: Path):
    """frame_input (and the loss's time draw) are not architecture: the blind arm loads the seeing policy's weights."""
    blind = replace(TINY, frame_input="blind", time_alpha=2.0)
    module = PolicyModule(blind, Settings(trainable="freeze_vision"), np.zeros(ACTION_DIM, np.float32), init=init_dir)
    assert changed_tensors(load_policy(init_dir).state_dict(), module.policy.state_dict()) == set()
