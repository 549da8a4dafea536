"""What the IDM can learn with more labelled video: trained on the corpus *truth* of a run's videos, scored on
held-out overlay-free videos of every game (docs/idm.md, "More windows").

    python bench/idm_data.py RUN [--train-videos N] [--steps 3000] [--press-weight 10] [--grid 1] [--json]

RUN is a project folder after `padflow run` (e.g. of the `idm` profile): its data/corpus_truth (the true actions
and boxes of every corpus video) and data/ingest (the videos). Two overlay-free videos per game (seeded) are held
out; the IDM trains on the truth of the others (overlay masked where drawn), every frame centring a window, as
idm_train does, and labels each held-out video whole as pseudo_label does. The truth stands in for overlay labels:
this measures the model and the data size, not the parser. Figures (models.idm.scoring): button accuracy with the
never-press baseline, F1, stick R² pooled and within video (0 for knowing only which game it is).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from models.idm import IdmConfig, decode_video, label_video
from models.idm.evaluation import corpus_truth
from models.idm.modeling import idm_loss, press_weights
from models.idm.processor import to_windows, window_indices
from models.idm.scoring import score_videos
from models.idm.training import IdmModule
from padflow.ingest.report import accepted_videos, read_report
from tasks.corpus import load_truth
from tasks.idm_train import IdmTrainConfig


def load_videos(run: Path, image_size: int) -> list[dict]:
    """Every corpus video ingest accepted, in the corpus's order: its game, frames (overlay masked) and true actions."""
    truth_dir, ingest_dir = run / "data/corpus_truth", run / "data/ingest"
    try:
        truth = corpus_truth(truth_dir, ingest_dir)  # video_id → (game, true actions), joined through the ingest report
        rows = accepted_videos(read_report(ingest_dir))
    except ValueError as exc:
        raise SystemExit(f"{run}: needs the corpus truth and ingest output of a corpus run (`padflow run`): {exc}") from None
    videos = []
    for video_id, (game, actions) in truth.items():
        boxes = load_truth(truth_dir, Path(rows[video_id]["path"]).stem)
        frames = decode_video(ingest_dir / rows[video_id]["output"], boxes["game_box"], boxes["overlay_box"], image_size)
        n = min(len(frames), len(actions))
        videos.append({"name": video_id, "game": game, "overlay": boxes["overlay_box"] is not None,
                       "frames": frames[:n], "actions": actions[:n].astype(np.float32)})
    return videos


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--train-videos", type=int, default=0, help="train on this many of the other videos (0: all)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--press-weight", type=float, default=10.0, help="idm_train.max_press_weight")
    p.add_argument("--image-size", type=int, default=48)
    p.add_argument("--grid", type=int, default=1, help="idm_train.model.grid")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    videos = load_videos(args.run, args.image_size)
    held = set()
    for game in sorted({v["game"] for v in videos}):
        free = [i for i, v in enumerate(videos) if v["game"] == game and not v["overlay"]]
        held.update(rng.choice(free, min(2, len(free)), replace=False).tolist())
    train = [v for i, v in enumerate(videos) if i not in held]
    if args.train_videos:
        train = [train[i] for i in rng.permutation(len(train))[: args.train_videos]]
    test = [v for i, v in enumerate(videos) if i in held]
    if not train or not test:
        raise SystemExit(f"{args.run}: {len(videos)} videos leave nothing to train on or to score")

    cfg = IdmConfig(image_size=args.image_size, grid=args.grid)
    # idm_train's optimizer and schedule (AdamW, warmup-stable-decay at its shares); no EMA: the raw weights are scored
    settings = IdmTrainConfig(model=cfg, max_steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                              max_press_weight=args.press_weight)
    labels = np.concatenate([v["actions"] for v in train])
    weight = press_weights(labels, np.ones_like(labels, bool), args.press_weight) if args.press_weight > 1 else None
    module = IdmModule(cfg, settings, weight)
    model, optim = module.idm, module.configure_optimizers()
    optimizer, schedule = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
    observed = torch.ones(args.batch_size, 21, dtype=torch.bool)
    w, start = cfg.window, time.perf_counter()
    model.train()
    for _ in range(args.steps):
        frames, actions = [], []
        for i in rng.integers(len(train), size=args.batch_size):
            v = train[i]
            s = int(rng.integers(-w // 4, len(v["frames"]) - w + w // 4))  # any frame at any window position
            frames.append(to_windows(v["frames"], [s], w)[0])
            actions.append(torch.from_numpy(v["actions"][window_indices(s, w, len(v["frames"]))]))
        logits, axes = model(torch.stack(frames))
        loss = idm_loss(logits, axes, torch.stack(actions), observed, module.press_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    train_s = time.perf_counter() - start
    score = score_videos((label_video(model, v["frames"])[0], v["actions"], None) for v in test)
    out = {"source": f"{args.run}: corpus truth (padflow's own corpus); held out: {len(test)} overlay-free videos",
           "train_videos": len(train), "train_frames": int(sum(len(v["frames"]) for v in train)),
           "test_videos": len(test), "args": {k: str(v) for k, v in vars(args).items()}, "train_s": round(train_s, 1),
           **{k: score[k] for k in ("button_accuracy", "baseline_button_accuracy", "button_f1", "stick_r2_axes",
                                    "stick_r2_within_axes", "per_button_f1")}}
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['source']}; trained on {len(train)} videos ({out['train_frames']} frames) in {train_s:.0f} s")
    print(f"buttons: accuracy {out['button_accuracy']} (never-press {out['baseline_button_accuracy']}), F1 {out['button_f1']}")
    print(f"sticks: R² pooled {out['stick_r2_axes']}")
    print(f"        R² within video {out['stick_r2_within_axes']}")


if __name__ == "__main__":
    main()
