"""PolicyConfig: the sizes of the flow-matching policy, and the named sizes of params.yaml's `train.models`.

Besides sizes, a few fields choose between padflow's own design and what the released NitroGen
checkpoint computes (`nitrogen-release` in params.yaml sets all of them; models/policy/release.py
cites the reference code for each). padflow's own profiles keep the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from padflow.actions import ACTION_DIM, ACTION_SCHEMA_VERSION, NITROGEN_RELEASE_DIM
from padflow.config import config, from_mapping

VisionArch = Literal["siglip2", "siglip"]
VISION_ARCHS = get_args(VisionArch)
ActionLayout = Literal["unified", "nitrogen-release"]
TimeEmbedding = Literal["continuous", "buckets"]
Modulation = Literal["shift_scale", "scale_shift"]
Decoder = Literal["gelu", "relu_projected"]
FrameInput = Literal["frame", "blind"]
LAYOUT_DIMS = {"unified": ACTION_DIM, "nitrogen-release": NITROGEN_RELEASE_DIM}


@config
class PolicyConfig:
    """Sizes of the policy. The defaults are NitroGen's released architecture.

    Built here it has 4.79e8 parameters against the release's quoted 4.93e8: the quoted ≈316M
    vision tower matches SigLIP-large with its attention-pooling head (≈13M), which a policy that
    reads the image tokens does not build (vision_use_head=False, 303M).
    """

    image_size: Annotated[int, Field(ge=1, description="square input side, pixels")] = 256
    patch_size: Annotated[int, Field(ge=1, description="ViT patch side, pixels; image tokens N = (image_size / patch_size)²")] = 16
    vision_arch: Annotated[VisionArch, Field(
        description="siglip2: SigLIP-2 NaFlex ViT | siglip: the fixed-resolution layout SigLIP-2's 256-px checkpoints are published in")] = "siglip2"
    vision_width: Annotated[int, Field(ge=1, description="ViT hidden size")] = 1024
    vision_layers: Annotated[int, Field(ge=1, description="ViT transformer layers")] = 24
    vision_heads: Annotated[int, Field(ge=1, description="ViT attention heads")] = 16
    vision_mlp: Annotated[int, Field(ge=1, description="ViT MLP hidden size")] = 4096
    mixer_blocks: Annotated[int, Field(ge=0, description="self-attention blocks over the image tokens")] = 4
    mixer_width: Annotated[int, Field(ge=1, description="mixer hidden size")] = 1024
    mixer_heads: Annotated[int, Field(ge=1, description="mixer attention heads")] = 16
    dit_blocks: Annotated[int, Field(ge=1, description="DiT blocks: even blocks cross-attend to the image, odd blocks self-attend")] = 8
    dit_width: Annotated[int, Field(ge=1, description="DiT hidden size")] = 1024
    dit_heads: Annotated[int, Field(ge=1, description="DiT attention heads")] = 16
    mlp_ratio: Annotated[float, Field(gt=0, description="mixer and DiT MLP hidden size = mlp_ratio × width")] = 4.0
    time_features: Annotated[int, Field(ge=2, multiple_of=2, description="sinusoidal features of t fed to the timestep MLP (even)")] = 256
    action_horizon: Annotated[int, Field(ge=1, description="timesteps per predicted chunk")] = 16
    action_dim: Annotated[int, Field(description=(
        f"values per timestep: {ACTION_DIM} for the unified layout (17 buttons + 4 stick axes), "
        f"{NITROGEN_RELEASE_DIM} for nitrogen-release"))] = ACTION_DIM
    action_layout: Annotated[ActionLayout, Field(description=(
        "unified: the 21 unified values, buttons as ±1 | nitrogen-release: the released checkpoint's 25 "
        "(21 button tokens, then both sticks in [0, 1]; padflow.actions converts)"))] = "unified"
    time_embedding: Annotated[TimeEmbedding, Field(description=(
        "continuous: sinusoid of 1000·t → Linear-GELU-Linear, whose output also enters the action encoder | "
        "buckets: the release's: t floored into 1000 buckets, diffusers-style sinusoid → Linear-SiLU-Linear, "
        "and the action encoder gets the bucket's raw sin‖cos at its width"))] = "continuous"
    mixer_norm: Annotated[bool, Field(description="a LayerNorm after the mixer blocks (the release has none)")] = True
    layer_norm_eps: Annotated[float, Field(gt=0, description="epsilon of the mixer and DiT block LayerNorms (release 1e-5)")] = 1e-6
    dit_mlp_norm_affine: Annotated[bool, Field(
        description="the DiT blocks' pre-MLP LayerNorm has a weight and bias (the release's has none)")] = True
    modulation: Annotated[Modulation, Field(
        description="order of the two halves of a DiT block's adaLN projection (release: scale, shift)")] = "shift_scale"
    decoder: Annotated[Decoder, Field(description=(
        "gelu: Linear-GELU-Linear after the output norm | relu_projected: the release's Linear (proj_out_2), "
        "then Linear-ReLU-Linear"))] = "gelu"
    position_rows: Annotated[int, Field(ge=0, description=(
        "rows of the learned action-position table, the first action_horizon used; 0 = action_horizon rows "
        "(the release keeps 1024)"))] = 0
    context_length: Annotated[int, Field(ge=0, description=(
        "image tokens are left-padded with zero tokens to this many before the mixer, unmasked, as the "
        "release's tokenizer does (300); 0 = no padding"))] = 0
    dit_self_attention: Annotated[bool, Field(description=(
        "odd DiT blocks self-attend over the action tokens; false = every block cross-attends to the image"))] = True
    vision_head: Annotated[bool, Field(description=(
        "build SigLIP's attention-pooling head (unused by the policy; the release keeps its weights)"))] = False
    time_alpha: Annotated[float, Field(gt=0, description="training times t = cutoff·(1 - u), u ~ Beta(alpha, beta): alpha > beta leans t to the noisy end")] = 1.5
    time_beta: Annotated[float, Field(gt=0, description="the Beta distribution's beta (see time_alpha)")] = 1.0
    time_cutoff: Annotated[float, Field(gt=0, le=1, description="largest training time: keeps t = 1 (nothing left to denoise) out of the draw")] = 0.999
    frame_input: Annotated[FrameInput, Field(description=(
        "frame: the policy sees the game | blind: every frame is replaced by one constant picture before the vision "
        "tower, so the same network, trained the same way, learns only what the action history of its data allows "
        "(the train stage's blind arm, evaluate's `blind` baseline)"))] = "frame"
    pretrained: Annotated[str | None, Field(
        description="local folder of SigLIP(-2) vision weights (transformers save_pretrained layout); null = random init")] = None

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size ({self.image_size}) must be a multiple of patch_size ({self.patch_size})")
        for width, heads in (("vision_width", "vision_heads"), ("mixer_width", "mixer_heads"), ("dit_width", "dit_heads")):
            w, h = getattr(self, width), getattr(self, heads)
            if w % h:
                raise ValueError(f"{width} ({w}) must be a positive multiple of {heads} ({h})")
        if self.action_dim != LAYOUT_DIMS[self.action_layout]:
            raise ValueError(f"action_dim must be {LAYOUT_DIMS[self.action_layout]} for action_layout "
                             f"{self.action_layout!r} (the unified action is {ACTION_SCHEMA_VERSION}), got {self.action_dim}")
        if self.position_rows and self.position_rows < self.action_horizon:
            raise ValueError(f"position_rows ({self.position_rows}) must be 0 or >= action_horizon ({self.action_horizon})")
        if self.context_length and self.context_length < self.image_tokens:
            raise ValueError(f"context_length ({self.context_length}) must be 0 or >= the {self.image_tokens} image tokens")

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


def policy_profile(models: Mapping[str, Any], name: str) -> PolicyConfig:
    """PolicyConfig of one named entry of params.yaml's `train.models` (e.g. small, nitrogen-500m)."""
    if name not in models:
        raise ValueError(f"unknown model profile {name!r}; valid: {', '.join(models)}")
    return from_mapping(PolicyConfig, models[name], f"train.models.{name}")
