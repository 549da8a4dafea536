"""Where each stick's cap is, found without learning: the rest cap's template matched over the stick's travel.

The parser's learned stick head reads padflow's own corpus at R² 0.70 (0.80 on held-out skins) and moves by about
0.1 between trainings on the same renders (docs/overlay.md), while the picture says plainly where a cap went: the
skin's rest look shows the cap at the centre of its well, and the cap, moved, is that picture shifted. So every
frame's stick patch (the parser's own input, `ParserBatch.sticks`) is compared with the rest cap's template at
each of the `GRID` x `GRID` cap positions the layout allows (`modeling.cap_match`: a normalized cross-correlation
over the cap's radius), and the position is the local soft-argmax of those correlations divided by `TEMPERATURE`
(processor.decode_sticks, as the learned head's logits are decoded). The reading needs no per-skin calibration: at
rest it is 0 by construction, and a cap at full travel reads about ±1 (slope 0.91–1.05 against the truth on 15 of
the default corpus's 20 overlay videos).

Where the cap's template does not stand out (a cap coloured like its well, a faint overlay over a busy game) or the
cap does not look as it does at rest (clicked: many skins light or recolour it), the best correlation stays low
and the position is noise: `CapReading.match` is each frame's best correlation per stick, and the extract stage
keeps the learned head's reading for a stick whose median match over the video is below `extract.cap_min_match`,
and for the frames whose own match is (padflow.overlay.readings.finish_actions). Not in the parser asset's fingerprint
(asset.CODE_FILES): nothing here changes how the parser is trained.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from models.overlay_parser.modeling import cap_match
from models.overlay_parser.processor import as_tensors, decode_sticks
from padflow.overlay.crops import ParserBatch

TEMPLATE_SIDE = 13  # the rest cap's template is sampled on a 13 x 13 lattice over its radius: coarser ones fall between a concave cap's thin rings once it moves (nintendo-05 read up to 1.96 off at 5 x 5, the learned features' modeling.TEMPLATE_SIDE, 1.23 at 9 x 9, 0.13 at 13 x 13)
GRID = 11  # cap positions per axis, the parser's stick grid (an axis reads in steps of 0.2 before the soft-argmax)
TEMPERATURE = 0.02  # correlations are divided by this before the softmax: a 0.02 lead is e times the weight (chosen on the default corpus, seed 0: 0.02 and 0.05 read alike)


class CapReading(NamedTuple):
    """Each frame's caps: `axes` (B, 4) float32 in [-1, 1] as AXES orders them (left x, left y, right x, right y; x right,
    y up), `match` (B, 2) float32, each stick's best template correlation (1: the rest cap exactly), and `mass` (B, 2)
    float32, each stick's share of the softmaxed correlations around its reading (processor.decode_sticks: the learned
    head's stick confidence, measured the same way)."""

    axes: np.ndarray
    match: np.ndarray
    mass: np.ndarray


@torch.inference_mode()
def locate_caps(batch: ParserBatch) -> CapReading:
    """The caps of every frame of `batch` (numpy or torch), where the rest cap's template matches best (module doc)."""
    batch = as_tensors(batch)
    sticks = batch.sticks.flatten(0, 1)  # (2B, 6, s, 2s)
    n = sticks.shape[0]
    travel = batch.stick_travel.reshape(-1, 1)  # (2B, 1) patch units
    positions = travel * torch.linspace(-1.0, 1.0, GRID)  # (2B, g): row 0 / column 0 at -travel (up / left)
    grid_xy = torch.stack([positions[:, None, :].expand(-1, GRID, -1), positions[:, :, None].expand(-1, -1, GRID)], dim=-1)  # (2B, g, g, 2)
    lattice = torch.linspace(-1.0, 1.0, TEMPLATE_SIDE)
    offsets = torch.stack(torch.meshgrid(lattice, lattice, indexing="xy"), dim=-1).reshape(-1, 2)  # (T², 2) in cap radii
    correlation = cap_match(sticks, grid_xy, travel.reshape(-1), offsets)[:, 0].reshape(n // 2, 2, GRID * GRID)  # (B, 2, g²)
    axes, mass = decode_sticks(correlation / TEMPERATURE, GRID)  # (B, 2, 2), (B, 2)
    return CapReading(axes.reshape(-1, 4).float().numpy(), correlation.max(dim=-1).values.float().numpy(), mass.float().numpy())
