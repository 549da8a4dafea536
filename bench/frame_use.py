"""Does the policy read its frame? Two measurements on the train stage's data and split, run in the project
folder of a run (its data/gate, frame cache and, for the first, data/train/policy; params and run.yaml as the
run had them).

    python bench/frame_use.py [--policy data/train/policy] [--chunks 512] [--json]
    python bench/frame_use.py --regress vit|cnn [--steps 900] [--chunks 768] [--previous K] [--no-augment] [--json]

Default: the trained policy's flow-matching loss on training and validation chunks with (a) each chunk's own
frame, (b) the frame of another chunk of the same game, (c) a grey frame; the same noise and times for all
three (8 draws). A policy that reads the game state in its frame has (a) below (b); one that only tells the
games apart has (a) = (b) < (c).

--regress: can an encoder read the next chunk's actions off the frame at all, without the flow? It trains the
policy's own vision encoder and mixer (`vit`, mean-pooled) or a small CNN (`cnn`: four stride-2 convolutions,
the map flattened, so positions stay) with a linear head regressing the chunk (model space, observed cells,
squared error), the train stage's batches and augmentation, AdamW at 1e-3; then reports its error with each
chunk's own frame, with a same-game frame, and that of each game's mean training chunk, overall and per
game and action dimension (those that vary), and over the chunk's first 4 actions alone. `--previous K` (cnn
only) also gives the CNN the frame K frames earlier (six channels, both frames jittered alike): what one frame
cannot show, the ball's direction, two can. It needs a chunk index where that frame starts a chunk too
(`gate.chunk_stride` 1, or a divisor of K); where it does not, the chunk's own frame stands in (counted).
`--no-augment` trains the regression on the frames as they are (no jitter, rotation or crop): a ball of one
or two pixels at the policy's input size is what a rotation and a resize blur most.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.policy.action_space import to_model
from models.policy.data import ChunkDataModule, ChunkDataset
from models.policy.modeling import FlowMatchingPolicy, load_policy
from models.policy.processor import Augmentation, augment, to_model_input
from padflow.actions import ACTION_DIM
from padflow.config import from_mapping, load_params
from padflow.tables import read_chunk_index
from tasks.train import TrainConfig, training_index

LOSS_DRAWS = 8  # noise/time draws the policy's loss is averaged over


def load_data(root: Path) -> tuple[TrainConfig, ChunkDataModule, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The train stage's config, data module (its split), and each split's per-chunk game and start frame."""
    params = load_params(root)
    cfg = from_mapping(TrainConfig, params.get("train"), "train")
    seed = int(params.get("seed", 0))
    index_path = training_index(cfg, root)
    data = ChunkDataModule(replace(cfg, index=str(index_path)), root, seed)
    data.setup("fit")
    index = read_chunk_index(index_path)
    column = "video_id" if cfg.split_by == "video" else "game"
    is_val = index[column].astype(str).isin(data.split["val"]).to_numpy()
    games = index["game"].astype(str).to_numpy()
    starts = index["start_frame"].to_numpy(np.int64)
    return cfg, data, {"train": games[~is_val], "val": games[is_val]}, {"train": starts[~is_val], "val": starts[is_val]}


class WithPrevious(torch.utils.data.Dataset):
    """A ChunkDataset's items with the frame `k` frames before each chunk's first one beside it (images (S, S, 6))."""

    def __init__(self, ds: ChunkDataset, starts: np.ndarray, k: int, all_refs: np.ndarray, all_starts: np.ndarray):
        slot_of = {(int(a), int(f)): int(s) for (a, s), f in zip(all_refs, all_starts)}
        wanted = [((int(a), int(f) - k), int(s)) for (a, s), f in zip(ds.refs, starts)]
        self.ds = ds
        self.previous = np.array([slot_of.get(key, own) for key, own in wanted])
        self.missing = sum(key not in slot_of for key, _ in wanted)

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.ds[i]
        before = torch.from_numpy(np.array(self.ds.arrays[self.ds.refs[i][0]][self.previous[i]]))
        return {**item, "images": torch.cat([item["images"], before], -1)}


