"""Controls whose press the video's encoder erased: each press as the look reader draws it, encoded the way the video was.

A control can be drawn and still not be in the video. H.264 drops a small change in a small area
where it spends few bits: input-overlay's f710 preset at 15 % of an 854-px frame, crf 24, presses
its shoulders, triggers, start and back from dark grey to dark teal, and the decoded frames do not
change at all. The reader then reads such a control "never pressed" with full confidence, and the
gate cannot tell. Whether the encoder keeps a press depends on its quantizer and on what else
moves in the picture, so it is tried on the video's own frames:

- `FRAMES` consecutive frames of the overlay's crop, as decoded;
- each control's press alone, as the reader compares it (its drawn change over the still picture),
  added to those frames on alternate runs of `RUN` frames, both ways round;
- x264 (preset `PRESET`, the same `h264_round_trip` synthetic renders use) at the video's own
  quantizer (padflow.video.slice_quantizer: an x264 encode at a constant rate factor writes its
  CRF there) encodes them, and the frames without any press added;
- what is left of the press is the projection of (with − without) on the drawn change, as a share
  of it: its mean over the pressed frames less its mean over the others. A control whose press
  leaves less than `ERASED_SHARE` is erased.

The look reader tries only the controls it never read pressed (a stick: never beyond one grid
step): one read pressed anywhere shows in the video. A control never read pressed whose press the
encoder erases could have been pressed throughout or never, so it is unseen: a table marks it
unobserved, never "not pressed". One truly never pressed is then unseen too (its zeros are lost);
one pressed but never read, whose press the encoder keeps, stays "never pressed" (the reader's miss).

The frames were encoded once already, so a second encode keeps their own detail more easily than
the first did; a press is new detail to it, as it was to the first. The preset and rate control of
an encoder other than padflow's (or another stream's x264) are unknown here; the quantizer is the
video's. A stick is tried pushed fully along each axis alone, its click as a button.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from padflow.overlay.look_gains import GAIN_FLOOR
from padflow.video import h264_round_trip

FRAMES = 64  # consecutive frames each press is tried on: the reader's first batch (two encodes of them per control)
RUN = 3  # frames pressed, then released, in turn (presses in the corpus last 2-10 frames)
PRESET = "veryfast"  # padflow's own encodes' x264 preset (padflow.video.write_mp4)
ERASED_SHARE = GAIN_FLOOR  # a press left at less than this share of its drawn change: fainter than the reader reads even between two levels (look_gains); on the tune clips the share below which unread presses stop being found (docs/benchmarks.md)


def left_shares(frames: np.ndarray, quantizer: int, presses: Sequence[tuple[str, np.ndarray]]) -> dict[str, float]:
    """Per control, the share of its press (`presses`: (control, drawn change (h, w, 3) float32)) that an encode of
    `frames` (T, h, w, 3) uint8 at `quantizer` leaves (module doc)."""
    frames = frames[:FRAMES]
    base = frames.astype(np.float32)
    without = h264_round_trip(frames, quantizer, PRESET).astype(np.float32)
    pressed = (np.arange(len(frames)) // RUN) % 2 == 1
    left: dict[str, float] = {}
    for control, change in presses:
        norm = float((change**2).sum())
        if norm == 0.0:
            continue
        shares = []
        for pattern in (pressed, ~pressed):
            encoded = h264_round_trip(np.clip(base + pattern[:, None, None, None] * change, 0, 255).astype(np.uint8), quantizer, PRESET)
            share = (encoded.astype(np.float32) - without).reshape(len(frames), -1) @ change.reshape(-1) / norm  # (T,)
            shares.append(float(share[pattern].mean() - share[~pattern].mean()))
        left[control] = float(np.mean(shares))
    return left


def erased_controls(frames: np.ndarray, quantizer: int | None, presses: Sequence[tuple[str, np.ndarray]]) -> tuple[str, ...]:
    """The controls of `presses` whose press an encode at the video's `quantizer` leaves less than ERASED_SHARE of
    (`left_shares`); none where the quantizer is unknown (not H.264) or fewer than 2 * RUN frames are given."""
    if quantizer is None or len(frames) < 2 * RUN:
        return ()
    return tuple(control for control, share in left_shares(frames, quantizer, presses).items() if share < ERASED_SHARE)
