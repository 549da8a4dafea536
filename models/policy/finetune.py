"""Fine-tuning the policy: start from saved weights (`train.init_from`) and choose what trains (`train.trainable`).

The one way a training run starts from weights other than a fresh init: the train stage (tasks/train.py,
both arms) and the transfer experiment's fine-tuned arm (padflow/experiments/transfer.py) reach it through
PolicyModule (training.py). The start is any policy folder `save_policy` wrote, which includes what
`padflow policy import-nitrogen ng.pt --out DIR` writes for the released NitroGen checkpoint (release.py).

What trains, and why each mode exists:

    all                  every weight. The default, and the only sensible mode from a random init; from a
                         checkpoint it adapts most, and forgets most on a small data set.
    freeze_vision        everything but the SigLIP vision tower (64 % of the release's weights). The tower
                         was pre-trained on far more pictures than a fine-tuning set holds, and training
                         it on a few games risks fitting them at the cost of the rest; frozen, it also
                         needs no backward pass (no activations kept), the largest saving in memory and time.
    freeze_vision_mixer  only the action head (DiT, time embedding, action encoder and decoder): the image
                         context stays what the checkpoint computes. For a game whose pictures the
                         checkpoint already reads well but whose controls differ.
    lora                 low-rank adapters (peft's LoRA, Hu et al. 2021) on the attention projections of the
                         vision tower, the mixer and the DiT; every original weight frozen. About 1 % of
                         the weights train (rank 16 on the release), every part of the network can
                         still move, and the update is low-rank by construction, the usual guard
                         against forgetting what the checkpoint knew. The export merges the adapters into their weights
                         (`merged_policy`), so it is a plain FlowMatchingPolicy that load_policy reads.

Frozen weights have requires_grad False and PolicyModule gives the optimizer only the others.
The EMA (training.policy_ema) still averages every weight; it averages by lerp, which leaves a frozen weight
exactly itself.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path
from typing import Literal, get_args

from peft import LoraConfig
from peft.functional import inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from models.io import read_saved, state_dict_mismatch
from models.policy.configuration import PolicyConfig
from models.policy.modeling import CONFIG_FILE, SAVED_POLICY, Attention, FlowMatchingPolicy, build_meta_policy

Trainable = Literal["all", "freeze_vision", "freeze_vision_mixer", "lora"]
TRAINABLE_MODES: tuple[str, ...] = get_args(Trainable)
# PolicyConfig fields that say how a policy is trained or fed, not what its weights compute: an init folder may
# differ from the trained model entry in these (the blind arm's frame_input, the time draw of the loss, and the
# vision folder the init weights replace anyway).
NOT_ARCHITECTURE = ("pretrained", "frame_input", "time_alpha", "time_beta", "time_cutoff")
LORA_ADAPTER = "default"  # peft's adapter name; one adapter per run
DEFAULT_LORA_RANK = 16  # train.lora_rank's default (tasks/train.py), also what `padflow policy info` counts with
PADFLOW_ATTENTION_PROJECTIONS = ("query", "key_value", "out")  # modeling.Attention, in the mixer and DiT blocks
# transformers' SiglipAttention / Siglip2Attention of every vision encoder layer (the release's attention-pool
# head, built but unused by the policy, gets no adapter)
VISION_ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
VISION_LAYERS = "vision.model.encoder.layers."


def architecture_differences(found: PolicyConfig, wanted: PolicyConfig) -> list[str]:
    """'field: found vs wanted' for every field that changes the weights' shapes or what they compute."""
    a, b = asdict(found), asdict(wanted)
    return [f"{k}: {a[k]!r} vs {b[k]!r}" for k in a if k not in NOT_ARCHITECTURE and a[k] != b[k]]


