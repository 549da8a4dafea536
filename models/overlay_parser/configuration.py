"""ParserConfig: the sizes of the overlay parser (SegFormer encoder + layout-guided heads)."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field
from transformers import SegformerConfig

from padflow.config import config
from padflow.overlay.crops import INPUT_CHANNELS

DIFFERENCE_CHANNELS = 3  # RGB of (frame - rest) when compare_rest
DECODE_STRIDE = 4  # px of input per cell of the fused map (SegFormer's decoder stride)
PER_BLOCK = ("hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "patch_sizes", "strides")


@config
class ParserConfig:
    """Sizes of the parser; the SegFormer fields mean what they mean in transformers' SegformerConfig."""

    crop_size: Annotated[tuple[int, int], Field(description="(w, h) px of ONE rectified overlay crop; the frames input is (h, 2w)")] = (96, 64)
    stick_size: Annotated[int, Field(description="px side of one stick patch; the sticks input is (s, 2s) per stick")] = 32
    num_encoder_blocks: Annotated[int, Field(ge=1, description="SegFormer stages")] = 4
    hidden_sizes: Annotated[tuple[int, ...], Field(description="channels per stage")] = (16, 32, 64, 128)
    depths: Annotated[tuple[int, ...], Field(description="transformer layers per stage")] = (1, 1, 2, 1)
    num_attention_heads: Annotated[tuple[int, ...], Field(description="attention heads per stage")] = (1, 1, 2, 4)
    sr_ratios: Annotated[tuple[int, ...], Field(description="key/value spatial reduction per stage (efficient attention)")] = (4, 2, 1, 1)
    patch_sizes: Annotated[tuple[int, ...], Field(description="overlapping patch-embedding kernel per stage, px")] = (7, 3, 3, 3)
    strides: Annotated[tuple[int, ...], Field(description=f"patch-embedding stride per stage; the first must be {DECODE_STRIDE}, the fused map's")] = (4, 2, 2, 2)
    mlp_ratio: Annotated[int, Field(ge=1, description="Mix-FFN width, multiple of the stage's channels")] = 4
    head_size: Annotated[int, Field(ge=1, description="channels of the fused stride-4 map the heads read")] = 32
    grid: Annotated[int, Field(ge=3, description="stick positions per axis, odd so there is a centre cell (NitroGen's 11 x 11)")] = 11
    dropout: Annotated[float, Field(ge=0, lt=1, description="dropout before the output layers")] = 0.1
    compare_rest: Annotated[bool, Field(description=(
        "compare against the rest look explicitly: (frame - rest) as 3 more encoder input channels, each button box's change "
        "from rest and from the previous frame as head features, and the rest cap's template match at every stick grid "
        "position (the cap's displacement); false = the stacked-channels parser of format 2 (older checkpoints load as that)"))] = False
    pretrained: Annotated[str | None, Field(description="folder with SegFormer weights saved by save_pretrained; null = random init")] = None

    def __post_init__(self) -> None:
        w, h = self.crop_size
        total_stride = math.prod(self.strides)
        for name, side in (("crop_size", w), ("crop_size", h), ("stick_size", self.stick_size)):
            if side < total_stride or side % DECODE_STRIDE:
                raise ValueError(f"{name}: sides must be multiples of {DECODE_STRIDE} px and at least the encoder's total stride {total_stride}, got {getattr(self, name)}")
        n = self.num_encoder_blocks
        for name in PER_BLOCK:
            values = getattr(self, name)
            if len(values) != n or any(v < 1 for v in values):
                raise ValueError(f"{name}: {list(values)} must hold {n} positive integers (one per encoder block)")
        for size, heads in zip(self.hidden_sizes, self.num_attention_heads):
            if size % heads:
                raise ValueError(f"num_attention_heads: {heads} does not divide hidden size {size}")
        if self.strides[0] != DECODE_STRIDE:
            raise ValueError(f"strides: the first stage must have stride {DECODE_STRIDE} (the fused map's), got {self.strides[0]}")
        if self.grid % 2 == 0:
            raise ValueError(f"grid: {self.grid} must be odd and >= 3 (an odd grid has a centre cell)")

    @property
    def input_size(self) -> tuple[int, int]:
        """(h, 2w) of one frames input."""
        return self.crop_size[1], 2 * self.crop_size[0]

    @property
    def encoder_channels(self) -> int:
        """Channels the encoder reads: frames + rest RGB, and (compare_rest) frame - rest RGB."""
        return INPUT_CHANNELS + (DIFFERENCE_CHANNELS if self.compare_rest else 0)

    def segformer_config(self, num_channels: int | None = None) -> SegformerConfig:
        return SegformerConfig(
            num_channels=self.encoder_channels if num_channels is None else num_channels,
            num_encoder_blocks=self.num_encoder_blocks,
            hidden_sizes=list(self.hidden_sizes),
            depths=list(self.depths),
            num_attention_heads=list(self.num_attention_heads),
            sr_ratios=list(self.sr_ratios),
            patch_sizes=list(self.patch_sizes),
            strides=list(self.strides),
            mlp_ratios=[self.mlp_ratio] * self.num_encoder_blocks,
            drop_path_rate=0.0,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
