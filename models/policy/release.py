"""The released NitroGen checkpoint (`ng.pt`) in padflow: its config, its parameter names, its import.

Reference: MineDojo/NitroGen at commit 3260844 (files below are in that repository). `ng.pt` is a
pickle dict {"model": state_dict, "ckpt_config": CkptConfig} (inference_session.py:41-76, cfg.py:21-26)
read by padflow only through safe_pickle.py. What the release computes, and the PolicyConfig field
that makes padflow's FlowMatchingPolicy compute the same (`release_config` sets them from the
checkpoint's own config; `nitrogen-release` in params.yaml is the same geometry for building anew):

    vision        SiglipVisionModel last_hidden_state, attention-pool head built but unused
                  (nitrogen.py:184-187, 361-365)                           vision_arch siglip, vision_head
    context       tokenizer pads the 256 image tokens on the left with zero tokens to
                  max_sequence_length (300) and nothing masks them (mm_tokenizers.py:189-214,
                  nitrogen.py:375-407; DiT ignores encoder_attention_mask, modules.py:154-159) context_length
    mixer         4 pre-LN blocks, LayerNorm eps 1e-5, GELU(tanh) FF, no final norm
                  (modules.py:56-174, 314-366)                              mixer_norm false, layer_norm_eps
    time          t floored into 1000 buckets (nitrogen.py:524, 602-603); DiT: diffusers Timesteps(256,
                  flip_sin_to_cos, shift 1) → Linear-SiLU-Linear (modules.py:17-27); action encoder:
                  W1(a) ‖ sin‖cos(bucket) → W2, swish → W3 (nitrogen.py:63-93, 123-167)   time_embedding buckets
    DiT           adaLN (scale, shift) order (modules.py:50-52), pre-MLP norm without affine
                  (DiTConfig.norm_elementwise_affine), every block cross-attends unless
                  interleave_self_attention (modules.py:216-240)            modulation, dit_mlp_norm_affine,
                                                                             dit_self_attention
    output        LayerNorm eps 1e-6, (shift, scale) from proj_out_1, proj_out_2, then the ReLU MLP
                  decoder (modules.py:242-295, nitrogen.py:111-120)          decoder relu_projected
    positions     learned table of max_seq_len (1024) rows added to the action tokens
                  (nitrogen.py:230-232, 451-456)                             position_rows
    actions       25 = 21 button tokens + 2 + 2 stick values in [0, 1], 18 steps (padflow.actions)
                                                                             action_layout nitrogen-release

Parameter names: `release_to_padflow` / `padflow_to_release` rename every tensor one to one, with
four kinds of reshaping: K and V projections fused into one (Attention.key_value), the release's
per-embodiment linears (W[0] is (in, out), nitrogen.py:97-108) transposed into nn.Linear, the
(1024, W) position table given a batch axis, and everything else copied. A tensor the mapping does
not name is an error, not a silent drop; the one release part padflow does not build (the
per-game embedding, nitrogen.py:248-255) is dropped and recorded, because unconditional play feeds
its zero row (padding_idx 0) which padflow's zero padding token already is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from models.card import write_card
from models.policy.configuration import PolicyConfig
from models.policy.modeling import TIME_BUCKETS, FlowMatchingPolicy, save_policy
from models.policy.safe_pickle import read_checkpoint
from padflow.actions import NITROGEN_RELEASE_DIM
from padflow.io import file_sha256, write_json

RELEASE_FORMAT = "nitrogen-release/ng.pt"
IMPORT_RECORD = "release_import.json"
DIFFUSERS_TIME_FEATURES = 256  # TimestepEncoder's Timesteps(num_channels=256), modules.py:20
# SigLIP base / large / so400m; heads cannot be read off the weights, other widths assume SigLIP's 64-wide heads.
SIGLIP_HEADS = {768: 12, 1024: 16, 1152: 16}
SIGLIP_HEAD_DIM = 64
DROPPED = ("game_embedding.weight",)

Transform = tuple[str, list[str], str]  # (kind, release keys, padflow key)


def release_pairs(cfg: PolicyConfig, vision_keys: list[str]) -> list[Transform]:
    """Every release tensor ↔ padflow tensor of a release-layout policy, in model order."""
    pairs: list[Transform] = [("copy", [k], "vision.model." + k.removeprefix("vision_encoder.")) for k in vision_keys]

    def block(release: str, padflow: str, modulated: bool, norm3: bool) -> None:
        norm1 = (f"{release}.norm1.linear", f"{padflow}.modulation") if modulated else (f"{release}.norm1", f"{padflow}.norm1")
        for p in ("weight", "bias"):
            pairs.append(("copy", [f"{norm1[0]}.{p}"], f"{norm1[1]}.{p}"))
            pairs.append(("copy", [f"{release}.attn1.to_q.{p}"], f"{padflow}.attn.query.{p}"))
            pairs.append(("kv", [f"{release}.attn1.to_k.{p}", f"{release}.attn1.to_v.{p}"], f"{padflow}.attn.key_value.{p}"))
            pairs.append(("copy", [f"{release}.attn1.to_out.0.{p}"], f"{padflow}.attn.out.{p}"))
            if norm3:
                pairs.append(("copy", [f"{release}.norm3.{p}"], f"{padflow}.norm2.{p}"))
            pairs.append(("copy", [f"{release}.ff.net.0.proj.{p}"], f"{padflow}.mlp.0.{p}"))
            pairs.append(("copy", [f"{release}.ff.net.2.{p}"], f"{padflow}.mlp.2.{p}"))

    for i in range(cfg.mixer_blocks):
        block(f"vl_self_attention_model.transformer_blocks.{i}", f"mixer.{i}", False, True)
    for i in range(cfg.dit_blocks):
        block(f"model.transformer_blocks.{i}", f"dit.{i}", True, cfg.dit_mlp_norm_affine)
    for p in ("weight", "bias"):
        pairs += [
            ("copy", [f"model.timestep_encoder.timestep_embedder.linear_1.{p}"], f"time_embed.0.{p}"),
            ("copy", [f"model.timestep_encoder.timestep_embedder.linear_2.{p}"], f"time_embed.2.{p}"),
            ("copy", [f"model.proj_out_1.{p}"], f"out_modulation.{p}"),
            ("copy", [f"model.proj_out_2.{p}"], f"out_projection.{p}"),
        ]
    for release, padflow in (("action_encoder.W1", "action_encoder.embed"), ("action_encoder.W2", "action_encoder.mix.0"),
                             ("action_encoder.W3", "action_encoder.mix.2"), ("action_decoder.layer1", "action_decoder.0"),
                             ("action_decoder.layer2", "action_decoder.2")):
        pairs += [("category_weight", [f"{release}.W"], f"{padflow}.weight"), ("category_bias", [f"{release}.b"], f"{padflow}.bias")]
    pairs.append(("position", ["position_embedding.weight"], "action_encoder.position"))
    return pairs


_TO_PADFLOW: dict[str, Callable[[list[torch.Tensor]], torch.Tensor]] = {
    "copy": lambda t: t[0], "kv": lambda t: torch.cat(t, dim=0),
    "category_weight": lambda t: _one_category(t[0]).T.contiguous(), "category_bias": lambda t: _one_category(t[0]),
    "position": lambda t: t[0].unsqueeze(0),
}
_TO_RELEASE: dict[str, Callable[[torch.Tensor], list[torch.Tensor]]] = {
    "copy": lambda t: [t], "kv": lambda t: list(t.chunk(2, dim=0)),
    "category_weight": lambda t: [t.T.contiguous().unsqueeze(0)], "category_bias": lambda t: [t.unsqueeze(0)],
    "position": lambda t: [t[0]],
}


def _one_category(t: torch.Tensor) -> torch.Tensor:
    if t.shape[0] != 1:
        raise ValueError(f"per-embodiment weights for {t.shape[0]} embodiments; padflow reads max_num_embodiments 1")
    return t[0]


def _vision_keys(state: Mapping[str, Any]) -> list[str]:
    return [k for k in state if k.startswith("vision_encoder.")]


def release_to_padflow(state: Mapping[str, torch.Tensor], cfg: PolicyConfig) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Release state_dict → padflow state_dict of `cfg`'s policy, and the release keys dropped (see module doc)."""
    pairs = release_pairs(cfg, _vision_keys(state))
    named = {k for _, keys, _ in pairs for k in keys}
    missing = [k for k in named if k not in state]
    unknown = [k for k in state if k not in named and k not in DROPPED]
    if missing or unknown:
        raise ValueError(f"not the released NitroGen layout: missing {sorted(missing)[:3]}, unexpected {sorted(unknown)[:3]}")
    out = {p: _TO_PADFLOW[kind]([state[k] for k in keys]) for kind, keys, p in pairs}
    return out, [k for k in DROPPED if k in state]


