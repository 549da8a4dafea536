"""The flow-matching vision-action policy: one RGB frame → a chunk of future gamepad actions.

Read top to bottom:

    frame (B, 3, S, S)
      └─ vision: SigLIP-2 ViT ──────────────► image tokens (B, N, Wv), N = (S / patch)²
           └─ mixer: self-attention blocks ─► context (B, N, Wm)
                └─ per cross-attention block: K, V (B, heads, N, Wd / heads)   ← computed once per chunk
    noisy chunk x_t (B, H, 21), time t (B,) ─► time embedding (B, Wd)
      └─ action encoder MLP (+ time, position) ► action tokens (B, H, Wd)
           └─ DiT: blocks alternate cross-attention to the context and self-attention over
              action tokens, each attention input modulated by t (adaptive LayerNorm)
                └─ action decoder MLP ──────► velocity (B, H, 21)

Training is conditional flow matching (flow_matching.py); sampling integrates the velocity
from noise with Euler steps, reusing the image context across steps and computing every step's
time conditioning (time embedding, adaLN shift/scale: they depend on t alone) in one batched pass.

Actions are learned in model space (buttons as ±1, see processor.py; or the released checkpoint's
25-value layout, see action_space.py); `sample` returns unified actions either way. `save_policy` /
`load_policy` keep the weights as models/io.py does for both networks.

The fields of PolicyConfig that choose between padflow's design and the released NitroGen
checkpoint's (time_embedding, mixer_norm, modulation, decoder, ...) switch small parts below;
release.py cites the reference line behind each and maps the release's parameter names.

Vision backbone: transformers' Siglip2VisionModel (SigLIP-2 NaFlex). It takes pre-cut patches
plus their grid shape; at a fixed square input the patches are one reshape and the grid is a
constant, so the NaFlex interface costs nothing here. SigLIP-2's fixed-resolution checkpoints
(e.g. the 256-px large one NitroGen started from) are published in the SigLIP-1 layout, so
`vision_arch: siglip` builds transformers' SiglipVisionModel to load those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Siglip2VisionConfig, Siglip2VisionModel, SiglipVisionConfig, SiglipVisionModel

from models.io import SavedModel, load_pretrained, save_pretrained
from models.policy.configuration import PolicyConfig
from models.policy.action_space import from_model, labelled_dims, to_model
from models.policy.flow_matching import euler_sample, flow_loss, interpolate, sample_time
from padflow.actions import ACTION_DIM, ACTION_SCHEMA_VERSION

POLICY_FORMAT = "padflow-policy/1"
TIME_SCALE = 1000.0  # t in [0, 1] is scaled before the sinusoidal features, as in diffusion models
MAX_PERIOD = 10000.0  # longest wavelength of the sinusoidal time features
LAYER_NORM_EPS = 1e-6  # the output norm's, in padflow and the release alike
TIME_BUCKETS = 1000  # time_embedding "buckets": t is floored into this many integer steps


class Attention(nn.Module):
    """Multi-head attention whose keys/values can come from another sequence and be computed ahead."""

    def __init__(self, width: int, heads: int, source_width: int | None = None):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key_value = nn.Linear(source_width or width, 2 * width)
        self.out = nn.Linear(width, width)

    def keys_values(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, Ws) → K, V each (B, heads, N, W / heads)."""
        b, n, _ = source.shape
        kv = self.key_value(source).view(b, n, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        return kv[0], kv[1]

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        b, n, w = x.shape
        q = self.query(x).view(b, n, self.heads, -1).transpose(1, 2)  # (B, heads, n, W / heads)
        k, v = self.keys_values(x) if kv is None else kv
        y = F.scaled_dot_product_attention(q, k, v)  # (B, heads, n, W / heads)
        return self.out(y.transpose(1, 2).reshape(b, n, w))


def mlp(width_in: int, hidden: int, width_out: int, act: nn.Module | None = None) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width_in, hidden), act or nn.GELU(approximate="tanh"), nn.Linear(hidden, width_out))