def model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, S, S, 3k) → float (B, 3k, S, S), each frame as the policy's processor makes it."""
    return torch.cat([to_model_input(images[..., c : c + 3].contiguous()) for c in range(0, images.shape[-1], 3)], 1)


def augment_alike(frames: torch.Tensor, aug: Augmentation, seed: int) -> torch.Tensor:
    """`augment` drawn once per sample (from `seed`) and applied alike to each of its stacked frames; (B, 3k, S, S)."""
    return torch.cat([augment(frames[:, c : c + 3], aug, torch.Generator().manual_seed(seed)) for c in range(0, frames.shape[1], 3)], 1)


def draw(ds, games: np.ndarray, n: int, rng: np.random.Generator):
    """n chunks of `ds`: images, actions, observed, their games, and a permutation to another chunk of the same game."""
    pick = rng.choice(len(ds), min(n, len(ds)), replace=False)
    items = [ds[i] for i in pick]
    g = games[pick]
    perm = np.arange(len(pick))
    for game in sorted(set(g)):  # sorted: a set's order changes with the hash seed, the draws must not
        rows = np.flatnonzero(g == game)
        perm[rows] = rng.permutation(rows)
    images, actions, observed = (torch.stack([item[key] for item in items]) for key in ("images", "actions", "observed"))
    return model_input(images), actions, observed, g, torch.from_numpy(perm)


def policy_losses(policy: FlowMatchingPolicy, frames, actions, observed, perm) -> dict[str, float]:
    out = {}
    for name, f in (("own_frame", frames), ("same_game_frame", frames[perm]), ("grey_frame", torch.zeros_like(frames))):
        losses = []
        for k in range(LOSS_DRAWS):
            torch.manual_seed(k)
            with torch.no_grad():
                losses.append(float(policy.loss({"frames": f, "actions": actions, "observed": observed})))
        out[name] = round(float(np.mean(losses)), 4)
    return out


def cnn_encoder(image_size: int, width: int = 256, channels: int = 3) -> nn.Module:
    side = -(-image_size // 16)  # four stride-2 convolutions
    return nn.Sequential(
        nn.Conv2d(channels, 32, 5, 2, 2), nn.GELU(), nn.Conv2d(32, 64, 3, 2, 1), nn.GELU(), nn.Conv2d(64, 128, 3, 2, 1), nn.GELU(),
        nn.Conv2d(128, 128, 3, 2, 1), nn.GELU(), nn.Flatten(), nn.Linear(128 * side * side, width), nn.GELU(),
    )  # fmt: skip


def vit_encoder(policy: FlowMatchingPolicy) -> nn.Module:
    class PooledContext(nn.Module):
        def __init__(self):
            super().__init__()
            self.vision, self.proj, self.mixer, self.norm = policy.vision, policy.vision_proj, policy.mixer, policy.mixer_norm

        def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) → (B, Wm)
            x = self.proj(self.vision(frames))
            for block in self.mixer:
                x = block(x)
            return self.norm(x).mean(1)

    return PooledContext()