def padflow_to_release(state: Mapping[str, torch.Tensor], cfg: PolicyConfig) -> dict[str, torch.Tensor]:
    """padflow state_dict of a release-layout policy → the release's names and shapes (what ng.pt's "model" holds)."""
    vision = ["vision_encoder." + k.removeprefix("vision.model.") for k in state if k.startswith("vision.model.")]
    out: dict[str, torch.Tensor] = {}
    for kind, keys, p in release_pairs(cfg, vision):
        out.update(zip(keys, _TO_RELEASE[kind](state[p]), strict=True))
    return out


def _field(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise ValueError(f"ckpt_config: {where}.{key} missing")
    return mapping[key]


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"ckpt_config: {what}; padflow does not build that variant of the release")


def release_config(ckpt_config: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> tuple[PolicyConfig, dict[str, Any]]:
    """The PolicyConfig computing what the checkpoint computes, and the release settings padflow records beside it."""
    model = _field(ckpt_config, "model_cfg", "ckpt_config")
    dit = _field(model, "diffusion_model_cfg", "model_cfg")
    vl = _field(model, "vl_self_attention_cfg", "model_cfg")
    tokenizer = ckpt_config.get("tokenizer_cfg") or {}
    modality = ckpt_config.get("modality_cfg") or {}
    g = lambda m, k, where: _field(m, k, where)  # noqa: E731
    for name, sub in (("diffusion_model_cfg", dit), ("vl_self_attention_cfg", vl)):
        _require(g(sub, "activation_fn", name) == "gelu-approximate", f"{name}.activation_fn {sub['activation_fn']!r}")
        _require(sub.get("positional_embeddings") is None, f"{name}.positional_embeddings {sub.get('positional_embeddings')!r} "
                 "(sinusoidal in-block positions)")
        _require(sub.get("attention_bias", True) is True, f"{name}.attention_bias false")
    _require(dit.get("norm_type", "ada_norm") == "ada_norm", f"diffusion_model_cfg.norm_type {dit.get('norm_type')!r}")
    _require(float(dit.get("norm_eps", 1e-5)) == 1e-5, "diffusion_model_cfg.norm_eps differs from the mixer's fixed 1e-5")
    _require(int(model.get("num_timestep_buckets", TIME_BUCKETS)) == TIME_BUCKETS, "num_timestep_buckets != 1000")
    _require(bool(model.get("add_pos_embed", False)), "add_pos_embed false")
    _require(int(modality.get("frame_per_sample", 1)) == 1, "modality_cfg.frame_per_sample != 1 (padflow reads one frame)")
    _require(int(g(model, "action_dim", "model_cfg")) == NITROGEN_RELEASE_DIM, f"action_dim {model['action_dim']}")

    patch = state["vision_encoder.embeddings.patch_embedding.weight"]
    positions = state["vision_encoder.embeddings.position_embedding.weight"]
    vision_width, patch_size, grid = patch.shape[0], patch.shape[-1], round(positions.shape[0] ** 0.5)
    _require(vision_width in SIGLIP_HEADS or vision_width % SIGLIP_HEAD_DIM == 0, f"vision width {vision_width}")
    _require(int(model.get("vision_hidden_size", vision_width)) == vision_width, "vision_hidden_size != the vision tower's width")
    mixer_width = int(g(vl, "num_attention_heads", "vl")) * int(g(vl, "attention_head_dim", "vl"))
    dit_width = int(g(dit, "num_attention_heads", "dit")) * int(g(dit, "attention_head_dim", "dit"))
    _require(mixer_width == vision_width, "mixer width != vision width (the release has no projection between them)")
    _require(dit.get("cross_attention_dim") == mixer_width, "diffusion_model_cfg.cross_attention_dim != mixer width")
    _require(int(g(model, "hidden_size", "model_cfg")) == dit_width == int(g(dit, "output_dim", "dit")),
             "hidden_size, DiT width and DiT output_dim differ")
    ratios = {state[f"{p}.ff.net.0.proj.weight"].shape[0] / state[f"{p}.ff.net.0.proj.weight"].shape[1]
              for p in ("vl_self_attention_model.transformer_blocks.0", "model.transformer_blocks.0")}
    _require(len(ratios) == 1, f"mixer and DiT feed-forward ratios differ ({sorted(ratios)})")
    vision_layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("vision_encoder.encoder.layers."))
    cfg = PolicyConfig(
        image_size=grid * patch_size, patch_size=patch_size, vision_arch="siglip",
        vision_width=vision_width, vision_layers=vision_layers, vision_heads=SIGLIP_HEADS.get(vision_width, vision_width // SIGLIP_HEAD_DIM),
        vision_mlp=state["vision_encoder.encoder.layers.0.mlp.fc1.weight"].shape[0],
        mixer_blocks=int(g(vl, "num_layers", "vl")), mixer_width=mixer_width, mixer_heads=int(vl["num_attention_heads"]),
        dit_blocks=int(g(dit, "num_layers", "dit")), dit_width=dit_width, dit_heads=int(dit["num_attention_heads"]),
        mlp_ratio=ratios.pop(), time_features=DIFFUSERS_TIME_FEATURES,
        action_horizon=int(g(model, "action_horizon", "model_cfg")), action_dim=NITROGEN_RELEASE_DIM,
        action_layout="nitrogen-release", time_embedding="buckets", mixer_norm=False, layer_norm_eps=1e-5,
        dit_mlp_norm_affine=bool(dit.get("norm_elementwise_affine", False)), modulation="scale_shift",
        decoder="relu_projected", position_rows=int(model.get("max_seq_len", 1024)),
        context_length=int(tokenizer.get("max_sequence_length", 300)),
        dit_self_attention=bool(dit.get("interleave_self_attention", False)),
        vision_head="vision_encoder.head.probe" in state,
        time_alpha=float(model.get("noise_beta_alpha", 1.5)), time_beta=float(model.get("noise_beta_beta", 1.0)),
        time_cutoff=float(model.get("noise_s", 0.999)),
    )
    settings = {
        "euler_steps": model.get("num_inference_timesteps"), "vision_encoder_name": model.get("vision_encoder_name"),
        "experiment_name": ckpt_config.get("experiment_name"), "game_mapping": tokenizer.get("game_mapping_cfg") is not None,
    }
    return cfg, settings


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value if value is None or isinstance(value, (bool, int, float, str)) else repr(value)


def import_release(checkpoint: str | Path, out: str | Path) -> dict[str, Any]:
    """ng.pt → `out`/policy.safetensors + policy_config.json (load_policy reads it) + release_import.json.

    The file is read without executing anything (safe_pickle); the weights are loaded into the
    padflow policy with strict=True before anything is written. Returns the import record.
    """
    checkpoint = Path(checkpoint)
    payload = read_checkpoint(checkpoint)
    if not isinstance(payload, Mapping) or "model" not in payload or "ckpt_config" not in payload:
        found = sorted(payload) if isinstance(payload, Mapping) else type(payload).__name__
        raise ValueError(f"{checkpoint}: not the ng.pt layout (a dict with 'model' and 'ckpt_config'; found {found})")
    state = payload["model"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{checkpoint}: 'model' is not a state_dict of tensors")
    try:
        cfg, settings = release_config(payload["ckpt_config"], state)
        weights, dropped = release_to_padflow(state, cfg)
    except ValueError as exc:
        raise ValueError(f"{checkpoint}: {exc}") from None
    policy = FlowMatchingPolicy(replace(cfg, pretrained=None))
    policy.load_state_dict(weights, strict=True)
    save_policy(policy.eval(), out)
    record = {
        "format": RELEASE_FORMAT, "source": str(checkpoint), "tensors": len(state), "dropped": dropped,
        "parameters": sum(t.numel() for t in weights.values()), "release": settings,
        "ckpt_config": _json_safe(payload["ckpt_config"]),
    }
    write_json(Path(out) / IMPORT_RECORD, record)
    write_card(
        Path(out), title="NitroGen release policy, converted by padflow",
        summary=(f"The released NitroGen checkpoint `{checkpoint.name}` read without executing its pickle and mapped onto "
                 f"padflow's policy ({record['parameters']:,} parameters; release tensors dropped: {len(dropped)})."),
        data={"digest": file_sha256(checkpoint), "source": str(checkpoint),
              "training data": "NitroGen's own (40,000 h of overlay videos); see the release's model card",
              "licence": "the NitroGen release's licence applies to these weights"},
        params={"release": settings}, metrics={},
        intended_use="Evaluating and fine-tuning the released model in padflow (`padflow evaluate --checkpoint`).",
        limitations="Weights as released; padflow's evaluate stage measures its completion rates in padflow's simulator.",
        usage='```python\nfrom models.policy import FlowMatchingPolicy\npolicy = FlowMatchingPolicy.from_pretrained("this/folder")\n```',
        tags=["nitrogen", "flow-matching"],
    )
    return record
