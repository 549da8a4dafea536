"""Overlay parser on skins of other drawing styles: fine-tune a trained parser on renders that include
the style generator's skins (padflow.overlay.styles), with or without the rest comparison
(ParserConfig.compare_rest), and score it on held-out library skins and held-out styles.

    python bench/parser_styles.py --init /work/ext/default-parser [--compare-rest] [--train-pairs 4000]
        [--epochs 2] [--style-skins 48] [--held-out-styles 16] [--val-pairs 1000] [--renders DIR] [--out DIR]

Data: synthetic renders (padflow.overlay.synth, default SynthConfig) over frames of the games of
params parser_train.background_tasks, seed --seed. `train`: the library's training skins plus
--style-skins generated skins (training styles); `val_held_out`: the library's held-out skins;
`val_held_out_styles`: --held-out-styles skins of the generator's held-out (body, press) pairs,
never trained on. --renders keeps the rendered sets (.npz) so several runs compare on the same
pixels. With --compare-rest the initial parser is widened by
models.overlay_parser.with_rest_comparison (it starts out reading exactly as --init does), so both
variants start from the same weights and train on the same budget. Prints one row per set, before
and after fine-tuning: button accuracy, button F1 (pressed = positive), stick R².
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# OpenMP threads that spin while waiting burn the CPU other processes need (set before torch loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.overlay_parser import OverlayParser, ParserConfig, load_parser, parser_loss, save_parser, with_rest_comparison  # noqa: E402
from models.overlay_parser.training import PairBatches, RenderPairs, pair_observed, predict_set, score, warmup_cosine_factor  # noqa: E402
from padflow.actions import N_BUTTONS  # noqa: E402
from padflow.overlay.library import load_library  # noqa: E402
from padflow.overlay.styles import style_skins  # noqa: E402
from padflow.overlay.synth import RenderSet, SynthConfig, load_shard, render_split, save_shard  # noqa: E402
from padflow.players.footage import collect_backgrounds  # noqa: E402
from tasks.parser_train import ParserTrainConfig  # noqa: E402

FRAMES_PER_CLIP = SynthConfig().frames_per_clip


def button_f1(pred: np.ndarray, truth: np.ndarray, observed: np.ndarray) -> float:
    """F1 of 'pressed' over every observed button-frame."""
    seen = observed[:, :N_BUTTONS]
    p, t = pred[:, :N_BUTTONS][seen] > 0.5, truth[:, :N_BUTTONS][seen] > 0.5
    tp = float((p & t).sum())
    return 2 * tp / max(float(p.sum() + t.sum()), 1.0)


def evaluate(model: OverlayParser, sets: dict[str, RenderSet]) -> dict[str, dict[str, float]]:
    out = {}
    for split, renders in sets.items():
        if split == "train":
            continue
        pred, _, truth = predict_set(model, renders)
        observed = pair_observed(renders, np.arange(len(pred)))
        scores = score(pred, truth, observed)
        out[split] = {"button_accuracy": scores["button_accuracy"], "button_f1": button_f1(pred, truth, observed), "stick_r2": scores["stick_r2"]}
    return out


def render_or_load(args: argparse.Namespace) -> dict[str, RenderSet]:
    folder = args.renders
    names = ("train", "val_held_out", "val_held_out_styles")
    if folder is not None and all((folder / f"{n}.npz").is_file() for n in names):
        return {n: load_shard(folder / f"{n}.npz") for n in names}
    defaults = ParserTrainConfig()
    library = load_library()
    train_skins = {i: library.skins[i] for i in library.training_ids()}
    train_skins.update(style_skins(args.style_skins))
    plan = {
        "train": (train_skins, args.train_pairs),
        "val_held_out": ({i: library.skins[i] for i in library.held_out_ids()}, args.val_pairs),
        "val_held_out_styles": (style_skins(args.held_out_styles, held_out=True), args.val_pairs),
    }
    backgrounds = collect_backgrounds(defaults.background_tasks, defaults.background_frames, defaults.background_stride, args.seed)
    sets = {}
    for split, (skins, pairs) in plan.items():
        started = time.perf_counter()
        sets[split] = render_split(skins, -(-pairs // (FRAMES_PER_CLIP - 1)), backgrounds, SynthConfig(), args.seed, split, workers=args.threads)
        print(f"rendered {split}: {sets[split].pairs} pairs of {len(skins)} skins in {time.perf_counter() - started:.0f} s", flush=True)
        if folder is not None:
            save_shard(sets[split], folder / f"{split}.npz")
    return sets


def fine_tune(model: OverlayParser, train: RenderSet, args: argparse.Namespace) -> float:
    """AdamW with warmup + cosine decay over `epochs` passes, as parser_train trains; returns the wall seconds."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    batches = PairBatches(train.pairs, args.batch, seed=args.seed)
    total = len(batches) * args.epochs if args.max_steps is None else min(args.max_steps, len(batches) * args.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine_factor(step, min(50, total // 10), total))
    data = RenderPairs(train)
    started = time.perf_counter()
    model.train()
    for epoch in range(args.epochs):
        batches.set_epoch(epoch)
        losses = []
        for index in batches:
            if scheduler.last_epoch >= total:
                break
            pairs, labels, observed = data[index]
            loss, _ = parser_loss(model(pairs), labels, model.cfg.grid, observed)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        print(f"epoch {epoch + 1}/{args.epochs}: loss {np.mean(losses):.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    model.eval()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", type=Path, help="trained parser folder to start from (default: a fresh default ParserConfig)")
    ap.add_argument("--compare-rest", action="store_true", help="train the compare_rest parser (widened from --init)")
    ap.add_argument("--train-pairs", type=int, default=2000)
    ap.add_argument("--val-pairs", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (the schedule decays to 0 there)")
    ap.add_argument("--skip-before", action="store_true", help="do not score --init before fine-tuning")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--style-skins", type=int, default=48, help="generated training-style skins added to the library's training skins")
    ap.add_argument("--held-out-styles", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--renders", type=Path, help="folder keeping the rendered sets (reused when present)")
    ap.add_argument("--out", type=Path, help="save the fine-tuned parser here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sets = render_or_load(args)
    if args.init is not None:
        model = load_parser(args.init)
        if args.compare_rest and not model.cfg.compare_rest:
            model = with_rest_comparison(model)
    else:
        model = OverlayParser(ParserConfig(compare_rest=args.compare_rest))
    before = evaluate(model, sets) if args.init is not None and not args.skip_before else {}
    wall = fine_tune(model, sets["train"], args) if args.epochs else 0.0
    after = evaluate(model, sets)
    if args.out is not None:
        save_parser(model, args.out)
    print(f"\ninit {args.init}, compare_rest {model.cfg.compare_rest}, {sets['train'].pairs} training pairs, {args.epochs} epochs, max steps {args.max_steps}, batch {args.batch}, in {wall:.0f} s, seed {args.seed}")
    print("| set | when | button acc | button F1 | stick R² |\n|---|---|---|---|---|")
    for when, rows in (("before", before), ("after", after)):
        for split, m in rows.items():
            print(f"| {split} ({sets[split].pairs} pairs, {len(sets[split].views)} skins) | {when} | {m['button_accuracy']:.4f} | {m['button_f1']:.4f} | {m['stick_r2']:.4f} |")


if __name__ == "__main__":
    main()
