"""Overlay parser throughput on CPU: inference frames/s, training samples/s, synthetic renders/s.

    python bench/parser.py [--threads 2] [--batch 64] [--repeats 3]

Inference and training use the default ParserConfig (params.yaml's parser_train.model is {} by
default) on random crops read through a real skin's view; renders use the default SynthConfig
over real game frames.
"""

from __future__ import annotations

import argparse
import os
import time

# OpenMP threads that spin while waiting burn the CPU other processes need (10x slower steps on a
# shared 2-core machine); set before torch loads its OpenMP runtime, as the padflow CLI does.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.overlay_parser import OverlayParser, ParserConfig, as_tensors, parser_loss  # noqa: E402
from padflow.overlay.crops import parser_inputs, skin_view  # noqa: E402
from padflow.overlay.library import load_library  # noqa: E402
from padflow.overlay.synth import SynthConfig, random_actions, render_split  # noqa: E402
from padflow.players.footage import collect_backgrounds  # noqa: E402

TRAIN_STEPS = 6
RENDER_CLIPS = 240  # enough that worker start-up (each prepares its skins) does not dominate


def best_rate(fn, items: int, repeats: int) -> float:
    """Best-of-`repeats` items per wall second of one fn() call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return items / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ParserConfig()
    model = OverlayParser(cfg)
    h, w2 = cfg.input_size
    s = cfg.stick_size
    library = load_library()
    view = skin_view(library.skins[library.training_ids()[0]], cfg.crop_size, s)
    rng = np.random.default_rng(0)
    frames = [(rng.integers(0, 256, (args.batch, h, w2 // 2, 3), dtype=np.uint8), rng.integers(0, 256, (args.batch, 2, s, s, 3), dtype=np.uint8)) for _ in range(2)]
    pairs = parser_inputs(frames[0], frames[1], view)
    model.predict(pairs)
    rate = best_rate(lambda: model.predict(pairs), args.batch, args.repeats)
    print(f"inference: {rate:,.0f} frames/s (batch {args.batch}, crops {h}x{w2} + sticks 2x{s}x{2 * s}, {args.threads} threads)")

    labels = torch.from_numpy(random_actions(args.batch, np.random.default_rng(1)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    x = as_tensors(pairs)

    def train_steps() -> None:
        model.train()
        for _ in range(TRAIN_STEPS):
            loss, _ = parser_loss(model(x), labels, cfg.grid)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    train_steps()
    rate = best_rate(train_steps, TRAIN_STEPS * args.batch, args.repeats)
    print(f"training: {rate:,.0f} samples/s (batch {args.batch}, {args.threads} threads)")

    skins = {i: library.skins[i] for i in library.training_ids()}
    backgrounds = collect_backgrounds(("pong_score_point", "doom_basic_first_shot"), 24, 3, 0)
    synth = SynthConfig()
    for repeat in range(args.repeats):
        renders = render_split(skins, RENDER_CLIPS, backgrounds, synth, repeat, "bench", workers=args.threads)
        print(f"renders: {renders.renders_per_s:,.0f} frames/s ({renders.pairs / (RENDER_CLIPS * synth.frames_per_clip) * renders.renders_per_s:,.0f} pairs/s, {args.threads} workers)")


if __name__ == "__main__":
    main()