def masked_se(pred: torch.Tensor, target: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Mean squared error over observed cells; pred, target (B, H, D), observed (B, D)."""
    seen = observed[:, None, :].expand_as(target).float()
    return ((pred - target) ** 2 * seen).sum() / seen.sum().clamp(min=1)


def regress(cfg: TrainConfig, data: ChunkDataModule, games: dict[str, np.ndarray], encoder_kind: str, steps: int,
            chunks: int, seed: int = 0, previous: int = 0, starts: dict[str, np.ndarray] | None = None) -> dict:
    torch.manual_seed(seed)
    pcfg = cfg.policy_config()
    sets = {"train": data.train_set, "val": data.val_set}
    out: dict = {"encoder": encoder_kind, "steps": steps, "previous": previous, "splits": {}}
    if previous:
        if encoder_kind != "cnn" or starts is None:
            raise ValueError("--previous needs --regress cnn")
        all_refs = np.concatenate([data.train_set.refs, data.val_set.refs])
        all_starts = np.concatenate([starts["train"], starts["val"]])
        sets = {split: WithPrevious(ds, starts[split], previous, all_refs, all_starts) for split, ds in sets.items()}
        out["previous_missing"] = {split: ds.missing for split, ds in sets.items()}
    if encoder_kind == "cnn":
        encoder, width = cnn_encoder(pcfg.image_size, channels=6 if previous else 3), 256
    else:
        encoder, width = vit_encoder(FlowMatchingPolicy(pcfg)), pcfg.mixer_width
    head = nn.Linear(width, pcfg.action_horizon * ACTION_DIM)
    model = nn.Sequential(encoder, head)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    loader = torch.utils.data.DataLoader(sets["train"], batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))  # fmt: skip
    step = 0
    model.train()
    while step < steps:
        for batch in loader:
            target = to_model(pcfg.action_layout, batch["actions"])
            pred = model(augment_alike(model_input(batch["images"]), cfg.augmentation, seed * 100_003 + step)).view_as(target)
            loss = masked_se(pred, target, batch["observed"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step >= steps:
                break
    model.eval()
    train_targets = to_model(pcfg.action_layout, torch.from_numpy(data.train_set.actions))
    game_mean = {g: train_targets[torch.from_numpy(games["train"] == g)].mean(0) for g in set(games["train"])}
    rng = np.random.default_rng(seed)
    for split, ds in sets.items():
        frames, actions, observed, g, perm = draw(ds, games[split], chunks, rng)
        target = to_model(pcfg.action_layout, actions)
        with torch.no_grad():
            preds = {"own_frame": model(frames).view_as(target), "same_game_frame": model(frames[perm]).view_as(target),
                     "game_mean": torch.stack([game_mean[x] for x in g])}  # fmt: skip
        row: dict = {name: round(float(masked_se(p, target, observed)), 4) for name, p in preds.items()}
        row["first_4"] = {name: round(float(masked_se(p[:, :4], target[:, :4], observed)), 4) for name, p in preds.items()}
        row["dims"] = []
        for game in sorted(set(g)):
            rows = torch.from_numpy(g == game)
            for dim in range(ACTION_DIM):
                seen = observed[rows][:, dim]
                if int(seen.sum()) < 10 or float(target[rows][..., dim].var()) < 1e-4:
                    continue
                err = {name: round(float((((p[rows][..., dim] - target[rows][..., dim]) ** 2).mean(1) * seen).sum() / seen.sum()), 4)
                       for name, p in preds.items()}  # fmt: skip
                row["dims"].append({"game": game, "dim": dim, **err})
        out["splits"][split] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=Path("data/train/policy"))
    parser.add_argument("--regress", choices=("vit", "cnn"), default=None)
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--chunks", type=int, default=None, help="chunks scored per split (512 for the policy, 768 for --regress)")
    parser.add_argument("--previous", type=int, default=0, help="--regress cnn: also the frame this many frames earlier")
    parser.add_argument("--no-augment", action="store_true", help="--regress: train on unjittered frames")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cfg, data, games, starts = load_data(Path("."))
    if args.no_augment:
        cfg = replace(cfg, augmentation=Augmentation(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, rotation_deg=0.0, crop_scale=1.0))
    if args.regress:
        result = regress(cfg, data, games, args.regress, args.steps, args.chunks or 768, previous=args.previous, starts=starts)
    else:
        if not (args.policy / "policy_config.json").is_file():
            raise SystemExit(f"{args.policy}: no trained policy there (policy_config.json missing)")
        policy = load_policy(args.policy).eval()
        rng = np.random.default_rng(0)
        result = {"policy": str(args.policy), "splits": {}}
        for split, ds in (("train", data.train_set), ("val", data.val_set)):
            frames, actions, observed, _, perm = draw(ds, games[split], args.chunks or 512, rng)
            result["splits"][split] = policy_losses(policy, frames, actions, observed, perm)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for split, row in result["splits"].items():
        print(split, {k: v for k, v in row.items() if k != "dims"})
        for d in row.get("dims", []):
            print("   ", d)
    if "previous_missing" in result:
        print("chunks whose earlier frame is not in the cache (own frame used):", result["previous_missing"])


if __name__ == "__main__":
    main()
