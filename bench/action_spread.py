"""Does a trained policy act like its data? Per game, each button's press rate and each stick axis's spread in
the labels against the same in chunks the policy samples, on training and validation chunks. Run in the
project folder of a run (its data/gate, frame cache and params, as bench/frame_use.py).

    python bench/action_spread.py [POLICY_DIR ...] [--chunks 512] [--draws 4] [--json]

POLICY_DIR defaults to the train stage's two arms, data/train/policy and data/train/blind. Each policy samples
`--draws` chunks (16 Euler steps, fixed seeds) from each of `--chunks` chunks' frames per split; a button
counts as pressed where it reads pressed (the evaluation's rule), a stick's spread is the standard deviation
over every sampled step. A flow that has learned its data presses each button about as often as the labels
do and leaves a stick still where the players never moved it; one that has not returns its noise half
transported: sticks that wander and presses of rare buttons that never happen.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from frame_use import draw, load_data  # a sibling bench script (bench/ is the script's folder, first on sys.path)

from models.policy import CONFIG_FILE
from models.policy.modeling import load_policy
from padflow.actions import AXES, AXIS_SLICE, BUTTON_SLICE, BUTTONS

SAMPLE_STEPS = 16  # Euler steps, the evaluation's default
MIN_RATE = 0.01  # a button is listed where the labels or some policy press it at least this often


def spread(folders: list[Path], chunks: int, draws: int) -> dict:
    """{split: {game: {"buttons": {name: {"labels": rate, folder: rate}}, "sticks": {axis: {...: std}}}}}."""
    _, data, games, _ = load_data(Path("."))
    policies = {str(f): load_policy(f).eval() for f in folders}
    out: dict = {}
    for split, ds in (("train", data.train_set), ("val", data.val_set)):
        frames, actions, observed, g, _ = draw(ds, games[split], chunks, np.random.default_rng(0))
        pressed_by = {}
        sampled_by = {}
        for name, policy in policies.items():
            with torch.no_grad():
                sampled = torch.stack([policy.sample(frames, steps=SAMPLE_STEPS, generator=torch.Generator().manual_seed(k))
                                       for k in range(draws)])  # (K, B, H, 21)  # fmt: skip
            pressed_by[name] = (sampled[..., BUTTON_SLICE] > 0.5).float()
            sampled_by[name] = sampled[..., AXIS_SLICE]
        truth = (actions[..., BUTTON_SLICE] > 0.5).float()
        for game in sorted(set(g)):
            rows = torch.from_numpy(g == game)
            entry: dict = {"chunks": int(rows.sum()), "buttons": {}, "sticks": {}}
            for b, button in enumerate(BUTTONS):
                labelled = rows & observed[:, b].bool()  # chunks whose overlay shows this button: the rest carry no label
                if not bool(labelled.any()):
                    continue
                rates = {"labels": float(truth[labelled][..., b].mean())}
                rates |= {name: float(p[:, labelled][..., b].mean()) for name, p in pressed_by.items()}
                if max(rates.values()) >= MIN_RATE:
                    entry["buttons"][button] = {k: round(v, 3) for k, v in rates.items()}
            for a, axis in enumerate(AXES):
                labelled = rows & observed[:, AXIS_SLICE.start + a].bool()
                if not bool(labelled.any()):
                    continue
                stds = {"labels": float(actions[labelled][..., AXIS_SLICE][..., a].std())}
                stds |= {name: float(s[:, labelled][..., a].std()) for name, s in sampled_by.items()}
                entry["sticks"][axis] = {k: round(v, 3) for k, v in stds.items()}
            out.setdefault(split, {})[game] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policies", nargs="*", type=Path, default=[Path("data/train/policy"), Path("data/train/blind")])
    parser.add_argument("--chunks", type=int, default=512, help="chunks drawn per split")
    parser.add_argument("--draws", type=int, default=4, help="chunks each policy samples per drawn chunk")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    missing = [str(f) for f in args.policies if not (f / CONFIG_FILE).is_file()]
    if missing:
        raise SystemExit(f"{', '.join(missing)}: no trained policy there ({CONFIG_FILE} missing)")
    result = spread(args.policies, args.chunks, args.draws)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    names = ["labels"] + [str(f) for f in args.policies]
    for split, by_game in result.items():
        print(f"\n## {split}\n")
        print("| game | control | " + " | ".join(names) + " |")
        print("|---|---|" + "---|" * len(names))
        for game, entry in by_game.items():
            for button, rates in entry["buttons"].items():
                print(f"| {game} | {button} pressed | " + " | ".join(f"{rates[n]:.3f}" for n in names) + " |")
            for axis, stds in entry["sticks"].items():
                print(f"| {game} | {axis} std | " + " | ".join(f"{stds[n]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
