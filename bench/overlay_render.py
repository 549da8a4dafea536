"""Overlays per second (render + composite) on one core, at the sizes the corpus draws.

    python bench/overlay_render.py [--n 3000] [--repeats 3]

Actions are random (a few buttons held, sticks anywhere); skins rotate through the built-in
library with their per-size sprites already prepared, as in a long corpus run.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from padflow.actions import ACTION_DIM, N_BUTTONS  # noqa: E402
from padflow.overlay.library import load_library  # noqa: E402
from padflow.overlay.render import Placement, composite, draw_overlay, render_overlay  # noqa: E402

FRAME_WIDTHS = (854, 1280)
WIDTH_FRACS = (0.08, 0.15, 0.30)
PRESS_PROBABILITY = 0.15  # per button per frame


def random_actions(n: int, rng: np.random.Generator) -> np.ndarray:
    actions = np.zeros((n, ACTION_DIM), dtype=np.float32)
    actions[:, :N_BUTTONS] = rng.random((n, N_BUTTONS)) < PRESS_PROBABILITY
    actions[:, N_BUTTONS:] = rng.uniform(-1, 1, (n, ACTION_DIM - N_BUTTONS))
    return actions


def rate(fn, n: int, repeats: int) -> float:
    """Best-of-`repeats` calls per second of fn(i) over i in range(n)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="overlays per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per size; the best is reported")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    skins = list(load_library().skins.values())
    actions = random_actions(args.n, rng)

    for width in (100,):
        for s in skins:
            render_overlay(s, actions[0], width)
        r = rate(lambda i: render_overlay(skins[i % len(skins)], actions[i], width), args.n, args.repeats)
        print(f"render only, {width} px wide: {r:,.0f} overlays/s")
        frame = rng.integers(0, 256, (480, 854, 3), dtype=np.uint8)
        placement = Placement("bottom-left", width / 854)
        r = rate(
            lambda i: composite(frame, render_overlay(skins[i % len(skins)], actions[i], width), placement, inplace=True),
            args.n, args.repeats,
        )  # fmt: skip
        print(f"render + composite, {width} px wide on 854x480: {r:,.0f} overlays/s")

    for fw in FRAME_WIDTHS:
        fh = fw * 9 // 16
        frame = rng.integers(0, 256, (fh, fw, 3), dtype=np.uint8)
        for frac in WIDTH_FRACS:
            placement = Placement("bottom-right", frac, 0.8)
            for s in skins:
                draw_overlay(frame, s, actions[0], placement, inplace=True)
            r_inplace = rate(lambda i: draw_overlay(frame, skins[i % len(skins)], actions[i], placement, inplace=True), args.n, args.repeats)
            r_copy = rate(lambda i: draw_overlay(frame, skins[i % len(skins)], actions[i], placement), args.n, args.repeats)
            print(
                f"{fw}x{fh} frame, overlay {frac:.0%} ({placement.overlay_width(fw)} px): "
                f"{r_inplace:,.0f} overlays/s in place, {r_copy:,.0f} overlays/s onto a frame copy"
            )


if __name__ == "__main__":
    main()