def start_from(policy: FlowMatchingPolicy, folder: Path, model: str) -> None:
    """Load the policy folder's weights into `policy`; ValueError when its architecture differs from train.models.`model`."""
    try:
        found, state = read_saved(SAVED_POLICY, folder)
    except ValueError as exc:
        raise ValueError(f"train.init_from: {exc}") from None
    differences = architecture_differences(found, policy.cfg)
    if differences:
        raise ValueError(f"train.init_from: {folder} is a policy of another architecture than train.models.{model} "
                         f"({'; '.join(differences)}, folder vs model); fine-tuning starts from weights of the same network")
    problems = state_dict_mismatch(policy.state_dict(), state)
    if problems:
        raise ValueError(f"train.init_from: {folder / SAVED_POLICY.weights_file} does not fit train.models.{model} ({problems})")
    policy.load_state_dict(state, strict=True)


def weights_digest(folder: Path) -> str | None:
    """The SHA-256 of an init folder's weights as its config record states it (None when unreadable: loading says
    why): what a resumed run must share with the run that wrote its checkpoint."""
    try:
        return json.loads((folder / CONFIG_FILE).read_text()).get("weights_sha256")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None


def frozen_parts(policy: FlowMatchingPolicy, mode: Trainable) -> list[nn.Module]:
    """The parts whose original weights stay as they are under `mode` (lora: all of them)."""
    vision = [policy.vision]
    context = [*vision, policy.vision_proj, policy.mixer, policy.mixer_norm]
    return {"all": [], "freeze_vision": vision, "freeze_vision_mixer": context, "lora": [policy]}[mode]


def lora_targets(policy: FlowMatchingPolicy) -> list[str]:
    """Full names of the Linear layers that get a LoRA adapter: every attention projection of the mixer, the DiT
    and the vision encoder."""
    names = []
    for name, module in policy.named_modules():
        if isinstance(module, Attention):
            names += [f"{name}.{p}" for p in PADFLOW_ATTENTION_PROJECTIONS]
        elif name.startswith(VISION_LAYERS) and name.endswith(".self_attn"):
            names += [f"{name}.{p}" for p in VISION_ATTENTION_PROJECTIONS]
    return names


def set_trainable(policy: FlowMatchingPolicy, mode: Trainable, lora_rank: int, lora_alpha: float) -> None:
    """Freeze what `mode` keeps (requires_grad False); for lora, add the adapters (initialised so the policy's output
    is unchanged: peft's B starts at zero), the only weights left trainable."""
    if mode not in TRAINABLE_MODES:
        raise ValueError(f"train.trainable: {mode!r} is not one of {', '.join(TRAINABLE_MODES)}")
    for part in frozen_parts(policy, mode):
        part.requires_grad_(False)
    if mode == "lora":
        config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=0.0, bias="none",
                            target_modules=lora_targets(policy))
        inject_adapter_in_model(config, policy, adapter_name=LORA_ADAPTER)


def merged_policy(policy: FlowMatchingPolicy) -> FlowMatchingPolicy:
    """`policy` as a plain FlowMatchingPolicy: a copy with every LoRA adapter merged into its base weight (the
    policy itself when it has none). Give it the EMA weights, as save_policy's caller does."""
    tuned = [name for name, module in policy.named_modules() if isinstance(module, BaseTunerLayer)]
    if not tuned:
        return policy
    plain = copy.deepcopy(policy)
    for name in tuned:
        layer = plain.get_submodule(name)
        layer.merge(adapter_names=[LORA_ADAPTER])
        parent, _, child = name.rpartition(".")
        setattr(plain.get_submodule(parent), child, layer.get_base_layer())
    if hasattr(plain, "peft_config"):  # peft's record of the adapters it added, gone with them
        del plain.peft_config
    return plain.requires_grad_(True)


def trainable_count(policy: nn.Module) -> int:
    """Parameters the optimizer updates."""
    return sum(p.numel() for p in policy.parameters() if p.requires_grad)


def trained_counts(cfg: PolicyConfig, lora_rank: int = DEFAULT_LORA_RANK) -> dict[str, int]:
    """Parameters each trainable mode trains, counted on meta-device builds (no memory, no init time)."""
    counts = {}
    for mode in TRAINABLE_MODES:
        policy = build_meta_policy(cfg)
        set_trainable(policy, mode, lora_rank, lora_alpha=float(lora_rank))  # alpha scales updates; it adds no weights
        counts[mode] = trainable_count(policy)
    return counts