class MixerBlock(nn.Module):
    """Pre-LayerNorm transformer block: self-attention over image tokens, then an MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=eps)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = mlp(width, int(width * mlp_ratio), width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DiTBlock(nn.Module):
    """Attention (cross to the image, or self over actions) on a time-modulated LayerNorm, then an MLP."""

    def __init__(self, width: int, heads: int, cross: bool, cfg: PolicyConfig):
        super().__init__()
        self.cross = cross
        self.scale_first = cfg.modulation == "scale_shift"
        self.norm1 = nn.LayerNorm(width, eps=cfg.layer_norm_eps, elementwise_affine=False)
        self.modulation = nn.Linear(width, 2 * width)  # time embedding → (shift, scale) of norm1, in cfg.modulation order
        self.attn = Attention(width, heads, cfg.mixer_width if cross else None)
        self.norm2 = nn.LayerNorm(width, eps=cfg.layer_norm_eps, elementwise_affine=cfg.dit_mlp_norm_affine)
        self.mlp = mlp(width, int(width * cfg.mlp_ratio), width)

    def modulate(self, time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Time embedding (R, W) → (shift, scale) of norm1, each (R, 1, W); t alone decides it (see StepConditioning)."""
        first, second = self.modulation(F.silu(time)).unsqueeze(1).chunk(2, dim=-1)
        return (second, first) if self.scale_first else (first, second)

    def forward(
        self, x: torch.Tensor, modulation: tuple[torch.Tensor, torch.Tensor], kv: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        shift, scale = modulation  # each (B, 1, W), from modulate
        h = self.norm1(x) * (1 + scale) + shift
        x = x + self.attn(h, kv if self.cross else None)
        return x + self.mlp(self.norm2(x))


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) times in [0, 1] → (B, dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = (t.float() * TIME_SCALE)[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def bucket_features(buckets: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) integer time buckets → (B, dim) cos‖sin, frequencies spaced over half - 1 (diffusers' flip_sin_to_cos,
    downscale_freq_shift=1: the release's timestep features)."""
    half = dim // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(half, device=buckets.device, dtype=torch.float32) / (half - 1))
    angles = buckets.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def bucket_token_features(buckets: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) integer time buckets → (B, dim) sin‖cos over half: what the release's action encoder reads."""
    half = dim // 2
    freqs = torch.exp(-torch.arange(half, device=buckets.device, dtype=torch.float32) * (math.log(MAX_PERIOD) / half))
    angles = buckets.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class ActionEncoder(nn.Module):
    """Noisy actions (B, H, D) and a time vector (B, Wd) → one token per timestep (B, H, Wd)."""

    def __init__(self, action_dim: int, width: int, position_rows: int):
        super().__init__()
        self.embed = nn.Linear(action_dim, width)
        self.mix = nn.Sequential(nn.Linear(2 * width, width), nn.SiLU(), nn.Linear(width, width))
        self.position = nn.Parameter(torch.randn(1, position_rows, width) * 0.02)  # the first H rows are used

    def forward(self, x_t: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        h = self.embed(x_t)  # (B, H, Wd)
        h = self.mix(torch.cat([h, time.unsqueeze(1).expand_as(h)], dim=-1))  # time enters every token, not only adaLN
        return h + self.position[:, : h.shape[1]]


class VisionEncoder(nn.Module):
    """SigLIP(-2) ViT: frames (B, 3, S, S) in [-1, 1] → image tokens (B, N, Wv)."""

    def __init__(self, cfg: PolicyConfig):
        super().__init__()
        self.cfg = cfg
        self.model = _load_pretrained_vision(cfg) if cfg.pretrained else _build_vision(cfg)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.cfg.vision_arch == "siglip":
            return self.model(pixel_values=frames).last_hidden_state
        b, c, s, _ = frames.shape
        p = self.cfg.patch_size
        grid = s // p
        # Cut patches the way Siglip2ImageProcessor does: row-major patches, each flattened (p, p, C).
        patches = frames.reshape(b, c, grid, p, grid, p).permute(0, 2, 4, 3, 5, 1).reshape(b, grid * grid, p * p * c)
        mask = torch.ones(b, grid * grid, dtype=torch.long, device=frames.device)
        shapes = torch.tensor([[grid, grid]], dtype=torch.long, device=frames.device).expand(b, 2)
        return self.model(pixel_values=patches, pixel_attention_mask=mask, spatial_shapes=shapes).last_hidden_state


def _vision_config(cfg: PolicyConfig):
    common = dict(
        hidden_size=cfg.vision_width, intermediate_size=cfg.vision_mlp, num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.vision_heads, patch_size=cfg.patch_size, vision_use_head=cfg.vision_head,
    )
    if cfg.vision_arch == "siglip":
        return SiglipVisionConfig(image_size=cfg.image_size, **common)
    return Siglip2VisionConfig(num_patches=cfg.image_tokens, **common)


def _build_vision(cfg: PolicyConfig) -> nn.Module:
    cls = SiglipVisionModel if cfg.vision_arch == "siglip" else Siglip2VisionModel
    return cls(_vision_config(cfg))


def _load_pretrained_vision(cfg: PolicyConfig) -> nn.Module:
    """Vision weights from a local folder (never the hub); its sizes must match the config."""
    folder = Path(str(cfg.pretrained))
    if not (folder / "config.json").is_file():
        raise ValueError(f"pretrained: {folder} is not a transformers model folder (no config.json)")
    cls = SiglipVisionModel if cfg.vision_arch == "siglip" else Siglip2VisionModel
    try:
        model = cls.from_pretrained(str(folder), local_files_only=True, vision_use_head=cfg.vision_head)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"pretrained: cannot load {cfg.vision_arch} vision weights from {folder}: {exc}") from None
    got, want = model.config, _vision_config(cfg)
    fields = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "patch_size"]
    fields += ["image_size"] if cfg.vision_arch == "siglip" else ["num_patches"]
    wrong = [f"{f}: folder {getattr(got, f)} vs config {getattr(want, f)}" for f in fields if getattr(got, f) != getattr(want, f)]
    if wrong:
        raise ValueError(f"pretrained: {folder} does not match the policy's vision sizes ({'; '.join(wrong)})")
    return model


@dataclass
class ImageContext:
    """What one frame contributes to every denoising step, computed once per chunk."""

    tokens: torch.Tensor  # (B, N, Wm) mixer output
    cross_kv: list[tuple[torch.Tensor, torch.Tensor]]  # per cross-attention block: K, V (B, heads, N, Wd / heads)

    def expand(self, b: int) -> ImageContext:
        """A one-row context shared by `b` rows (views, no copies; gradients sum over the rows)."""
        return ImageContext(self.tokens.expand(b, -1, -1), [(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in self.cross_kv])


@dataclass
class StepConditioning:
    """What the time t contributes to a velocity evaluation: it depends on t alone, not on x_t or the frame.

    The steps' times are known before sampling starts, so denoise computes all of them in one
    batched pass (R = steps·B rows: one matrix product per layer instead of a matrix-vector product
    per layer and step; at the release size nine 1024→2048 modulations and the time MLP) and slices a step's rows.
    """

    token_time: torch.Tensor  # (R, Wd) the action encoder's time input
    modulations: list[tuple[torch.Tensor, torch.Tensor]]  # per DiT block: (shift, scale) each (R, 1, Wd)
    out: tuple[torch.Tensor, torch.Tensor]  # out_norm's (shift, scale) each (R, 1, Wd)

    def rows(self, start: int, stop: int) -> StepConditioning:
        return StepConditioning(
            self.token_time[start:stop], [(s[start:stop], c[start:stop]) for s, c in self.modulations],
            (self.out[0][start:stop], self.out[1][start:stop]),
        )


class FlowMatchingPolicy(nn.Module):
    def __init__(self, cfg: PolicyConfig):
        super().__init__()
        self.cfg = cfg
        wm, wd = cfg.mixer_width, cfg.dit_width
        self.vision = VisionEncoder(cfg)
        self.vision_proj = nn.Linear(cfg.vision_width, wm) if cfg.vision_width != wm else nn.Identity()
        self.mixer = nn.ModuleList(
            MixerBlock(wm, cfg.mixer_heads, cfg.mlp_ratio, cfg.layer_norm_eps) for _ in range(cfg.mixer_blocks)
        )
        self.mixer_norm = nn.LayerNorm(wm, eps=LAYER_NORM_EPS) if cfg.mixer_norm else nn.Identity()
        bucketed = cfg.time_embedding == "buckets"
        self.time_embed = mlp(cfg.time_features, wd, wd, nn.SiLU() if bucketed else None)
        self.action_encoder = ActionEncoder(cfg.action_dim, wd, cfg.position_rows or cfg.action_horizon)
        self.dit = nn.ModuleList(
            DiTBlock(wd, cfg.dit_heads, cross=i % 2 == 0 or not cfg.dit_self_attention, cfg=cfg) for i in range(cfg.dit_blocks)
        )
        self.out_norm = nn.LayerNorm(wd, eps=LAYER_NORM_EPS, elementwise_affine=False)
        self.out_modulation = nn.Linear(wd, 2 * wd)  # time embedding → (shift, scale) of out_norm
        relu = cfg.decoder == "relu_projected"
        self.out_projection = nn.Linear(wd, wd) if relu else nn.Identity()
        self.action_decoder = mlp(wd, wd, cfg.action_dim, nn.ReLU() if relu else None)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> FlowMatchingPolicy:
        """The policy saved in `folder` (the train stage's export, `save_pretrained`), offline: `load_policy`."""
        return load_policy(folder, device)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Weights + config into `folder`: `save_policy` (the train stage adds its model card, README.md)."""
        return save_policy(self, folder)

    def encode_image(self, frames: torch.Tensor) -> ImageContext:
        """frames (B, 3, S, S) → image tokens, mixer, and the K/V of every cross-attention block."""
        s = self.cfg.image_size
        if frames.ndim != 4 or tuple(frames.shape[1:]) != (3, s, s):
            raise ValueError(f"frames must be (B, 3, {s}, {s}), got {tuple(frames.shape)}")
        b, blind = frames.shape[0], self.cfg.frame_input == "blind"
        if blind:  # a constant picture (mid-grey): the network is the same, the screen is gone
            # Every row would encode the same picture: encode it once and share it across the batch
            # (same numbers; what it saves: docs/results-evaluation.md, "Does the policy look at the screen?").
            frames = frames.new_zeros(1, 3, s, s)
        x = self.vision_proj(self.vision(frames))  # (B, N, Wm); one row when blind
        if self.cfg.context_length > x.shape[1]:  # zero tokens in front, attended to like the image's
            x = torch.cat([x.new_zeros(x.shape[0], self.cfg.context_length - x.shape[1], x.shape[2]), x], dim=1)
        for block in self.mixer:
            x = block(x)
        x = self.mixer_norm(x)
        context = ImageContext(x, [block.attn.keys_values(x) for block in self.dit if block.cross])
        return context.expand(b) if blind else context

    def time_conditioning(
        self, t: torch.Tensor, buckets: torch.Tensor | None = None, dtype: torch.dtype = torch.float32
    ) -> StepConditioning:
        """Times t (R,) → the action encoder's time input and every adaLN (shift, scale), R rows.

        With time_embedding "buckets", t is floored into TIME_BUCKETS steps unless `buckets` (R,) gives them.
        """
        if self.cfg.time_embedding == "buckets":
            b = torch.floor(t.float() * TIME_BUCKETS) if buckets is None else buckets
            time = self.time_embed(bucket_features(b, self.cfg.time_features).to(dtype))  # (R, Wd)
            token_time = bucket_token_features(b, self.cfg.dit_width).to(dtype)  # (R, Wd)
        else:
            time = token_time = self.time_embed(time_features(t, self.cfg.time_features).to(dtype))
        shift, scale = self.out_modulation(F.silu(time)).unsqueeze(1).chunk(2, dim=-1)  # each (R, 1, Wd)
        return StepConditioning(token_time, [block.modulate(time) for block in self.dit], (shift, scale))

    def velocity(
        self, x_t: torch.Tensor, t: torch.Tensor, context: ImageContext, buckets: torch.Tensor | None = None,
        conditioning: StepConditioning | None = None,
    ) -> torch.Tensor:
        """Noisy chunk (B, H, D) at times t (B,) → predicted velocity (B, H, D).

        `conditioning` is time_conditioning(t, buckets) computed ahead (B rows); without it, it is computed here.
        """
        cond = self.time_conditioning(t, buckets, x_t.dtype) if conditioning is None else conditioning
        h = self.action_encoder(x_t, cond.token_time)  # (B, H, Wd)
        cross = iter(context.cross_kv)
        for block, modulation in zip(self.dit, cond.modulations, strict=True):
            h = block(h, modulation, next(cross) if block.cross else None)
        shift, scale = cond.out
        return self.action_decoder(self.out_projection(self.out_norm(h) * (1 + scale) + shift))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Flow-matching loss of a batch {frames (B, 3, S, S), actions (B, H, 21) unified, optional observed (B, 21) bool}.

        Dimensions `observed` marks False (controls the overlay did not show) carry no label and are
        masked out. In the release layout the loss covers the 21 values a unified action labels, in
        unified order (the four RIGHT_* tokens are not among them, see padflow.actions).
        """
        frames, actions = batch["frames"], batch["actions"]
        expected = (self.cfg.action_horizon, ACTION_DIM)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected:
            raise ValueError(f"actions must be (B, {expected[0]}, {expected[1]}), got {tuple(actions.shape)}")
        target = to_model(self.cfg.action_layout, actions)
        noise = torch.randn_like(target)
        c = self.cfg
        t = sample_time(target.shape[0], c.time_alpha, c.time_beta, c.time_cutoff, device=target.device)
        pred = self.velocity(interpolate(target, noise, t), t, self.encode_image(frames))
        dims = labelled_dims(self.cfg.action_layout)
        return flow_loss(pred[..., dims], target[..., dims], noise[..., dims], batch.get("observed"))

    @torch.no_grad()
    def sample(
        self,
        frames: torch.Tensor,
        steps: int = 16,
        generator: torch.Generator | None = None,
        recompute_context: bool = False,
    ) -> torch.Tensor:
        """frames (B, 3, S, S) → unified actions (B, H, 21) after `steps` Euler steps from noise.

        The image context is computed once and reused by every step; `recompute_context=True`
        recomputes it at each step instead (same result, for measuring what the reuse saves).
        """
        b = frames.shape[0]
        noise = torch.randn(
            (b, self.cfg.action_horizon, self.cfg.action_dim), generator=generator, device=frames.device, dtype=frames.dtype
        )
        return from_model(self.cfg.action_layout, self.denoise(frames, noise, steps, recompute_context))

    @torch.no_grad()
    def denoise(self, frames: torch.Tensor, noise: torch.Tensor, steps: int, recompute_context: bool = False) -> torch.Tensor:
        """Euler-integrate the velocity from `noise` (B, H, D): the chunk in model space."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        context = None if recompute_context else self.encode_image(frames)
        b, dt = noise.shape[0], 1.0 / steps
        # Every step's time as euler_sample builds it (i·dt in the noise's dtype), step-major: (steps·B,).
        times = torch.cat([torch.full((b,), i * dt, device=noise.device, dtype=noise.dtype) for i in range(steps)])
        # The release floors the step's time i/steps in double precision (nitrogen.py:602-603);
        # flooring float32 t could land one bucket lower (0.7 → 699).
        buckets = None
        if self.cfg.time_embedding == "buckets":
            buckets = torch.tensor([float(int(i / steps * TIME_BUCKETS)) for i in range(steps) for _ in range(b)],
                                   device=noise.device)
        conditioning = self.time_conditioning(times, buckets, noise.dtype)  # all steps at once, see StepConditioning

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            i = round(float(t[0]) * steps)  # euler_sample's step index
            step = conditioning.rows(i * b, (i + 1) * b)
            return self.velocity(x, t, self.encode_image(frames) if context is None else context, conditioning=step)

        return euler_sample(velocity, noise, steps)


def parameter_counts(model: FlowMatchingPolicy) -> dict[str, int]:
    """Parameters per part of the policy, and `total`."""
    parts = {
        "vision": [model.vision],
        "mixer": [model.vision_proj, model.mixer, model.mixer_norm],
        "dit": [model.dit, model.time_embed, model.out_norm, model.out_modulation, model.out_projection],
        "action_encoder": [model.action_encoder],
        "action_decoder": [model.action_decoder],
    }
    counts = {name: sum(p.numel() for m in mods for p in m.parameters()) for name, mods in parts.items()}
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def build_meta_policy(cfg: PolicyConfig) -> FlowMatchingPolicy:
    """The policy with shapes only (no memory, no init time): for counting parameters."""
    with torch.device("meta"):
        return FlowMatchingPolicy(replace(cfg, pretrained=None))


SAVED_POLICY = SavedModel(
    name="policy", format=POLICY_FORMAT, config_cls=PolicyConfig, build=FlowMatchingPolicy,
    header={"action_schema": ACTION_SCHEMA_VERSION},
)
WEIGHTS_FILE = SAVED_POLICY.weights_file  # policy.safetensors
CONFIG_FILE = SAVED_POLICY.config_file  # policy_config.json


def save_policy(model: FlowMatchingPolicy, folder: str | Path) -> Path:
    """Write the model's current weights (give it the EMA weights) as policy.safetensors + policy_config.json.

    The vision weights are inside policy.safetensors, so the saved config names no pretrained
    folder: the loaded policy needs no other folder.
    """
    return save_pretrained(model, replace(model.cfg, pretrained=None), folder, SAVED_POLICY)


def load_policy(folder: str | Path, device: str | torch.device = "cpu") -> FlowMatchingPolicy:
    """A policy saved by save_policy, in eval mode; ValueError names the file and what is wrong."""
    return load_pretrained(SAVED_POLICY, folder, device)  # type: ignore[return-value]
