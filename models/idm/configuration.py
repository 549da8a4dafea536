"""IdmConfig: the sizes of the inverse dynamics model (models/idm/modeling.py) and of its input."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from padflow.config import config


@config
class IdmConfig:
    """Sizes of the IDM. The defaults are CPU-sized: the default profile trains it in about a minute."""

    image_size: Annotated[int, Field(ge=8, multiple_of=8, description=(
        "square side, pixels, each frame is cropped to its game box and resized to; small because the IDM reads "
        "motion between frames, not fine detail, and it keeps a whole video's frames in memory"))] = 48
    window: Annotated[int, Field(ge=2, description=(
        "frames per window; the model sees all of them at once (non-causal) and labels every one (VPT: 128 at 20 Hz)"))] = 16
    channels: Annotated[tuple[int, int, int], Field(description=(
        "output channels of the three stride-2 conv layers of the per-frame encoder (each halves the side)"))] = (16, 32, 64)
    grid: Annotated[int, Field(ge=1, description=(
        "side of the grid the encoder's last feature map is average-pooled to before its projection; 1 = one global "
        "average, which keeps what is in the frame but not where (the left stick of an Atari game is read only from "
        "where its sprite moved); image_size / 8 keeps every cell, and overfits a corpus of a dozen labelled videos "
        "(docs/idm.md measures both)"))] = 1
    width: Annotated[int, Field(ge=8, description="token width of the temporal transformer")] = 96
    layers: Annotated[int, Field(ge=1, description="bidirectional transformer layers over the window's frame tokens")] = 2
    heads: Annotated[int, Field(ge=1, description="attention heads; width must divide by it")] = 4
    dropout: Annotated[float, Field(ge=0.0, lt=1.0, description="dropout inside the transformer layers (training only)")] = 0.1
    difference_input: Annotated[bool, Field(description=(
        "also feed each frame's difference to the previous frame (6 input channels): an action shows as motion"))] = True

    def __post_init__(self) -> None:
        if self.grid > self.image_size // 8:
            raise ValueError(f"grid {self.grid} is finer than the encoder's {self.image_size // 8}x{self.image_size // 8} "
                             f"feature map at image_size {self.image_size}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be divisible by heads {self.heads}")
